"""From a fresh clone to the first explained recommendation in the browser: what a new user of `make run` waits.

    python bench/first_run.py [--json docs/bench/first-run.json]

Clones this repository's HEAD into a temporary folder and uses this checkout's virtualenv (the set-up that
`make setup` does: the packages), with an empty model cache (RECSYS_CACHE_DIR) and no database, then times the two
steps of `make run`:

1. `python -m recsys demo`: builds the default database (embedded catalogs indexed, the demo log and its stored
   evaluation, GGUF weights dequantised and cached, ℓ(y|∅) and the example histories' pairs scored);
2. `streamlit run app.py`, then in Chromium: open the app, pick the first example history, and wait until its
   recommendations and their contribution chart are on the page.

Prints each step's seconds and the load average, and writes them with `--json`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from recsys.ui.serve import CHROMIUM_FLAGS, chromium_path, running_app, wait_idle  # noqa: E402

EXAMPLE = "Family movie night"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    figures: dict = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        (clone / ".venv").symlink_to(ROOT / ".venv")
        env = {**os.environ, "RECSYS_CACHE_DIR": str(Path(tmp) / "cache"), "TOKENIZERS_PARALLELISM": "false"}
        env.pop("RECSYS_DB", None)
        start = time.perf_counter()
        subprocess.run([str(clone / ".venv/bin/python"), "-m", "recsys", "demo"], cwd=clone, env=env, check=True)
        figures["demo database built (python -m recsys demo), s"] = round(time.perf_counter() - start, 1)

        os.environ.update(env)
        start = time.perf_counter()
        with running_app(clone / "data" / "recsys.db", timeout=300, log=Path(tmp) / "app.log", root=clone) as url:
            figures["app answering, s"] = round(time.perf_counter() - start, 1)
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(300_000)
                page.goto(f"{url}/?dataset=movies")
                page.get_by_placeholder("Choose a named history…").wait_for()
                figures["first page shown, s"] = round(time.perf_counter() - start, 1)
                page.get_by_placeholder("Choose a named history…").click()
                page.get_by_role("option", name=EXAMPLE).click()
                page.get_by_text("Why: contributions to the score").first.wait_for()
                wait_idle(page)
                figures["first explained recommendation, s after the app started"] = round(
                    time.perf_counter() - start, 1)
                browser.close()
    figures["load_average_after"] = os.getloadavg()
    for k, v in figures.items():
        print(f"{k}: {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
