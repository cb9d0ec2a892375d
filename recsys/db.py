"""Opening the SQLite database, and its schema as numbered migrations.

One connection per thread or request: `connect()` is cheap. WAL mode and a busy timeout let readers and
writers (app sessions, a precompute job, raters) share one file.
"""
from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Callable

import sqlite_utils

from .errors import RecsysError

log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 30_000


class DatabaseError(RecsysError):
    """The database file cannot be opened or used (not SQLite, damaged, unwritable, a folder)."""


def _v1(db: sqlite_utils.Database) -> None:
    db["datasets"].create(
        {"name": str, "domain": str, "source": str, "created": str, "counts": str, "split": int},
        pk="name",
    )
    db["items"].create(
        {
            "id": str, "dataset": str, "domain": str, "source_id": str, "title": str, "description": str,
            "tags": str, "creator": str, "year": int, "popularity": float,
        },
        pk="id",
    )
    db["items"].create_index(["dataset"])
    db["interactions"].create(
        {"dataset": str, "user_id": str, "item_id": str, "timestamp": float, "rating": float, "split": str},
    )
    db["interactions"].create_index(["dataset", "user_id"])
    # Sequential datasets (RecBole / UniSRec .inter files): one row per sample, history oldest first.
    db["sequences"].create(
        {"dataset": str, "split": str, "row": int, "user_id": str, "history": str, "target": str},
        pk=("dataset", "split", "row"),
    )
    db["embeddings"].create(
        {"model": str, "item_id": str, "text_hash": str, "dim": int, "vector": bytes},
        pk=("model", "item_id"),
    )
    # ℓ(y|x) keyed by model, template and the hashes of both texts; x_hash '' is the neutral context ∅.
    db["pair_scores"].create(
        {"model": str, "template": str, "x_hash": str, "y_hash": str, "logprob": float, "n_tokens": int},
        pk=("model", "template", "x_hash", "y_hash"),
    )
    db["sessions"].create(
        {"id": str, "created": str, "user": str, "history": str, "settings": str, "model": str}, pk="id",
    )
    db["feedback"].create(
        {"id": str, "session_id": str, "created": str, "item_id": str, "value": str, "note": str,
         "settings": str, "model": str},
        pk="id",
    )
    db["feedback"].create_index(["session_id"])


def _v2(db: sqlite_utils.Database) -> None:
    # Imported candidate lists (LLMRank form): one ranked-candidate set per user, items a JSON list of ids.
    db["candidates"].create(
        {"dataset": str, "name": str, "user_id": str, "items": str}, pk=("dataset", "name", "user_id"),
    )


def _v3(db: sqlite_utils.Database) -> None:
    # Manual evaluation (the app's Review page). The ranked list each configuration showed for a scenario, so a
    # label or a judgement can be read back against what the rater saw.
    db["review_lists"].create(
        {"scenario": str, "config_key": str, "scenario_label": str, "history": str, "config_name": str,
         "config": str, "model": str, "items": str, "created": str},
        pk=("scenario", "config_key"),
    )
    # One relevance label per rater, scenario and item: relevant | not_relevant | unsure.
    db["review_labels"].create(
        {"rater": str, "scenario": str, "item_id": str, "label": str, "note": str, "created": str, "updated": str},
        pk=("rater", "scenario", "item_id"),
    )
    # Blind A/B: configurations x and y (keys in canonical order), which one was shown as A, the choice x|y|tie.
    db["judgements"].create(
        {"rater": str, "scenario": str, "x_key": str, "y_key": str, "x_name": str, "y_name": str,
         "shown_as_a": str, "choice": str, "note": str, "created": str, "updated": str},
        pk=("rater", "scenario", "x_key", "y_key"),
    )


def _v4(db: sqlite_utils.Database) -> None:
    # Offline evaluations (`python -m recsys evaluate`, the Evaluate page): what ran and its full result as JSON
    # (metrics, intervals, per-user ranks, thinned ROC/PR curves), so a run can be listed and reloaded.
    db["evaluations"].create(
        {"id": str, "created": str, "dataset": str, "protocol": str, "split": str, "users": int, "methods": str,
         "settings": str, "result": str},
        pk="id",
    )
    db["evaluations"].create_index(["dataset", "protocol"])


def _v5(db: sqlite_utils.Database) -> None:
    # The popularity of imported datasets is recounted: earlier imports counted sequence rows (an event once per
    # later row, lastfm's test windows included) and ordered same-second ratings by item id.
    from .datasets.common import set_popularity

    for (dataset,) in db.execute("SELECT DISTINCT dataset FROM sequences UNION SELECT DISTINCT dataset FROM "
                                 "interactions").fetchall():
        set_popularity(db, dataset)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: str | Path | None = None, *, memory: bool = False) -> sqlite_utils.Database:
    """Open (creating if needed) and migrate the database; a new connection each call, for one thread or request.

    A file that is not SQLite, is damaged, is a folder or cannot be created raises DatabaseError naming it.
    """
    if memory:
        db = sqlite_utils.Database(memory=True)
        _configure(db, "memory")
        migrate(db)
        return db
    if path is None:
        raise DatabaseError("no database path given (pass memory=True for a temporary one)")
    path = Path(path)
    if path.is_dir():
        raise DatabaseError(f"{path} is a folder, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatabaseError(f"cannot create the folder of the database {path}: {e.strerror or e}") from None
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    db = sqlite_utils.Database(conn)
    try:
        _configure(db, "wal")
        migrate(db)
        version = schema_version(db)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise _explain(path, e) from None
    if version > SCHEMA_VERSION:
        log.warning("%s has schema v%d, newer than this version's v%d; opened as is", path, version, SCHEMA_VERSION)
    return db


def _configure(db: sqlite_utils.Database, journal: str) -> None:
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if journal == "wal":
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":  # e.g. a file system without shared memory: still correct, fewer concurrent readers
            log.warning("the database could not switch to WAL mode (journal mode %s)", mode)
    db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a crash of the process never loses a commit


def _explain(path: Path, e: sqlite3.DatabaseError) -> Exception:
    """The sqlite3 errors a person can act on, as a DatabaseError; others (e.g. a lock timeout) unchanged."""
    text = str(e)
    if "not a database" in text or "malformed" in text or "file is encrypted" in text:
        return DatabaseError(f"{path} is not a usable SQLite database ({text}); restore it from a backup or "
                             "move it away to start a new one")
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return DatabaseError(f"cannot open {path} for writing ({text}); check the file's permissions")
    return e


def schema_version(db: sqlite_utils.Database) -> int:
    if "meta" not in db.table_names():
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite_utils.Database) -> None:
    """Apply the migrations this database lacks, each in its own transaction."""
    version = schema_version(db)
    if version >= SCHEMA_VERSION:
        return
    with db.conn:
        db.execute("BEGIN IMMEDIATE")
        version = schema_version(db)  # another process may have migrated meanwhile
        for step in MIGRATIONS[version:]:
            step(db)
        db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
