"""The importers on the real development datasets (../shared/data): reported counts match the PROVENANCE files.

Each dataset is imported once per session; tests skip with the reason where its folder is absent.
"""
from __future__ import annotations

import pytest

from recsys.datasets import SHARED, candidate_lists, eval_samples, import_candidates, import_shared, \
    shared_data_dir
from recsys.db import connect

pytestmark = pytest.mark.slow
DATA = shared_data_dir()


def needs(name: str):
    folder = DATA / name
    return pytest.mark.skipif(not folder.is_dir(), reason=f"shared dataset {name!r} not found at {folder} "
                                                          "(set RECSYS_SHARED_DATA to the datasets folder)")


@pytest.fixture(scope="session")
def real():
    """One database holding every shared dataset that is present, and its import reports."""
    db = connect(memory=True)
    reports = {name: import_shared(db, name) for name in SHARED if (DATA / name).is_dir()}
    return db, reports


def _problems(report):
    return {k: getattr(report, k) for k in report.PROBLEMS if getattr(report, k)}


@needs("ml-100k")
def test_ml_100k(real):
    db, reports = real
    r = reports["ml-100k"]
    assert (r.users, r.items, r.interactions) == (943, 1682, 100_000)
    assert _problems(r) == {}
    assert any("latin-1" in w for w in r.warnings)  # u.item holds latin-1 titles
    assert db.execute("SELECT count(*) FROM interactions WHERE dataset='ml-100k'").fetchone()[0] == 100_000
    samples = list(eval_samples(db, "ml-100k"))
    assert len(samples) == 943 and all(19 <= len(s.history) <= 50 for s in samples)  # >= 20 ratings each
    # no leakage: an item's popularity never counts the test targets
    total = db.execute("SELECT sum(popularity) FROM items WHERE dataset='ml-100k'").fetchone()[0]
    assert total == 100_000 - 943


@needs("ml-latest-small")
def test_ml_latest_small(real):
    db, reports = real
    r = reports["ml-latest-small"]
    assert (r.users, r.items, r.interactions) == (610, 9742, 100_836)
    assert _problems(r) == {}
    rated = db.execute("SELECT count(*) FROM items WHERE dataset='ml-latest-small' AND popularity > 0").fetchone()[0]
    assert rated <= 9724
    title = db.execute("SELECT title FROM items WHERE id='ml-latest-small:2571'").fetchone()[0]
    assert title == "The Matrix (1999)"


@needs("lastfm")
def test_lastfm(real):
    db, reports = real
    r = reports["lastfm"]
    assert r.items == 4606
    assert r.splits == {"train": 49_824, "valid": 3_011, "test": 2_739}
    assert _problems(r) == {}
    assert db.execute("SELECT title FROM items WHERE id='lastfm:0'").fetchone()[0] == "Morcheeba"
    assert sum(1 for _ in eval_samples(db, "lastfm")) == 2_739


@needs("amazon-scientific")
def test_amazon_scientific(real):
    db, reports = real
    r = reports["amazon-scientific"]
    assert (r.users, r.items, r.interactions) == (2_928, 1_585, 19_712)
    assert r.splits == {"train": 10_928, "valid": 2_928, "test": 2_928}
    assert _problems(r) == {} and r.format == "unisrec"
    test = list(eval_samples(db, "amazon-scientific", max_history=None))
    assert len(test) == 2_928 and sum(len(s.history) + 1 for s in test) == 19_712


@needs("microlens-titles")
def test_microlens_titles(real):
    db, reports = real
    r = reports["microlens-titles"]
    assert (r.items, r.users, r.interactions) == (19_220, 0, 0)
    assert _problems(r) == {}
    assert db.execute("SELECT domain FROM datasets WHERE name='microlens-titles'").fetchone()[0] == "videos"


@needs("amazon-scientific")
def test_candidate_file_over_a_real_dataset(real, tmp_path):
    db, _ = real
    test = list(eval_samples(db, "amazon-scientific"))[:20]
    index = {}
    for line in (DATA / "amazon-scientific" / "Scientific.item2index").read_text().splitlines():
        asin, i = line.split("\t")
        index[f"amazon-scientific:{asin}"] = i
    path = tmp_path / "cands.txt"
    path.write_text("".join(f"{s.user_id}\t{index[s.target]} {index[s.history[0]]}\n" for s in test))
    report = import_candidates(db, "amazon-scientific", path, name="t",
                               item2index=DATA / "amazon-scientific" / "Scientific.item2index")
    assert report.candidates == 20 and report.missing_targets == 0
    assert len(candidate_lists(db, "amazon-scientific", "t")) == 20
