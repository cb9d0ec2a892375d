"""Interactions as they happened, rebuilt from an imported dataset: the popularity a split may know, and streams.

Sequential files hold one row per (history, target): UniSRec's training file has a row per prefix of each user's
sequence, and lastfm's rows are sliding windows of listening streams with a fresh id per row. Counting history
items row by row counts an early event once per later row. So rows are first merged back into streams — rows of
one user id, or a row whose history (of two or more items) is the tail of the previous row's stream, the window
rule — and every event of a stream counts once.

The prior of a split counts only what precedes that split's targets:
- sequential files: the rows of the earlier splits (`test`: train + valid rows; `valid`: train rows);
- logs with a split column: the rows of the earlier splits (rows without a split count as training);
- logs without one (leave-one-out): every interaction but each user's last (`test`) or last two (`valid`).
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence

import sqlite_utils

from ..errors import ConfigError

SPLITS = ("train", "valid", "test")


def _earlier(split: str) -> tuple[str, ...]:
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    return SPLITS[:SPLITS.index(split)]


def _is_tail(history: Sequence[str], stream: Sequence[str]) -> bool:
    return len(history) <= len(stream) and list(stream[len(stream) - len(history):]) == list(history)


def rebuild(rows: Iterable[tuple[str, Sequence[str], str]]) -> tuple[list[list[str]], list[int]]:
    """(streams, stream index of each row) from (user, history, target) rows in file order.

    A row joins the stream of its user id when that id was seen, else the previous row's stream when its history
    (two or more items) ends that stream (a sliding window), else it starts a stream. Joining extends the stream
    by what the row adds beyond their overlap: nothing for a shorter prefix, the target for a window.
    """
    streams: list[list[str]] = []
    of_row: list[int] = []
    by_user: dict[str, int] = {}
    for user, history, target in rows:
        full = [*history, target]
        sid = by_user.get(user)
        if sid is None and of_row and len(history) >= 2 and _is_tail(history, streams[of_row[-1]]):
            sid = of_row[-1]
        if sid is None:
            sid = len(streams)
            streams.append(full)
        else:
            seq = streams[sid]
            if seq[:len(full)] != full:  # else: a prefix of what the stream already holds
                overlap = next(k for k in range(min(len(seq), len(full)), -1, -1) if _is_tail(full[:k], seq))
                seq.extend(full[overlap:])
        by_user.setdefault(user, sid)
        of_row.append(sid)
    return streams, of_row


def sequence_rows(db: sqlite_utils.Database, dataset: str, splits: Sequence[str]) -> list[tuple[str, list[str], str]]:
    """(user, history, target) of the dataset's sequence rows in `splits`, split by split in file order."""
    out = []
    for split in splits:
        out += [(u, json.loads(h), t) for u, h, t in db.execute(
            "SELECT user_id, history, target FROM sequences WHERE dataset = ? AND split = ? ORDER BY row",
            [dataset, split])]
    return out


def split_counts(db: sqlite_utils.Database, dataset: str, split: str = "test") -> Counter[str]:
    """Item id -> interactions that precede the targets of `split` (each event once; see the module docstring)."""
    earlier = _earlier(split)
    if db.execute("SELECT 1 FROM sequences WHERE dataset = ? LIMIT 1", [dataset]).fetchone():
        streams, _ = rebuild(sequence_rows(db, dataset, earlier))
        return Counter(item for seq in streams for item in seq)
    labelled = db.execute("SELECT 1 FROM interactions WHERE dataset = ? AND split IS NOT NULL LIMIT 1",
                          [dataset]).fetchone() is not None
    if labelled:
        marks = ",".join("?" * len(earlier)) or "NULL"
        rows = db.execute(f"SELECT item_id, count(*) FROM interactions WHERE dataset = ? AND (split IS NULL OR "
                          f"split IN ({marks})) GROUP BY item_id", [dataset, *earlier])
        return Counter(dict(rows.fetchall()))
    drop = {"train": None, "valid": 2, "test": 1}[split]
    if drop is None:
        raise ConfigError("a log without a split has leave-one-out targets for 'test' and 'valid' only")
    counts: Counter[str] = Counter()
    user, seq = None, []
    for u, item in db.execute("SELECT user_id, item_id FROM interactions WHERE dataset = ? ORDER BY user_id, rowid",
                              [dataset]):
        if u != user:
            counts.update(seq[:len(seq) - drop])
            user, seq = u, []
        seq.append(item)
    counts.update(seq[:len(seq) - drop])
    return counts
