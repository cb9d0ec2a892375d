"""The database file: older schemas migrate in place keeping their data, a failed migration changes nothing, and a
file that is not a usable database gets a clear error and is left byte-for-byte as it was."""
from __future__ import annotations

import logging
import os
import sqlite3

import pytest
import sqlite_utils

from recsys import db as dbmod
from recsys.catalog import Catalog, make_item
from recsys.db import DatabaseError
from recsys.store import Store


def old_database(path, version: int) -> None:
    """A database as version `version` of the code left it: its migrations only, and some data."""
    db = sqlite_utils.Database(path)
    for step in dbmod.MIGRATIONS[:version]:
        step(db)
    db["meta"].insert({"key": "schema_version", "value": str(version)}, pk="key")
    Catalog(db).add_items([make_item({"id": "m:old", "title": "Old Movie", "popularity": 3}, "m", "movies")])
    db["feedback"].insert({"id": "f1", "session_id": "s", "item_id": "m:old", "value": "like"})
    db.conn.close()


@pytest.mark.parametrize("version", range(1, dbmod.SCHEMA_VERSION))
def test_an_older_database_opens_migrated_with_its_data(tmp_path, version):
    path = tmp_path / f"v{version}.db"
    old_database(path, version)
    db = dbmod.connect(path)
    assert dbmod.schema_version(db) == dbmod.SCHEMA_VERSION
    assert {"candidates", "review_labels", "judgements", "evaluations"} <= set(db.table_names())
    assert Catalog(db).require(["m:old"])[0].title == "Old Movie"
    assert [f["id"] for f in Store(db).feedback()] == ["f1"]
    Store(db).save_label("ann", "s", "m:old", "relevant")  # the new tables work
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    dbmod.connect(path)  # and opening again is a no-op
    assert dbmod.schema_version(dbmod.connect(path)) == dbmod.SCHEMA_VERSION


def test_a_failed_migration_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "v3.db"
    old_database(path, 3)

    def broken(db):
        db["half_done"].create({"x": int})
        raise sqlite3.OperationalError("disk I/O error (simulated in the middle of a migration)")

    monkeypatch.setattr(dbmod, "MIGRATIONS", [*dbmod.MIGRATIONS[:3], broken])
    monkeypatch.setattr(dbmod, "SCHEMA_VERSION", 4)
    with pytest.raises(sqlite3.OperationalError, match="simulated"):
        dbmod.connect(path)
    monkeypatch.undo()
    raw = sqlite_utils.Database(path)
    assert "half_done" not in raw.table_names() and "evaluations" not in raw.table_names()
    assert dbmod.schema_version(raw) == 3
    assert dbmod.schema_version(dbmod.connect(path)) == dbmod.SCHEMA_VERSION  # the real migration then works


def test_a_newer_database_opens_as_is_with_a_warning(tmp_path, caplog):
    path = tmp_path / "new.db"
    dbmod.connect(path).execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with caplog.at_level(logging.WARNING, logger="recsys.db"):
        db = dbmod.connect(path)
    assert dbmod.schema_version(db) == 99 and "newer" in caplog.text


def half_a_database(path):
    full = path.with_name("full.db")
    c = Catalog(dbmod.connect(full))
    c.add_items([make_item({"id": f"m:{i}", "title": f"Movie {i}" * 20}, "m", "movies") for i in range(3000)])
    c.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.db.conn.close()
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage_header(path):
    good = path.with_name("good.db")
    dbmod.connect(good).conn.close()
    data = bytearray(good.read_bytes())
    data[16:24] = b"\xff" * 8  # page size and format bytes
    path.write_bytes(bytes(data))


BAD_FILES = {
    "text": lambda p: p.write_text("id,title\n1,Toy Story\n", encoding="utf-8"),
    "random bytes": lambda p: p.write_bytes(os.urandom(4096)),
    "a truncated database": half_a_database,
    "a damaged header": garbage_header,
    "a csv named .db": lambda p: p.write_bytes(b"SQLite format 2\x00" + b"x" * 200),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_file_that_is_not_a_usable_database_is_named_and_untouched(tmp_path, kind):
    path = tmp_path / "recsys.db"
    BAD_FILES[kind](path)
    before = path.read_bytes()
    with pytest.raises(DatabaseError) as e:
        dbmod.connect(path)
    assert str(path) in str(e.value) and "not a usable SQLite database" in str(e.value)
    assert path.read_bytes() == before
    assert not path.with_name("recsys.db-wal").exists() or path.with_name("recsys.db-wal").stat().st_size == 0


def test_a_folder_or_no_path_is_named(tmp_path):
    with pytest.raises(DatabaseError, match="is a folder"):
        dbmod.connect(tmp_path)
    with pytest.raises(DatabaseError, match="no database path"):
        dbmod.connect(None)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatabaseError, match="cannot create the folder"):
        dbmod.connect(blocker / "sub" / "x.db")


def test_wal_and_busy_timeout_are_on_for_every_connection(tmp_path):
    db = dbmod.connect(tmp_path / "x.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == dbmod.BUSY_TIMEOUT_MS
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_a_writer_waits_for_a_long_transaction_instead_of_failing(tmp_path):
    """One connection holds the write lock for a while; another's write waits (busy timeout) and succeeds."""
    import threading
    import time

    path = tmp_path / "x.db"
    holder = dbmod.connect(path)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO meta (key, value) VALUES ('held', '1')")
    done = threading.Event()

    def writer():
        Store(dbmod.connect(path)).add_feedback("s", "i", "like", {}, "m")
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.5)
    assert not done.is_set()  # waiting, not failed
    holder.conn.commit()
    t.join(timeout=30)
    assert done.is_set()
    assert Store(dbmod.connect(path)).feedback()[0]["item_id"] == "i"
