"""Screenshots of every page at 1280×900 for the README: `python -m scripts.screenshots` (from the project root).

Starts the app headless on a free port against a fresh copy of the demo catalogs (or --db), drives Debian's
Chromium with Playwright, and writes docs/screenshots/{recommend,review,catalog,evaluate}.png. The first
Recommend request loads the models and scores cold, so the whole run takes a minute or two on a CPU.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from recsys.catalog import Catalog, load_demo_catalogs
from recsys.config import ROOT
from recsys.db import connect
from recsys.ui.serve import CHROMIUM_FLAGS, chromium_path, running_app, wait_idle

OUT = ROOT / "docs" / "screenshots"
HISTORY = "movies:toy-story,movies:finding-nemo,movies:the-incredibles,movies:coco"


def shoot(base: str, out: Path, log=print) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def snap(name: str) -> None:
            path = out / f"{name}.png"
            page.screenshot(path=str(path))
            paths.append(path)
            log(f"wrote {path}")

        page.goto(f"{base}/?dataset=movies&history={HISTORY}")
        page.get_by_text("Why: contributions to the score").first.wait_for(timeout=600_000)
        wait_idle(page)
        page.locator(".js-plotly-plot").first.wait_for()
        snap("recommend")

        page.goto(f"{base}/review?rater=Ana&scenario=example:movies:0")
        page.get_by_text("List B").first.wait_for(timeout=600_000)
        wait_idle(page)
        for k in (0, 1, 3):
            page.get_by_role("button", name="✓ relevant").nth(k).click()
            wait_idle(page)
        page.get_by_role("button", name="✗ not relevant").nth(2).click()
        wait_idle(page)
        snap("review")

        page.goto(f"{base}/catalog")
        page.get_by_text("Select a row for its details").wait_for(timeout=120_000)
        wait_idle(page)
        snap("catalog")

        page.goto(f"{base}/evaluate")
        page.get_by_role("heading", name="Evaluate").wait_for(timeout=120_000)
        wait_idle(page)
        snap("evaluate")
        browser.close()
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="database to show (default: a fresh copy of the demo catalogs)")
    parser.add_argument("--out", default=str(OUT), help="folder for the PNGs (default %(default)s)")
    args = parser.parse_args(argv)
    if not chromium_path():
        print("Chromium not found: install it (`make browser`, i.e. apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db
        if not db:
            db = Path(tmp) / "demo.db"
            load_demo_catalogs(Catalog(connect(db)))
        with running_app(db, log=Path(tmp) / "app.log") as base:
            shoot(base, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
