"""Where one browser's CPU goes in a warm step, one session on the app: the CPU seconds of each kind of Chromium
process (renderer, GPU, browser) and of the server per step, and the page script's own time by function (DevTools'
sampling profiler) for a like. The first walk warms the server and the page up and is not reported.

    python bench/browser_profile.py [--walks 3] [--no-animations] [--no-profiler]   # needs Chromium and playwright

`--no-animations` adds a style sheet that switches every CSS animation and transition off. `--no-profiler` leaves
the sampling profiler off: it costs the page CPU of its own, so the CPU seconds are then the step's alone.
"""
import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from recsys import loadtest as lt  # noqa: E402
from recsys.catalog import example_histories  # noqa: E402
from recsys.ui.serve import CHROMIUM_FLAGS, chromium_path, running_app  # noqa: E402

NO_ANIMATIONS = ("document.addEventListener('DOMContentLoaded', () => { const s = document.createElement('style');"
                 " s.textContent = '*, *::before, *::after { animation: none !important;"
                 " transition: none !important; }';"
                 " document.head.appendChild(s); });")


def cpu_by_kind() -> dict[int, tuple[str, float]]:
    out = {}
    for p in psutil.Process().children(recursive=True):
        try:
            cmd, t = " ".join(p.cmdline()), p.cpu_times()
        except psutil.Error:
            continue
        m = re.search(r"--type=([\w-]+)", cmd)
        kind = "server" if "streamlit" in cmd else ("chromium " + (m.group(1) if m else "browser")) if "chrom" in cmd \
            else p.name()
        out[p.pid] = (kind, t.user + t.system)
    return out


def used(before: dict, after: dict) -> dict[str, float]:
    c = Counter()
    for pid, (kind, seconds) in after.items():
        c[kind] += seconds - before.get(pid, (kind, 0.0))[1]
    return {k: round(v, 2) for k, v in sorted(c.items()) if v >= 0.005}


def script_time(profile: dict, top: int = 12) -> list[str]:
    nodes = {n["id"]: n["callFrame"] for n in profile["nodes"]}
    spent = Counter()
    for sample, dt in zip(profile["samples"], profile["timeDeltas"][1:] + [0]):
        f = nodes[sample]
        spent[(f["functionName"] or "(anonymous)", f["url"].rsplit("/", 1)[-1])] += dt / 1e6
    lines = [f"    page script {sum(spent.values()):.2f} s, of it idle {spent[('(idle)', '')]:.2f} s; by function:"]
    return lines + [f"    {s:6.3f} s  {name[:40]:<40} {url[:40]}" for (name, url), s in spent.most_common(top)]


async def main(walks: int, no_animations: bool, profiler: bool = True) -> None:
    from playwright.async_api import async_playwright

    plan = lt.Plan(sessions=1, examples=1)
    folder = Path(tempfile.mkdtemp(prefix="recsys-browser-profile-"))
    db, _ = lt.prepare_database(plan, folder, print)
    example = example_histories(lt.DATASET)[0]
    size = len(example["history"])
    likes = []
    with running_app(db, timeout=180) as url:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            run = lt._Run(plan, url, time.monotonic() + 1800, folder)
            for walk in range(walks + 1):
                w = lt._Walker(run, lt.Session(walk, f"profile-{walk}"),
                               await browser.new_context(viewport={"width": 1280, "height": 900}))
                await w.context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), w.external)
                w.page = page = await w.context.new_page()
                await page.add_init_script(lt.WATCH_JS)
                if no_animations:
                    await page.add_init_script(NO_ANIMATIONS)
                cdp = await w.context.new_cdp_session(page)
                await cdp.send("Profiler.enable")
                await cdp.send("Profiler.setSamplingInterval", {"interval": 250})
                w.s.names.append(w.s.name)
                await w.step("open", lambda: page.goto(f"{url}/?dataset={lt.DATASET}&rater={w.s.name}"),
                             texts=["Your history"], after_run=False)

                async def step(name, action, **kw):
                    before = cpu_by_kind()
                    if profiler:
                        await cdp.send("Profiler.start")
                    seconds = await w.step(name, action, **kw)
                    profile = (await cdp.send("Profiler.stop"))["profile"] if profiler else None
                    cpu = used(before, cpu_by_kind())
                    if walk:
                        print(f"walk {walk} {name:<8} {seconds:5.2f} s  CPU-s {cpu}")
                        if name == "like":
                            likes.append(cpu.get("chromium renderer", 0.0))
                            if profile:
                                print("\n".join(script_time(profile)))

                async def pick():
                    await page.get_by_placeholder("Choose a named history…").click()
                    await page.get_by_role("option", name=example["name"], exact=True).click()

                await step("example", pick, texts=[f"Liked, oldest first ({size})", "pairs newly scored"], charts=True)
                top = (await w.ranked_ids())[0]
                await step("like", lambda: page.locator(f".st-key-rec_like_{top} button").first.click(),
                           texts=[f"Liked, oldest first ({size + 1})"], gone=[f".st-key-rec_like_{top}"], charts=True)
                other = (await w.ranked_ids())[0]
                await step("dislike", lambda: page.locator(f".st-key-rec_dislike_{other} button").first.click(),
                           gone=[f".st-key-rec_like_{other}"], charts=True)
                if walk:
                    count = await page.evaluate("() => document.querySelectorAll('*').length")
                    print(f"walk {walk}: {count} elements in the page")
                await w.context.close()
            await browser.close()
    print(f"a like's renderer CPU-s over {len(likes)} walks{' (no animations)' if no_animations else ''}: "
          f"{min(likes):.2f}-{max(likes):.2f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--walks", type=int, default=3)
    p.add_argument("--no-animations", action="store_true")
    p.add_argument("--no-profiler", action="store_true")
    args = p.parse_args()
    asyncio.run(main(args.walks, args.no_animations, profiler=not args.no_profiler))
