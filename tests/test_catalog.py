import json

import pytest

from recsys import db as dbmod
from recsys.catalog import Catalog, example_histories, make_item, open_catalog
from recsys.config import CATALOG_DIR
from recsys.errors import UnknownItemsError

DOMAINS = ["news", "music", "videos", "papers"]


def test_require_names_every_unknown_id(catalog):
    with pytest.raises(UnknownItemsError) as e:
        catalog.require(["m:toy-story", "nope", "m:../../etc", "nope"])
    assert e.value.ids == ["nope", "m:../../etc"]
    assert "'nope'" in str(e.value)


def test_require_keeps_the_order_given(catalog):
    assert [i.id for i in catalog.require(["m:up", "m:heat"])] == ["m:up", "m:heat"]


def test_make_item_cleans_text_and_bad_numbers():
    item = make_item({"id": 5, "title": "Matrix, The (1999)", "popularity": "nan", "year": "x", "tags": "a|b"},
                     dataset="d", domain="movies")
    assert (item.id, item.title, item.popularity, item.year, item.tags) == ("5", "The Matrix (1999)", 0.0, None, ("a", "b"))
    assert make_item({"id": "x", "popularity": float("inf")}, "d", "m").popularity == 0.0
    assert make_item({"id": "x", "title": "t" * 10_000}, "d", "m").title == "t" * 500


def test_search_matches_title_creator_and_tags(catalog):
    assert [i.id for i in catalog.search("horror", "m")] == ["m:alien", "m:the-exorcist", "m:halloween"]
    assert catalog.search("%") == [] and catalog.search("_") == []  # LIKE wildcards are literal characters
    assert [i.id for i in catalog.search("toy story")] == ["m:toy-story"]


def test_summary_counts(catalog):
    s = catalog.summary()
    assert s["items"] == 10 and s["datasets"][0]["name"] == "m" and s["schema_version"] == dbmod.SCHEMA_VERSION


@pytest.mark.parametrize("domain", DOMAINS)
def test_demo_catalogs_are_rich_enough(domain):
    rows = [json.loads(line) for line in (CATALOG_DIR / f"{domain}.jsonl").read_text().splitlines() if line.strip()]
    assert len(rows) >= 150
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["id"].startswith(f"{domain}:") and r["title"] and r["description"] and r["tags"] and r["creator"]
        assert isinstance(r["year"], int) and r["popularity"] > 0
    assert len({r["tags"][0] for r in rows}) >= 10  # a spread of topics


@pytest.mark.parametrize("domain", DOMAINS + ["movies"])
def test_example_histories_name_existing_items(demo_catalog, domain):
    examples = example_histories(domain)
    assert len(examples) >= 3
    for ex in examples:
        assert ex["name"] and len(demo_catalog.require(ex["history"])) == len(ex["history"]) >= 3


def test_default_database_is_built_on_first_use(tmp_path, monkeypatch):
    path = tmp_path / "default.db"
    monkeypatch.setattr("recsys.catalog.DEFAULT_DB", path)
    c = open_catalog(path)
    assert {d.name for d in c.datasets()} >= set(DOMAINS)
    n = c.db["items"].count
    assert open_catalog(path).db["items"].count == n  # not loaded twice


def test_database_opens_in_plain_sqlite(catalog, tmp_path):
    import sqlite3

    conn = sqlite3.connect(tmp_path / "t.db")
    assert conn.execute("select count(*) from items").fetchone()[0] == 10


def test_migrations_are_idempotent_and_recorded(tmp_path):
    db = dbmod.connect(tmp_path / "m.db")
    assert dbmod.schema_version(db) == dbmod.SCHEMA_VERSION
    db2 = dbmod.connect(tmp_path / "m.db")
    assert dbmod.schema_version(db2) == dbmod.SCHEMA_VERSION
    assert db2.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_catalog_per_thread(tmp_path):
    import threading

    path = tmp_path / "threads.db"
    Catalog(dbmod.connect(path))
    errors = []

    def work(k):
        try:
            c = Catalog(dbmod.connect(path))
            c.add_items([make_item({"id": f"x:{k}", "title": f"T{k}"}, "x", "generic")])
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and Catalog(dbmod.connect(path)).db["items"].count == 8
