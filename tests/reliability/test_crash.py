"""SIGKILL in the middle of an import and of filling the pair cache: the database opens cleanly afterwards
(integrity check), holds the whole import or none of it, and the interrupted work resumes where it stopped."""
from __future__ import annotations

import hashlib
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeBackend

from recsys import db as dbmod
from recsys.datasets import Columns, import_movielens, import_table
from recsys.scoring import PairScorer
from recsys.text import TEMPLATES

from reliability.figures import FIGURES

N_ITEMS, N_INTER = 15_000, 100_000


def wal_size(path: Path) -> int:
    try:
        return path.with_name(path.name + "-wal").stat().st_size
    except FileNotFoundError:
        return 0


def rows_digest(db, dataset: str) -> tuple:
    """(items, interactions, a hash of every row of the dataset in every table an import writes)."""
    h = hashlib.sha256()
    for table, col in (("datasets", "name"), ("items", "dataset"), ("interactions", "dataset")):
        for row in db.execute(f"SELECT * FROM {table} WHERE {col} = ? ORDER BY rowid", [dataset]):
            h.update(repr(row).encode())
    counts = [db.execute(f"SELECT count(*) FROM {t} WHERE dataset = ?", [dataset]).fetchone()[0]
              for t in ("items", "interactions")]
    return (*counts, h.hexdigest())


def check_opens_cleanly(path: Path):
    db = dbmod.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert dbmod.schema_version(db) == dbmod.SCHEMA_VERSION
    return db


def kill_when(proc, ready, timeout: float = 120.0) -> bool:
    """SIGKILL `proc` as soon as ready() is true; True when it was still running (killed mid-way)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return alive and proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> tuple[Path, Path]:
    """15k items with descriptions and 100k interactions: an import that takes a few seconds."""
    d = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(0)
    with open(d / "items.csv", "w", encoding="utf-8") as f:
        f.write("id,title,description\n")
        f.writelines(f"{i},Title number {i},{('word%d ' % (i % 97)) * 25}\n" for i in range(N_ITEMS))
    users, items = rng.integers(0, 3000, N_INTER), rng.integers(0, N_ITEMS, N_INTER)
    with open(d / "inter.csv", "w", encoding="utf-8") as f:
        f.write("user_id,item_id,timestamp\n")
        f.writelines(f"{u},{i},{k}\n" for k, (u, i) in enumerate(zip(users, items)))
    return d / "items.csv", d / "inter.csv"


@pytest.mark.slow
def test_sigkill_during_an_import_keeps_all_or_nothing(db_file, big_csv, spawn, tmp_path):
    """The dataset 'gen' exists (small version A); a big re-import (B) is killed at three points."""
    small = tmp_path / "small.csv"
    small.write_text("id,title\n" + "".join(f"{i},Old {i}\n" for i in range(100)), encoding="utf-8")
    db = dbmod.connect(db_file)
    import_table(db, "gen", items=small, columns=Columns())
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    version_a, movies = rows_digest(db, "gen"), rows_digest(db, "m")
    db.conn.close()
    items, inter = big_csv
    args = ["-m", "recsys", "import", "csv", "--dataset", "gen", "--items", str(items), "--interactions",
            str(inter), "--quiet"]

    # (when to kill) on a fresh copy of the database each time, so the WAL's size measures progress
    def stalled(path):  # the items are written and the WAL stops growing: the interactions are being read
        last = {"size": -1, "since": time.monotonic()}

        def ready():
            size = wal_size(path)
            if size != last["size"]:
                last.update(size=size, since=time.monotonic())
            return size > 2_000_000 and time.monotonic() - last["since"] > 0.3
        return ready

    points = {
        "first pages written": lambda p: lambda: wal_size(p) > 64_000,
        "half the items written": lambda p: lambda: wal_size(p) > 1_000_000,
        "reading the interactions": stalled,
    }
    mid_way = 0
    for name, when in points.items():
        path = tmp_path / f"{name.replace(' ', '-')}.db"
        shutil.copy(db_file, path)
        proc = spawn([*args, "--db", str(path)])
        killed = kill_when(proc, when(path))
        mid_way += killed
        FIGURES["kills that interrupted a running job"] += killed
        FIGURES["import kills"] += 1
        db = check_opens_cleanly(path)
        after = rows_digest(db, "gen")
        assert after == version_a or after[:2] == (N_ITEMS, N_INTER), f"a partial import after a kill at {name}"
        if killed:
            assert after == version_a, f"killed at {name} while running, yet the import is there"
        assert rows_digest(db, "m") == movies
        assert "_import_log" not in db.table_names()
        db.conn.close()
        FIGURES["crashes survived"] += 1
    assert mid_way >= 2, "the kills came too late to interrupt the import"
    # and the import then runs through on the crashed file
    out = spawn([*args, "--db", str(path)]).communicate(timeout=300)
    assert "imported csv dataset 'gen'" in out[0], out[1][-2000:]
    assert rows_digest(check_opens_cleanly(path), "gen")[:2] == (N_ITEMS, N_INTER)


@pytest.mark.slow
def test_sigkill_during_a_real_movielens_import(tmp_path, ml100k_dir, spawn):
    path = tmp_path / "ml.db"
    dbmod.connect(path).conn.close()
    args = ["-m", "recsys", "import", "shared", "ml-100k", "--data-dir", str(ml100k_dir.parent), "--quiet",
            "--db", str(path)]
    killed = kill_when(spawn(args), lambda: wal_size(path) > 200_000)
    FIGURES["import kills"] += 1
    FIGURES["kills that interrupted a running job"] += killed
    db = check_opens_cleanly(path)
    got = rows_digest(db, "ml-100k")[:2]
    assert got in ((0, 0), (1682, 100_000))
    if killed:
        assert got == (0, 0) and db["datasets"].count == 0
    FIGURES["crashes survived"] += 1
    db.conn.close()
    import_movielens(dbmod.connect(path), "ml-100k", ml100k_dir)  # resumes: runs through on the same file
    assert rows_digest(check_opens_cleanly(path), "ml-100k")[:2] == (1682, 100_000)


def test_sigkill_while_filling_the_pair_cache_then_resume(db_file, worker, tmp_path):
    """PairScorer commits each history item's row on its own: a kill loses at most the row in progress, the
    file stays sound, and a second run scores only what is missing."""
    from reliability.workers import pair_texts

    go = tmp_path / "go"
    go.touch()
    n_x, n_y = 30, 20
    proc = worker("pairs", db_file, go, n_x, n_y, 0.05)
    count = lambda: dbmod.connect(db_file).execute("SELECT count(*) FROM pair_scores").fetchone()[0]  # noqa: E731
    assert kill_when(proc, lambda: count() >= 5 * n_y, timeout=60), "the worker finished before the kill"
    FIGURES["pair-cache kills"] += 1
    FIGURES["kills that interrupted a running job"] += 1
    db = check_opens_cleanly(db_file)
    stored = count()
    assert stored % n_y == 0 and 5 * n_y <= stored < (n_x + 1) * n_y  # whole rows only
    FIGURES["crashes survived"] += 1

    backend = FakeBackend()
    scorer = PairScorer(lambda: backend, "fake", db)
    xs, ys = pair_texts(n_x, n_y)
    ell, neutral = scorer.matrix(TEMPLATES["movie"], xs, ys, neutral=True)
    assert scorer.computed == (n_x + 1) * n_y - stored  # resumed: only the missing pairs were scored
    assert count() == (n_x + 1) * n_y
    # and what the killed run stored equals what a clean run computes
    clean = PairScorer(FakeBackend, "fake", None).matrix(TEMPLATES["movie"], xs, ys, neutral=True)
    np.testing.assert_allclose(ell, clean[0])
    np.testing.assert_allclose(neutral, clean[1])



@pytest.mark.slow
def test_sigkill_during_a_real_precompute_then_resume(db_file, spawn):
    """`python -m recsys precompute` with the real SmolLM2 on the 10-movie catalog: killed once ℓ(y|∅) is stored,
    the file is sound, whole transactions only, and the second run scores exactly what is missing."""
    pytest.importorskip("recsys.precompute", reason="the precompute command is not built yet")
    args = ["-m", "recsys", "precompute", "--db", str(db_file), "--neighbours", "9", "--quiet"]
    total = 10 + 10 * 9  # ℓ(y|∅) of every item, then each item with its 9 neighbours
    count = lambda: dbmod.connect(db_file).execute("SELECT count(*) FROM pair_scores").fetchone()[0]  # noqa: E731
    killed = kill_when(spawn(args), lambda: count() >= 10, timeout=240)
    stored = count()
    FIGURES["precompute kills"] += 1
    FIGURES["kills that interrupted a running job"] += killed
    check_opens_cleanly(db_file)
    assert killed and 10 <= stored < total, (killed, stored)
    assert (stored - 10) % 9 == 0  # the neutral chunk and each item's row were committed whole
    FIGURES["crashes survived"] += 1
    out, err = spawn(args).communicate(timeout=300)
    assert f"{total} pairs, {total - stored} scored now ({stored} already cached)" in out, (out, err[-2000:])
    assert count() == total
