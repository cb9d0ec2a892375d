"""Screenshots of every page at 1280×900 for the README: `python -m scripts.screenshots` (from the project root).

Starts the app headless on a free port against a fresh database of the demo catalogs (plus ml-100k and a stored
baseline evaluation, when the shared data is there) or --db, drives Debian's Chromium with Playwright, and
writes docs/screenshots/{recommend,review,catalog,evaluate}.png. The first Recommend request loads the models
and scores cold, so the whole run takes a few minutes on a CPU.
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


def evaluation(db: Path, log=print) -> None:
    """A stored evaluation for the Evaluate page: ml-100k from the shared data (when present), baselines only."""
    try:
        from recsys.datasets import import_shared, shared_data_dir
        from recsys.evaluate import EvalSpec, run_evaluation, store
    except ImportError as e:
        log(f"no evaluation shown: {e}")
        return
    if not (shared_data_dir() / "ml-100k").is_dir():
        log("no evaluation shown: the shared ml-100k is not here")
        return
    cat = Catalog(connect(db))
    import_shared(cat.db, "ml-100k")
    spec = EvalSpec(dataset="ml-100k", methods=("random", "pop", "bm25", "embed", "embed+pop"), limit_users=200)
    store(cat.db, run_evaluation(cat, spec))
    log("stored an ml-100k baseline evaluation")


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
        for name, k in (("✓ relevant", 0), ("✓ relevant", 1), ("✗ not relevant", 2), ("✓ relevant", 5)):
            page.get_by_text(name, exact=True).nth(k).click()
            wait_idle(page)
        page.get_by_text("Which list is better").scroll_into_view_if_needed()
        page.get_by_text("A", exact=True).last.click()
        wait_idle(page)
        page.locator("[data-testid='stMain']").evaluate("e => e.scrollTo(0, 420)")
        page.wait_for_timeout(500)
        snap("review")

        page.goto(f"{base}/catalog")
        page.get_by_text("Select a row for its details").wait_for(timeout=120_000)
        wait_idle(page)
        snap("catalog")

        page.goto(f"{base}/evaluate")
        page.get_by_role("heading", name="Evaluate").wait_for(timeout=120_000)
        wait_idle(page)
        stored = page.get_by_role("tab", name="Stored evaluations")
        if stored.count():
            stored.click()
            page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
            wait_idle(page)
        snap("evaluate")
        browser.close()
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="database to show (default: a fresh copy of the demo catalogs)")
    parser.add_argument("--out", default=str(OUT), help="folder for the PNGs (default %(default)s)")
    parser.add_argument("--no-evaluation", action="store_true",
                        help="skip importing ml-100k and evaluating baselines for the Evaluate page")
    args = parser.parse_args(argv)
    if not chromium_path():
        print("Chromium not found: install it (`make browser`, i.e. apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db
        if not db:
            db = Path(tmp) / "demo.db"
            load_demo_catalogs(Catalog(connect(db)))
            if not args.no_evaluation:
                evaluation(db, log=print)
        with running_app(db, log=Path(tmp) / "app.log") as base:
            shoot(base, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
