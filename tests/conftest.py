"""Shared fixtures: a small real catalog in a temporary SQLite file, fake models for unit tests of logic,
and the real models (session-scoped, for tests marked slow)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakes import FakeModels

from recsys import db as dbmod
from recsys.catalog import Catalog, load_demo_catalogs, make_item
from recsys.recommend import Models

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# the suite's expected scores and tolerances are float32's on every machine; tests of bfloat16 ask for it by name
os.environ.setdefault("RECSYS_PRECISION", "float32")


MOVIES = [
    ("toy-story", "Toy Story", "animation, family", 900),
    ("finding-nemo", "Finding Nemo", "animation, family", 800),
    ("shrek", "Shrek", "animation, family", 700),
    ("up", "Up", "animation, family", 500),
    ("halloween", "Halloween", "horror", 400),
    ("the-exorcist", "The Exorcist", "horror", 450),
    ("alien", "Alien", "sci-fi, horror", 600),
    ("heat", "Heat", "crime", 300),
    ("amelie", "Amelie", "romance", 200),
    ("casablanca", "Casablanca", "romance, drama", 650),
]


def add_small_catalog(catalog: Catalog) -> None:
    items = [make_item({"id": f"m:{i}", "title": t, "tags": tags, "popularity": p}, dataset="m", domain="movies")
             for i, t, tags, p in MOVIES]
    with catalog.db.conn:
        catalog.add_items(items)
        catalog.add_dataset("m", domain="movies", source="tests")


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    c = Catalog(dbmod.connect(tmp_path / "t.db"))
    add_small_catalog(c)
    return c


@pytest.fixture
def demo_catalog(tmp_path) -> Catalog:
    c = Catalog(dbmod.connect(tmp_path / "demo.db"))
    load_demo_catalogs(c)
    return c


@pytest.fixture
def fake_models() -> FakeModels:
    return FakeModels()


@pytest.fixture(scope="session")
def real_models() -> Models:
    return Models(device="cpu")
