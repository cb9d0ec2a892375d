"""Helpers of the app tests: the test database (demo catalogs, a hostile title, a one-item dataset) and
`AppTest` runs of app.py (the app reads $RECSYS_DB on every run)."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from recsys import db as dbmod
from recsys.catalog import Catalog, load_demo_catalogs, make_item

APP = str(Path(__file__).resolve().parents[2] / "app.py")
HOSTILE = '<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold** $x^2$'
HOSTILE_ID = "movies:hostile"
# Small settings keep the real model's work to a few prompts (the defaults are 50 candidates, 5 items).
FAST = {"set_n_candidates": 10, "set_max_history": 2}


def build_app_db(path: Path) -> Path:
    cat = Catalog(dbmod.connect(path))
    load_demo_catalogs(cat)
    with cat.db.conn:
        cat.add_items([make_item({"id": HOSTILE_ID, "title": HOSTILE, "creator": "<b>Mallory</b>",
                                  "tags": "[x](javascript:alert(2))", "popularity": 1}, "movies", "movies")])
        cat.add_items([make_item({"id": "tiny:only", "title": "The only item", "popularity": 1}, "tiny", "generic")])
        cat.add_dataset("tiny", domain="generic", source="tests: one item")
    cat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the fixtures copy the file: nothing may stay in the WAL
    cat.db.conn.close()
    return path


def new_app(page: str | None = None, **query) -> AppTest:
    """A fresh session of the app opened on `page` (default: the landing page), as a link with `query` would."""
    at = AppTest.from_file(APP, default_timeout=600)
    if page:  # before the first run pages are found by file name, which is each page's url path
        at.switch_page(page)
    at.query_params.update(query)
    return at.run()


def problems(at: AppTest) -> list[str]:
    """Uncaught exceptions and error messages on the page (each a failure in these tests)."""
    return [e.value for e in at.exception] + [e.value for e in at.error]
