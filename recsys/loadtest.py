"""A load test of the app with real browsers: one Streamlit server on 127.0.0.1 with its own copy of the demo
database, N Chromium sessions (Playwright) each walking the app at the same time, per-step latencies (median,
p95), every error any page showed, and afterwards a reconciliation of the database against what each session did.

The walk of one session (its reviewer name `load-<run>-s<k>` is on every record it makes):

    open      the Recommend page (`?dataset=movies&rater=…`)
    example   pick a named example history: recommendations appear (its pairs precomputed: warm)
    like      like the top recommendation: it joins the history, the list is re-ranked (row precomputed: warm)
    dislike   dislike the new top one: re-ranked without it (same candidates: warm)
    rerank    press Recommend: fresh candidates for the longer history (new pairs on a fresh database: cold)
    review    open the Review page on the same example, blind A/B of two configurations
    label     label three items of list A relevant (three steps, each saved at once)
    judge     choose list A in the blind comparison
    reload    reload the Review page: the labels and the choice are read back from the database

A step's latency is the time from the action (click, navigation) to its result being visible: the app's script
has finished the run the action started and the step's own sign is on the page. `--kill-one` adds one session
that is closed abruptly (its browser context, while the server is ranking for it) during its re-rank: what it
saved before must be there once, nothing half-written, and the other sessions must finish without an error.

Pure parts (`percentile`, `summarise`, `reconcile`) are tested without a browser; `run()` needs Chromium and the
`playwright` package. No Streamlit import (the app runs in a child process).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import LoadTestError
from .ui import runlog

DATASET = "movies"
MAX_SESSIONS = 32
MAX_WALKS = 20
STEPS = ("open", "example", "like", "dislike", "rerank", "review", "label", "judge", "reload")
WARM_STEPS = ("example", "like", "dislike")  # recommendations whose pairs the database holds: the 2 s target
WARM_TARGET_S = 2.0
LABELS_PER_WALK = 3
AB_PAIR = ("LM + prior + similarity (default)", "Embeddings + prior (no LM)")
AB_PAIR_NO_LM = ("Embeddings + prior (no LM)", "Popularity only")
RELEVANT = "✓ relevant"
# what fails a run: an exception box, an st.error box, an uncaught script error in the page, a crash. Console and
# HTTP errors are listed too (and in docs/load.md), not failing it.
EXCEPTIONS = ("exception", "st.error", "pageerror", "crash")


# -- pure parts -------------------------------------------------------------------------------------------------
def percentile(values: Iterable[float], q: float) -> float:
    """numpy's percentile (q in 0-100), NaN for no values."""
    xs = [float(v) for v in values]
    return float(np.percentile(xs, q)) if xs else float("nan")


def summarise(timings: dict[str, list[float]], order: Iterable[str] = STEPS) -> list[dict]:
    """A row per step that has timings: n, median, p95 and max seconds."""
    rows = []
    for step in [*order, *sorted(set(timings) - set(order))]:
        values = timings.get(step) or []
        if values:
            rows.append({"step": step, "n": len(values), "median_s": round(percentile(values, 50), 3),
                         "p95_s": round(percentile(values, 95), 3), "max_s": round(max(values), 3)})
    return rows


def class_key(text: str) -> str:
    """How Streamlit writes a widget key into its `st-key-…` class (the pages' item ids appear this way)."""
    return re.sub(r"[^a-zA-Z0-9_-]", "-", text.strip())


def reconcile(expected: Iterable[tuple], found: Iterable[tuple], maybe: Iterable[tuple] = (),
              owners: Iterable[str] = ()) -> dict:
    """Compare the records the sessions made (`expected`, each key once per action) with those read back
    (`found`). A key in `maybe` (an action cut off by a killed session) may be there once or not at all.
    `owners`: the reviewer names of this run; a found record of theirs that nobody made is `unexpected`.
    Keys are tuples (kind, owner, …)."""
    want, got, maybe = Counter(expected), Counter(found), Counter(maybe)
    lost = duplicated = unexpected = 0
    details: list[str] = []
    for key in set(want) | set(got) | set(maybe):
        w, g, m = want[key], got[key], maybe[key]
        if g < w:
            lost += w - g
            details.append(f"lost {w - g}: {key}")
        elif g > w + m:
            if w + m == 0:
                unexpected += g
                details.append(f"unexpected {g}: {key}")
            else:
                duplicated += g - (w + m)
                details.append(f"duplicated {g - (w + m)}: {key}")
    kinds = sorted({k[0] for k in [*want, *got, *maybe]})
    by_kind = {kind: {"expected": sum(v for k, v in want.items() if k[0] == kind),
                      "found": sum(v for k, v in got.items() if k[0] == kind),
                      "cut_off": sum(v for k, v in maybe.items() if k[0] == kind)} for kind in kinds}
    owners = set(owners)
    foreign = [k for k in got if owners and k[1] not in owners]
    return {"lost": lost, "duplicated": duplicated, "unexpected": unexpected, "by_kind": by_kind,
            "details": sorted(details)[:50], "foreign": len(foreign)}


def records_in(db, owners: Iterable[str]) -> tuple[list[tuple], list[str]]:
    """The records of these reviewers in the app's database, as reconciliation keys, and the problems of any
    half-written one (a missing field, a value the app never writes, feedback without its session)."""
    from .store import CHOICES, FEEDBACK, LABELS, Store

    store, owners = Store(db), list(owners)
    keys, problems = [], []
    for name in owners:
        for r in store.labels(rater=name):
            if r["label"] not in LABELS or not r["item_id"] or not r["scenario"] or not r["created"]:
                problems.append(f"half-written label: {r}")
            keys.append(("label", name, r["scenario"], class_key(r["item_id"]), r["label"]))
        for j in store.judgements(rater=name):
            if j["choice"] not in CHOICES or j["shown_as_a"] not in ("x", "y") or not (j["x_key"] and j["y_key"]):
                problems.append(f"half-written judgement: {j}")
            shown = "tie" if j["choice"] == "tie" else ("A" if j["choice"] == j["shown_as_a"] else "B")
            keys.append(("judgement", name, j["scenario"], shown))
    marks = ",".join("?" * len(owners))
    if owners:
        for r in db.query(f"SELECT f.*, s.user AS owner FROM feedback f JOIN sessions s ON s.id = f.session_id "
                          f"WHERE s.user IN ({marks})", owners):
            if r["value"] not in FEEDBACK or not r["item_id"] or not r["created"] or not r["settings"]:
                problems.append(f"half-written feedback: {dict(r)}")
            keys.append(("feedback", r["owner"], class_key(r["item_id"]), r["value"]))
    orphans = db.execute("SELECT COUNT(*) FROM feedback WHERE session_id NOT IN (SELECT id FROM sessions)").fetchone()[0]
    if orphans:
        problems.append(f"{orphans} feedback record(s) without their session")
    check = db.execute("PRAGMA integrity_check").fetchone()[0]
    if check != "ok":
        problems.append(f"integrity_check: {check}")
    return keys, problems


# -- the plan and what a session saw ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    sessions: int = 8
    walks: int = 1
    timeout: float = 900.0  # the whole run (server start, database copy, walks), seconds
    kill_one: bool = False
    port: int | None = None
    db_from: Path | None = None  # a database prepared by `python -m recsys demo` to copy; else one is built
    examples: int = 4  # distinct example histories the sessions spread over (of the movie catalog's 4)
    no_lm: bool = False  # walk without the language model (alpha = 0, A/B of two no-LM configurations)
    step_timeout: float = 300.0
    headed: bool = False
    # the browsers (and this process) at the lowest CPU priority, the server at its own: the server's part of a step
    # as if the browsers ran on other machines (they then wait for the cores, so their latencies grow)
    nice_browsers: bool = False
    log: Path | None = None  # the server's log

    def check(self) -> None:
        if not isinstance(self.sessions, int) or not 1 <= self.sessions <= MAX_SESSIONS:
            raise LoadTestError(f"--sessions must be between 1 and {MAX_SESSIONS}, not {self.sessions}")
        if not 1 <= self.walks <= MAX_WALKS:
            raise LoadTestError(f"--walks must be between 1 and {MAX_WALKS}, not {self.walks}")
        if not 10 <= self.timeout <= 24 * 3600:
            raise LoadTestError(f"--timeout must be between 10 s and a day, not {self.timeout:g} s")
        if not 1 <= self.examples <= 4:
            raise LoadTestError(f"--examples must be between 1 and 4, not {self.examples}")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise LoadTestError(f"--port must be between 1 and 65535, not {self.port}")
        if self.db_from is not None and not Path(self.db_from).is_file():
            raise LoadTestError(f"--db-from {self.db_from}: no such database file")


@dataclass
class Session:
    index: int
    name: str
    killed: bool = False
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    engine: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # the app's own seconds
    pairs: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # pairs newly scored
    # CPU seconds the server and all browsers used during the step: with one session, the step's own cost
    server_cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    browsers_cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # (reviewer name, wall-clock start, end) of each step: the server's runs in it are read from its run log
    windows: dict[str, list[tuple[str, float, float]]] = field(default_factory=lambda: defaultdict(list))
    server_run: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # the server's seconds
    records: list[tuple] = field(default_factory=list)  # confirmed on the page
    cut_off: list[tuple] = field(default_factory=list)  # started, then the session was killed
    errors: list[dict] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # reviewer names used (a fresh one per walk)
    external: Counter = field(default_factory=Counter)  # refused requests off the loopback, by host
    probes: int = 0  # Streamlit's base-path probes answered 404 (see _Walker.watch)
    aborted: int = 0  # requests to the app the browser cut off when the walk navigated on
    waits_seen: int = 0  # runs during which the page said it was waiting for the model
    dom_missed: int = 0  # steps whose run the DOM's script state never showed (the WebSocket's count caught it)
    snapshots: list[str] = field(default_factory=list)  # screenshot and text of each failed step
    walks_done: int = 0
    failure: str = ""
    killed_at: str = ""


# -- the browser side ---------------------------------------------------------------------------------------------
# Whether a WebSocket frame from the server (a ForwardMsg, protobuf) says a run finished: its top-level field 6
# (script_finished) is 0 (finished) or 3 (a fragment finished); 2, stopped early for a rerun, is no finished run.
# React may render a quick run's start and end in one commit (a busy browser), so the DOM's script state alone
# can miss a whole run; the server's message cannot be missed.
FINISHED_JS = """(buf) => {
  const b = new Uint8Array(buf);
  const varint = (i) => { let v = 0, m = 1, c; do { c = b[i++]; v += (c & 127) * m; m *= 128; } while (c & 128); return [v, i]; };
  for (let i = 0; i < b.length;) {
    let key, v; [key, i] = varint(i);
    const wire = key & 7, num = Math.floor(key / 8);
    if (wire === 0) { [v, i] = varint(i); if (num === 6) return v === 0 || v === 3; }
    else if (wire === 2) { [v, i] = varint(i); i += v; }
    else if (wire === 1) i += 8; else if (wire === 5) i += 4; else return false;
  }
  return false;
}"""
WATCH_JS = """
(() => {
  const lt = window.__lt = {runs: 0, finished: 0, finishedAt: 0, waits: 0, state: null};
  let waiting = false;
  const finished = """ + FINISHED_JS + """;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        try {
          if (e.data instanceof ArrayBuffer && finished(e.data)) { lt.finished++; lt.finishedAt = performance.now(); }
        } catch (err) {}
      });
    }
  };
  const sync = () => {  // count each run the app finishes (its root's script state leaving 'running')
    const app = document.querySelector('[data-testid="stApp"]');
    const s = app ? app.getAttribute('data-test-script-state') : null;
    if (s === lt.state) return;
    if (lt.state === 'running') lt.runs++;
    lt.state = s;
  };
  new MutationObserver(sync).observe(document, {subtree: true, attributes: true,
                                                attributeFilter: ['data-test-script-state']});
  setInterval(() => {
    sync();  // also catches a root element that was replaced
    if (lt.state !== 'running') { waiting = false; return; }
    const seen = [...document.querySelectorAll('[data-testid="stExpander"] summary')]
      .some(e => /waiting for the model/i.test(e.textContent));
    if (seen && !waiting) lt.waits++;
    waiting = seen;
  }, 100);
})();
"""
SETTLE_MS = 500
DONE_JS = """([[runs, finished], texts, gone, charts]) => {
  const lt = window.__lt, app = document.querySelector('[data-testid="stApp"]');
  if (!lt || !app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (lt.runs <= runs) {  // the DOM never showed a run since the action: has the server announced one?
    if (lt.finished <= finished) return false;
    // the message arrives before the page has applied the run's last changes: give it SETTLE_MS to do so
    if (performance.now() - lt.finishedAt < SETTLE_MS) return false;
  }
  const body = document.body.innerText;
  if (!texts.every(t => body.includes(t)) || !gone.every(s => !document.querySelector(s))) return false;
  if (!charts) return true;  // a ranked list: its chart drawn too (only what is open is built: the first "why")
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return plots.length > 0 && plots.every(p => p.querySelector('.main-svg'));
}""".replace("SETTLE_MS", str(SETTLE_MS))
ERRORS_JS = """() => [
  ...[...document.querySelectorAll('[data-testid="stException"]')].map(e => ['exception', e.innerText]),
  ...[...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => ['st.error', e.innerText]),
]"""
HEADER = re.compile(r"([\d.]+) s · (\d+) candidates \([^)]*\) · (\d+) pairs newly scored")
HEADER_JS = """() => [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
  .map(e => e.innerText).find(t => t.includes('pairs newly scored')) || ''"""
IDS_JS = "(els, prefix) => els.map(e => [...e.classList].find(c => c.startsWith(prefix)).slice(prefix.length))"


class _Walker:
    """One session's walks in its own browser context."""

    def __init__(self, run: _Run, session: Session, context):
        self.run, self.s, self.context = run, session, context
        self.page = None
        self.seen_errors: set[tuple] = set()

    async def runs(self) -> list[int]:
        """Runs finished so far, as [seen in the DOM's script state, announced on the WebSocket]."""
        return await self.page.evaluate("() => { const lt = window.__lt || {runs: 0, finished: 0};"
                                        " return [lt.runs, lt.finished]; }")

    async def step(self, name: str, action, texts=(), gone=(), after_run: bool = True,
                   charts: bool = False) -> float:
        """Do `action`, wait until its result is visible, record the seconds; errors on the page are collected.
        On a failure the page's screenshot and text are kept (see `snapshot`)."""
        before = await self.runs() if after_run else [-1, -1]
        cpu, start, wall = cpu_snapshot(), time.perf_counter(), time.time()
        try:
            await action()
            await self.page.wait_for_function(DONE_JS, arg=[before, list(texts), list(gone), charts], polling=100,
                                              timeout=self.run.step_timeout_ms())
        except Exception as e:
            if isinstance(e, LoadTestError):
                raise
            await self.collect_errors(name)
            await self.snapshot(name, before, texts, f"{type(e).__name__}: {e}")
            raise LoadTestError(f"step {name!r} (walk {len(self.s.names)}): {type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''}") from None
        seconds = time.perf_counter() - start
        used = cpu_used(cpu, cpu_snapshot())
        self.s.timings[name].append(seconds)
        self.s.server_cpu[name].append(used["server"])
        self.s.browsers_cpu[name].append(used["browsers"])
        if self.s.names:
            self.s.windows[name].append((self.s.names[-1], wall, time.time()))
        if after_run:
            after = await self.runs()
            if after[0] <= before[0]:  # the run finished, the DOM never showed it running
                self.s.dom_missed += 1
        await self.collect_errors(name)
        return seconds

    async def snapshot(self, step: str, before, texts, error: str) -> None:
        """What the page showed when a step failed: a screenshot, and a text file with the page's visible text,
        its script state, the run counters before the action and now, and the texts the step waited for."""
        folder = self.run.failures_dir()
        stem = folder / f"{self.s.name}-walk{len(self.s.names)}-{step}-{len(self.s.timings[step]) + 1}"
        kept = []
        try:
            await self.page.screenshot(path=f"{stem}.png", full_page=True, timeout=30_000)
            kept.append(f"{stem}.png")
        except Exception as e:  # a page that went away: the text file says so
            error += f"\n(no screenshot: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        try:
            state = await self.page.evaluate(
                "() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
                " return [app ? app.getAttribute('data-test-script-state') : null, window.__lt || null,"
                " document.body ? document.body.innerText : '']; }")
        except Exception as e:
            state = [None, None, f"(page text unavailable: {type(e).__name__})"]
        Path(f"{stem}.txt").write_text(
            f"session {self.s.name}, step {step!r}, url {self.page.url}\nerror: {error}\n"
            f"waited for the texts {list(texts)}; runs before the action [dom, socket]: {before}\n"
            f"script state now: {state[0]}; counters now: {json.dumps(state[1])}\n\n--- the page's text ---\n"
            f"{state[2]}\n", encoding="utf-8")
        kept.append(f"{stem}.txt")
        self.s.snapshots += kept

    async def collect_errors(self, step: str) -> None:
        for kind, text in await self.page.evaluate(ERRORS_JS):
            if (kind, text) not in self.seen_errors:
                self.seen_errors.add((kind, text))
                self.s.errors.append({"kind": kind, "step": step, "text": text[:500]})

    def watch(self, page) -> None:
        def console(m) -> None:
            # a failed load is reported below with its address (the console's line has none)
            if m.type == "error" and not m.text.startswith("Failed to load resource"):
                self.s.errors.append({"kind": "console", "step": "", "text": m.text[:500]})

        def response(r) -> None:
            # Streamlit's frontend, opened on a page's path (/review), first asks that path for its server
            # (/review/_stcore/health, …/host-config) and falls back to the root on the 404: not an error
            if r.status == 404 and re.search(r"/[^/]+/_stcore/(health|host-config)$", r.url.split("?")[0]):
                self.s.probes += 1
                return
            if r.status >= 400:
                self.s.errors.append({"kind": "http", "step": "", "text": f"{r.status} {r.url}"[:500]})

        page.on("console", console)
        page.on("response", response)
        def failed(r) -> None:
            if not r.url.startswith(self.run.url):
                return  # refused off the loopback: counted in `external`
            if r.failure == "net::ERR_ABORTED":  # cut off by the walk's own next navigation (e.g. a CSV export)
                self.s.aborted += 1
                return
            self.s.errors.append({"kind": "request", "step": "", "text": f"{r.failure} {r.url}"[:500]})

        page.on("requestfailed", failed)
        page.on("pageerror", lambda e: self.s.errors.append({"kind": "pageerror", "step": "", "text": str(e)[:500]}))
        page.on("crash", lambda p: self.s.errors.append({"kind": "crash", "step": "", "text": "the page crashed"}))

    async def external(self, route) -> None:
        """Loopback only: a request elsewhere (Streamlit's icon font from Google) is refused and counted."""
        self.s.external[route.request.url.split("/")[2]] += 1
        await route.abort()

    async def engine(self, step: str) -> None:
        """The seconds and newly scored pairs the app itself reports for the list just shown."""
        m = HEADER.search(await self.page.evaluate(HEADER_JS))
        if m:
            self.s.engine[step].append(float(m.group(1)))
            self.s.pairs[step].append(int(m.group(3)))

    async def ranked_ids(self) -> list[str]:
        prefix = "st-key-rec_like_"
        return await self.page.locator(f"[class*='{prefix}']").evaluate_all(IDS_JS, prefix)

    async def walk(self, w: int, kill_after_click=None) -> None:
        from .catalog import example_histories
        from .ui import scenarios

        run, s, page = self.run, self.s, self.page
        n = (s.index + w) % run.plan.examples
        example = example_histories(DATASET)[n]
        self.seen_errors.clear()
        name = s.name if w == 0 else f"{s.name}.{w}"  # a fresh reviewer per walk: a walk never undoes another's
        s.names.append(name)
        link = f"{run.url}/?dataset={DATASET}&rater={name}" + ("&alpha=0" if run.plan.no_lm else "")
        await self.step("open", lambda: page.goto(link), texts=["Your history"], after_run=False)
        await page.locator(".st-key-rec_example input").wait_for()

        async def pick():
            await page.get_by_placeholder("Choose a named history…").click()
            await page.get_by_role("option", name=example["name"], exact=True).click()

        size = len(example["history"])
        await self.step("example", pick, texts=[f"Liked, oldest first ({size})", "pairs newly scored"], charts=True)
        await self.engine("example")
        top = (await self.ranked_ids())[0]
        like = ("feedback", name, top, "like")
        s.cut_off.append(like)
        await self.step("like", lambda: page.locator(f".st-key-rec_like_{top} button").first.click(),
                        texts=[f"Liked, oldest first ({size + 1})"], gone=[f".st-key-rec_like_{top}"], charts=True)
        s.records.append(s.cut_off.pop())
        await self.engine("like")
        other = (await self.ranked_ids())[0]
        dislike = ("feedback", name, other, "dislike")
        s.cut_off.append(dislike)
        await self.step("dislike", lambda: page.locator(f".st-key-rec_dislike_{other} button").first.click(),
                        gone=[f".st-key-rec_like_{other}"], charts=True)
        s.records.append(s.cut_off.pop())
        await self.engine("dislike")
        if kill_after_click is not None:  # the killed session: close it while the server ranks for it
            await page.locator(".st-key-rec_run_button button").click()
            await kill_after_click()
            return
        await self.step("rerank", lambda: page.locator(".st-key-rec_run_button button").click(),
                        texts=["pairs newly scored"], charts=True)
        await self.engine("rerank")

        scenario = f"example:{DATASET}:{n}"
        pair = AB_PAIR_NO_LM if run.plan.no_lm else AB_PAIR
        review = f"{run.url}/review?rater={name}&scenario={scenario}&ab={scenarios.pair_token(*pair)}"
        await self.step("review", lambda: page.goto(review), texts=["Which list is better for this history?"],
                        after_run=False)
        prefix = f"st-key-rev_label_A_{class_key(scenario)}_"
        items = await page.locator(f"[class*='{prefix}']").evaluate_all(IDS_JS, prefix)
        for k, item in enumerate(items[:LABELS_PER_WALK]):
            key = ("label", name, scenario, item, "relevant")
            s.cut_off.append(key)
            box = page.locator(f".{prefix}{item}")
            await self.step("label", lambda: box.get_by_role("radio", name=RELEVANT, exact=True).click(),
                            texts=[f"You labelled {k + 1} of"])
            s.records.append(s.cut_off.pop())
        choice = page.locator("[class*='st-key-rev_choice_'] [role='radiogroup']")
        s.cut_off.append(("judgement", name, scenario, "A"))
        await self.step("judge", lambda: choice.get_by_role("radio", name="A", exact=True).click(),
                        texts=["Choice saved."])
        s.records.append(s.cut_off.pop())
        await self.step("reload", lambda: page.reload(), after_run=False,
                        texts=["Choice saved.", f"You labelled {min(len(items), LABELS_PER_WALK)} of"])
        s.walks_done += 1


def failures_folder(plan: Plan, run_id: str) -> Path:
    """Where the screenshots and texts of failed steps go: beside --log's file, else in the temp folder."""
    parent = Path(plan.log).parent if plan.log is not None else Path(tempfile.gettempdir())
    return parent / f"recsys-loadtest-{run_id}-failures"


class _Run:
    def __init__(self, plan: Plan, url: str, deadline: float, failures: Path | None = None):
        self.plan, self.url, self.deadline = plan, url, deadline
        self.failures = failures or Path(tempfile.gettempdir()) / f"recsys-loadtest-{uuid.uuid4().hex[:6]}-failures"

    def failures_dir(self) -> Path:
        self.failures.mkdir(parents=True, exist_ok=True)
        return self.failures

    def step_timeout_ms(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 1:
            raise LoadTestError(f"the load test ran past --timeout {self.plan.timeout:g} s")
        return 1000 * min(self.plan.step_timeout, left)


async def _browse(plan: Plan, url: str, deadline: float, sessions: list[Session],
                  failures: Path | None = None) -> dict:
    from playwright.async_api import async_playwright

    from .ui.serve import CHROMIUM_FLAGS, chromium_path

    run = _Run(plan, url, deadline, failures)
    out: dict = {}
    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS,
                                               headless=not plan.headed)
        except Exception as e:
            raise LoadTestError(f"Chromium did not start ({chromium_path()}): {str(e).splitlines()[0]}") from None
        try:
            # warm-up, not measured: the first request loads the models into the server process
            start = time.perf_counter()
            warm = _Walker(run, Session(-1, f"load-warmup-{uuid.uuid4().hex[:6]}"), await browser.new_context())
            warm.page = await warm.context.new_page()
            await warm.page.add_init_script(WATCH_JS)
            await warm.step("open", lambda: warm.page.goto(
                f"{url}/?dataset={DATASET}" + ("&alpha=0" if plan.no_lm else "")), texts=["Your history"],
                after_run=False)
            await warm.page.get_by_placeholder("Choose a named history…").click()
            from .catalog import example_histories
            await warm.step("example", lambda: warm.page.get_by_role(
                "option", name=example_histories(DATASET)[0]["name"], exact=True).click(),
                texts=["pairs newly scored"])
            await warm.context.close()
            out["warmup_s"] = round(time.perf_counter() - start, 2)

            walkers: list[_Walker] = []
            for s in sessions:
                w = _Walker(run, s, await browser.new_context(viewport={"width": 1280, "height": 900}))
                await w.context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), w.external)
                w.page = await w.context.new_page()
                await w.page.add_init_script(WATCH_JS)
                w.watch(w.page)
                walkers.append(w)

            async def one(w: _Walker) -> None:
                try:
                    for k in range(plan.walks):
                        if w.s.killed:
                            async def kill():
                                await asyncio.sleep(1.0)
                                w.s.killed_at = "rerank (1 s after the click, the server ranking for it)"
                                await w.context.close()
                            await w.walk(k, kill_after_click=kill)
                            return
                        await w.walk(k)
                except LoadTestError as e:
                    w.s.failure = str(e)
                except Exception as e:  # a step that never became visible, a page that went away
                    w.s.failure = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
                finally:
                    if w.page is not None and not w.s.killed:
                        try:
                            w.s.waits_seen += await w.page.evaluate("() => (window.__lt || {waits: 0}).waits")
                        except Exception:
                            pass

            start, cpu = time.perf_counter(), cpu_snapshot()
            await asyncio.gather(*(one(w) for w in walkers))
            out["walks_s"] = round(time.perf_counter() - start, 2)
            out["walks_cpu_s"] = {k: round(v, 1) for k, v in cpu_used(cpu, cpu_snapshot()).items()}

            # the server still serves: a fresh session opens the Recommend page
            start = time.perf_counter()
            try:
                after = await browser.new_context()
                page = await after.new_page()
                await page.goto(f"{url}/?dataset={DATASET}")
                await page.get_by_text("Your history").wait_for(timeout=run.step_timeout_ms())
                out["fresh_page_after_s"] = round(time.perf_counter() - start, 2)
                await after.close()
            except Exception as e:
                out["fresh_page_after_error"] = f"{type(e).__name__}: {str(e).splitlines()[0]}"[:300]
            for w in walkers:
                if not w.s.killed:
                    await w.context.close()
        finally:
            await browser.close()
    return out


def cpu_snapshot() -> dict[int, tuple[str, float]]:
    """CPU seconds used so far by each process of this run: its app server and its browsers (Chromium and
    Playwright's driver). On one machine they share the cores, so the split says how much of a step's time is the
    app's own work."""
    import psutil

    out = {}
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
            out[p.pid] = ("server" if "streamlit" in " ".join(p.cmdline()) else "browsers", t.user + t.system)
        except psutil.Error:  # gone meanwhile
            pass
    return out


def cpu_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """Server and browser CPU seconds between two snapshots. Counted per process that is still there, so a
    browser closed meanwhile (the killed session) drops out instead of making the sum go down."""
    out = {"server": 0.0, "browsers": 0.0}
    for pid, (kind, seconds) in after.items():
        out[kind] += seconds - before.get(pid, (kind, 0.0))[1]
    return out


# -- the database -------------------------------------------------------------------------------------------------
def scores_key() -> str:
    """The pair cache's key for the default model at the precision the app will run ($RECSYS_PRECISION, else
    auto): the scores the template must hold for the walks to be warm."""
    from .config import ScoringConfig
    from .recommend import Models

    return Models().lm_cache_key(ScoringConfig().model)


def template_path(plan: Plan) -> Path:
    """One template per precision: a template of float32 scores (as the tests build it) opened by an app running
    bfloat16 would have the app score every demo item's ℓ(y|∅) again in the background during the walks."""
    from .config import CACHE_DIR
    from .db import SCHEMA_VERSION

    kind = "no-lm" if plan.no_lm else f"{DATASET}-examples{plan.examples}-{scores_key()}"
    return CACHE_DIR / "loadtest" / f"demo-{kind}-v{SCHEMA_VERSION}.db"


def build_database(path: Path, plan: Plan, say=print) -> dict:
    """The demo database as `python -m recsys demo` builds it (the embedded catalogs, the demo log and its
    stored evaluation, ℓ(y|∅) of every demo item), with the example histories the walks use precomputed (the
    movie catalog's first `plan.examples`, and the like of each one's top recommendations)."""
    from . import db as dbmod
    from . import demo
    from .catalog import Catalog, load_demo_catalogs
    from .recommend import Models

    start = time.perf_counter()
    cat = Catalog(dbmod.connect(path))
    load_demo_catalogs(cat)
    demo.ensure_log(cat)
    models = Models()
    demo.ensure_evaluation(cat, models)
    report = {}
    if not plan.no_lm:
        say("precomputing ℓ(y|∅) of the demo catalogs and the example histories (once; kept for later runs)…")
        demo.precompute(cat, models, examples=0)  # every demo catalog's neutral scores
        report = demo.precompute(cat, models, datasets=[DATASET], examples=plan.examples)
    cat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cat.db.conn.close()
    return {**report, "built_s": round(time.perf_counter() - start, 1)}


def prepare_database(plan: Plan, folder: Path, say=print) -> tuple[Path, dict]:
    """This run's database in `folder`: a copy of --db-from, else of the cached template (built when missing)."""
    target = folder / "app.db"
    if plan.db_from is not None:
        source, info = Path(plan.db_from), {"source": str(plan.db_from)}
    else:
        source = template_path(plan)
        info = {"source": str(source), "template_reused": source.exists(),
                **({} if plan.no_lm else {"scores": scores_key()})}
        if not source.exists():
            source.parent.mkdir(parents=True, exist_ok=True)
            partial = source.with_suffix(f".{os.getpid()}.partial")
            info["template_build"] = build_database(partial, plan, say)
            for suffix in ("-wal", "-shm"):
                Path(f"{partial}{suffix}").unlink(missing_ok=True)
            partial.replace(source)
    from . import db as dbmod

    src = dbmod.connect(source)  # a consistent copy even if the source has a WAL
    dst = dbmod.connect(target)
    src.conn.backup(dst.conn)
    src.conn.close()
    dst.conn.close()
    return target, info


def pair_rows(path: Path) -> int:
    from . import db as dbmod

    db = dbmod.connect(path)
    try:
        return db.execute("SELECT count(*) FROM pair_scores").fetchone()[0]
    finally:
        db.conn.close()


# -- the whole run ----------------------------------------------------------------------------------------------
def check_port(port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise LoadTestError(f"port {port} on 127.0.0.1 cannot be used ({e.strerror or e}); "
                                "leave --port out to take a free one") from None


def check_browser() -> str:
    from .ui.serve import chromium_path

    try:
        import playwright  # noqa: F401
    except ImportError:
        raise LoadTestError("the load test needs the `playwright` package (pip install playwright)") from None
    path = chromium_path()
    if path is None:
        raise LoadTestError("Chromium is not installed (run `make browser`, or apt-get install chromium)")
    return path


def run(plan: Plan, say=print) -> dict:
    """Run the load test; returns its report (see `format_report`)."""
    from . import db as dbmod
    from .ui.serve import running_app

    plan.check()
    check_browser()
    if plan.port is not None:
        check_port(plan.port)
    started = time.monotonic()
    deadline = started + plan.timeout
    run_id = uuid.uuid4().hex[:6]
    sessions = [Session(k, f"load-{run_id}-s{k}") for k in range(plan.sessions)]
    if plan.kill_one:
        sessions.append(Session(plan.sessions, f"load-{run_id}-killed", killed=True))
    report: dict = {"command": None, "plan": {k: (str(v) if isinstance(v, Path) else v)
                                              for k, v in asdict(plan).items()},
                    "machine": {"cpus": os.cpu_count(), "load_before": [round(x, 2) for x in os.getloadavg()]}}
    folder = Path(tempfile.mkdtemp(prefix="recsys-loadtest-"))
    try:
        say("preparing the database…")
        db_file, report["database"] = prepare_database(plan, folder, say)
        pairs_before = pair_rows(db_file)
        log = plan.log or folder / "app.log"
        runs_file = folder / "runs.jsonl"
        env = {runlog.ENV: str(runs_file), **({"RECSYS_PRECOMPUTE_NEUTRAL": "0"} if plan.no_lm else {})}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            say(f"starting the app and {len(sessions)} browser session(s)…")
            left = max(deadline - time.monotonic(), 10)
            try:
                with running_app(db_file, port=plan.port, timeout=min(180, left), log=log) as url:
                    report["url"] = url
                    if plan.nice_browsers:  # the server started at the caller's priority; what starts now inherits
                        report["machine"]["browsers_nice"] = os.nice(19 - os.nice(0))
                    report["browser"] = asyncio.run(_browse(plan, url, deadline, sessions,
                                                                  failures_folder(plan, run_id)))
            except (RuntimeError, TimeoutError) as e:
                raise LoadTestError(f"the app did not start: {e}") from None
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        report["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
        runs = runlog.read(runs_file)
        for s in sessions:
            for step, windows in s.windows.items():
                s.server_run[step] = [runlog.seconds_within(runs, *w) for w in windows]
        text = log.read_text(errors="replace") if log.exists() else ""
        report["server_tracebacks"] = text.count("Traceback (most recent call last)")
        if report["server_tracebacks"]:
            first = text.index("Traceback (most recent call last)")
            report["server_traceback_first"] = text[first:first + 3000]
        # what the server scored: the cold re-ranks' new pairs; much more means the template was not warm
        report["database"]["pairs_scored_during_run"] = pair_rows(db_file) - pairs_before
        db = dbmod.connect(db_file)
        try:
            owners = sorted({s.name for s in sessions} | {n for s in sessions for n in s.names})
            found, problems = records_in(db, owners)
        finally:
            db.conn.close()
        expected = [r for s in sessions for r in s.records]
        maybe = [r for s in sessions for r in s.cut_off]
        report["records"] = reconcile(expected, found, maybe, owners)
        report["records"]["half_written"] = problems
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the database copy (and the server's log unless --log)
    report["seconds"] = round(time.monotonic() - started, 1)
    return _finish(report, sessions)


def _merged(sessions: list[Session], attr: str) -> dict[str, list]:
    """A per-step figure of every session (a `Session` field such as `timings`), the sessions' values together."""
    out: dict[str, list] = defaultdict(list)
    for s in sessions:
        for step, values in getattr(s, attr).items():
            out[step] += values
    return out


def _finish(report: dict, sessions: list[Session]) -> dict:
    live = [s for s in sessions if not s.killed]
    timings = _merged(live, "timings")
    report["steps"] = summarise(timings)
    for key, attr in (("engine_s", "engine"), ("pairs", "pairs"), ("server_run_s", "server_run"),
                      ("server_cpu_s", "server_cpu"), ("browsers_cpu_s", "browsers_cpu")):
        merged = _merged(live, attr)
        for row in report["steps"]:
            if merged.get(row["step"]):
                row[f"{key}_median"] = round(percentile(merged[row["step"]], 50), 3)
                row[f"{key}_max"] = round(max(merged[row["step"]]), 3)
    report["external_refused"] = dict(sum((s.external for s in sessions), Counter()))
    report["base_path_probes_404"] = sum(s.probes for s in sessions)
    report["aborted_by_navigation"] = sum(s.aborted for s in sessions)
    warm = [v for step in WARM_STEPS for v in timings.get(step, [])]
    served = [v for step in WARM_STEPS for v in _merged(live, "server_run").get(step, [])]
    report["warm"] = {"steps": list(WARM_STEPS), "n": len(warm), "median_s": round(percentile(warm, 50), 3),
                      "p95_s": round(percentile(warm, 95), 3), "target_s": WARM_TARGET_S,
                      "met": bool(warm) and percentile(warm, 95) <= WARM_TARGET_S,
                      "server_run_median_s": round(percentile(served, 50), 3),
                      "server_run_p95_s": round(percentile(served, 95), 3)}
    errors = [dict(e, session=s.name) for s in live for e in s.errors]
    exceptions = [e for e in errors if e["kind"] in EXCEPTIONS]
    report["errors"] = {"count": len(errors), "exceptions": len(exceptions),
                        "by_kind": dict(Counter(e["kind"] for e in errors)), "list": errors[:50]}
    report["sessions"] = [{"name": s.name, "walks_done": s.walks_done, "killed": s.killed,
                           "killed_at": s.killed_at, "failure": s.failure, "waits_seen": s.waits_seen,
                           "records": len(s.records), "errors": len(s.errors), "dom_missed": s.dom_missed,
                           "snapshots": s.snapshots} for s in sessions]
    report["waits_seen"] = sum(s.waits_seen for s in live)
    report["dom_missed"] = sum(s.dom_missed for s in live)
    killed = [s for s in sessions if s.killed]
    rec = report["records"]
    checks = {
        "every walk finished": all(s.walks_done == report["plan"]["walks"] and not s.failure for s in live),
        "0 lost": rec["lost"] == 0,
        "0 duplicated": rec["duplicated"] == 0 and rec["unexpected"] == 0,
        "nothing half-written": not rec["half_written"],
        "0 exceptions on the pages": not exceptions,
        "0 tracebacks in the server log": report.get("server_tracebacks", 0) == 0,
        "the server serves a fresh page afterwards": "fresh_page_after_s" in report.get("browser", {}),
    }
    if killed:
        checks["the killed session was closed mid-walk"] = all(s.killed_at for s in killed)
    report["checks"] = checks
    report["ok"] = all(checks.values())
    return report


def _f(v) -> str:
    return "–" if v is None or v != v else f"{v:.2f}"


def format_report(report: dict) -> str:
    """The report as text tables."""
    plan, m = report["plan"], report["machine"]
    lines = [f"load test: {plan['sessions']} session(s) × {plan['walks']} walk(s)"
             + (" + 1 killed mid-walk" if plan["kill_one"] else "") + (" (no language model)" if plan["no_lm"] else "")
             + f" against {report.get('url', '?')}, {report['seconds']} s in all",
             f"machine: {m['cpus']} CPU(s), load average before {m['load_before']}, after {m.get('load_after')}"
             + (f"; browsers at nice {m['browsers_nice']}, the server at its own" if "browsers_nice" in m else ""),
             f"database: {report['database'].get('source')}"
             + (" (template reused)" if report["database"].get("template_reused") else "")
             + (f"; {report['database']['pairs_scored_during_run']} pairs scored by the server during the run"
                if "pairs_scored_during_run" in report["database"] else ""),
             f"warm-up (first request, models loaded; not measured): {report.get('browser', {}).get('warmup_s')} s",
             "", "seconds from the action to its result on the page; 'app s' and 'pairs': what the app itself reports "
             "(median; the most pairs scored); 'run s': the server's script runs in the step (median, from its run "
             "log); 'server' and 'browsers': CPU seconds they used during the step (median; with one session, the "
             "step's own cost)",
             f"{'step':<10}{'n':>5}{'median s':>11}{'p95 s':>9}{'max s':>9}{'app s':>9}{'pairs':>7}{'run s':>8}"
             f"{'server':>8}{'browsers':>10}"]
    for r in report["steps"]:
        lines.append(f"{r['step']:<10}{r['n']:>5}{_f(r['median_s']):>11}{_f(r['p95_s']):>9}{_f(r['max_s']):>9}"
                     f"{_f(r.get('engine_s_median')) if 'engine_s_median' in r else '':>9}"
                     f"{r.get('pairs_max', ''):>7}{_f(r.get('server_run_s_median')):>8}"
                     f"{_f(r.get('server_cpu_s_median')):>8}"
                     f"{_f(r.get('browsers_cpu_s_median')):>10}")
    w = report["warm"]
    lines += ["", f"warm recommendations ({', '.join(w['steps'])}): median {_f(w['median_s'])} s, "
              f"p95 {_f(w['p95_s'])} s over {w['n']} (target p95 ≤ {w['target_s']:g} s: "
              f"{'met' if w['met'] else 'NOT met'}); the server's runs in them: median "
              f"{_f(w.get('server_run_median_s'))} s, p95 {_f(w.get('server_run_p95_s'))} s",
              f"pages that showed 'waiting for the model': {report['waits_seen']} run(s)",
              f"steps whose run the page's script state never showed as running (counted off the WebSocket): "
              f"{report.get('dom_missed', 0)}", ""]
    rec = report["records"]
    lines.append(f"{'records':<12}{'expected':>10}{'found':>8}{'cut off':>9}")
    for kind, c in rec["by_kind"].items():
        lines.append(f"{kind:<12}{c['expected']:>10}{c['found']:>8}{c['cut_off']:>9}")
    lines.append(f"lost {rec['lost']}, duplicated {rec['duplicated']}, unexpected {rec['unexpected']}, "
                 f"half-written {len(rec['half_written'])}")
    lines += [f"  {d}" for d in rec["details"][:10]] + [f"  {p}" for p in rec["half_written"][:10]]
    e = report["errors"]
    lines += ["", f"errors on the pages: {e['count']}, of them exceptions (exception or st.error boxes, page errors, "
              f"crashes): {e['exceptions']}" + (f"; by kind {e['by_kind']}" if e["count"] else "")]
    lines += [f"  [{x['kind']}] {x['session']} {x['step']}: {x['text'][:160]}" for x in e["list"][:10]]
    lines.append(f"tracebacks in the server log: {report.get('server_tracebacks')}")
    if report.get("external_refused"):
        lines.append(f"requests off the loopback, refused (not errors): {report['external_refused']}")
    lines.append(f"not errors either: {report.get('base_path_probes_404', 0)} base-path probe(s) answered 404, "
                 f"{report.get('aborted_by_navigation', 0)} request(s) cut off by the walk's next navigation")
    for s in report["sessions"]:
        if s["failure"] or s["killed"]:
            lines.append(f"  {s['name']}: " + (f"killed at {s['killed_at'] or '(not reached)'}" if s["killed"]
                                                else f"FAILED: {s['failure']}"))
            lines += [f"    kept: {path}" for path in s.get("snapshots", [])]
    b = report.get("browser", {})
    if "walks_cpu_s" in b:
        c = b["walks_cpu_s"]
        lines.append(f"CPU during the walks ({b['walks_s']} s × {report['machine']['cpus']} cores): the app server "
                     f"{c['server']} s, the browsers {c['browsers']} s")
    lines.append("a fresh page after the walks: " + (f"opened in {b['fresh_page_after_s']} s"
                                                      if "fresh_page_after_s" in b
                                                      else b.get("fresh_page_after_error", "not tried")))
    lines += ["", "checks: " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in report["checks"].items()),
              "result: " + ("OK" if report["ok"] else "FAILED")]
    return "\n".join(lines)


def write_json(report: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
