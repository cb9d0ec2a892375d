"""Several people at once: 20 threads, then 4 processes, each write 200 feedback/review records while others read
and run recommendations on the same SQLite file. Every record must be there afterwards, none duplicated, and no
"database is locked" (or any other error) may surface."""
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from fakes import FakeModels

from recsys import db as dbmod
from recsys.catalog import Catalog
from recsys.recommend import recommend
from recsys.store import Store
from recsys.types import Query
from reliability.figures import FIGURES

RECORDS = 200


def records_by_tag(db) -> Counter:
    """(tag, k) -> how many times that record is stored, over feedback and labels."""
    seen: Counter = Counter()
    for (note,) in db.execute("SELECT note FROM feedback UNION ALL SELECT note FROM review_labels"):
        seen[note] += 1
    return seen


def check_all_there(db, tags: list[str], label: str) -> None:
    seen = records_by_tag(db)
    expected = {f"{tag}:{k}" for tag in tags for k in range(RECORDS)}
    missing = expected - set(seen)
    duplicated = {k: n for k, n in seen.items() if n > 1}
    FIGURES[f"{label} written"] += len(expected)
    FIGURES[f"{label} lost"] += len(missing)
    assert not missing, f"{len(missing)} records lost, e.g. {sorted(missing)[:5]}"
    assert not duplicated, f"duplicated records: {list(duplicated.items())[:5]}"
    assert set(seen) == expected
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_20_threads_write_while_others_read_and_recommend(db_file):
    from reliability.workers import read_and_recommend, write_records

    writers = [f"t{i}" for i in range(20)]
    errors: list[BaseException] = []
    start = threading.Barrier(20 + 4)
    models = FakeModels()  # one process-wide Models, as in the app

    def guarded(fn, *args):
        try:
            start.wait()
            fn(*args)
        except BaseException as e:  # noqa: BLE001 - every error is a failure of the test
            errors.append(e)

    def recommender(r0: int):
        catalog = Catalog(dbmod.connect(db_file))  # one connection per thread
        ids = catalog.dataset_ids("m")
        for r in range(30):
            history = tuple(dict.fromkeys([ids[(r0 + r) % 10], ids[(r0 + 3 * r + 1) % 10]]))
            assert recommend(catalog, Query(history=history, top=5), models).recommendations
            Store(catalog.db).feedback()

    threads = [threading.Thread(target=guarded, args=(write_records, str(db_file), tag, RECORDS)) for tag in writers]
    threads += [threading.Thread(target=guarded, args=(recommender, r0)) for r0 in range(2)]
    threads += [threading.Thread(target=guarded, args=(read_and_recommend, str(db_file), 30)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not [t for t in threads if t.is_alive()], "a thread hung"
    assert not errors, f"{len(errors)} thread(s) failed, first: {errors[0]!r}"
    check_all_there(dbmod.connect(db_file), writers, "threads")


@pytest.mark.slow
def test_4_processes_write_while_others_read_and_recommend(db_file, worker, tmp_path):
    go = tmp_path / "go"
    writers = [f"p{i}" for i in range(4)]
    procs = [worker("write", db_file, go, tag, RECORDS) for tag in writers]
    procs += [worker("read", db_file, go, 40) for _ in range(2)]
    time.sleep(0.5)
    go.touch()
    failures = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        if p.returncode != 0:
            failures.append(err[-2000:])
    assert not failures, failures[0]
    assert not any("locked" in f for f in failures)
    check_all_there(dbmod.connect(db_file), writers, "processes")


def test_connect_races_on_a_fresh_file(tmp_path):
    """20 threads create and migrate the same new database at once: one schema, no error."""
    path = tmp_path / "fresh.db"
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def open_it():
        try:
            start.wait()
            db = dbmod.connect(path)
            Store(db).add_feedback("s", "x", "like", {}, "m")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, repr(errors[0])
    db = dbmod.connect(path)
    assert dbmod.schema_version(db) == dbmod.SCHEMA_VERSION
    assert db.execute("SELECT count(*) FROM feedback").fetchone()[0] == 20
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
