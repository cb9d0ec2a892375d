"""Evaluation samples of an imported dataset, whatever its form: (user, history oldest first, target).

A sequential dataset (RecBole/UniSRec `.inter` files) already holds them, one per row of a split. A log
(MovieLens, CSV, plain `.inter`) gives leave-one-out samples: each user's last interaction is the `test` target
and the one before it the `valid` target; where the files carried a split, each row of that split is a target and
everything the user did before it is the history.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby

import sqlite_utils

from ..errors import ConfigError, RecsysError
from .streams import rebuild, sequence_rows


@dataclass(frozen=True)
class Sample:
    user_id: str
    history: tuple[str, ...]  # namespaced item ids, oldest first
    target: str
    stream: str = ""  # samples of one stream are not independent (lastfm's windows): the bootstrap unit

def eval_samples(db: sqlite_utils.Database, dataset: str, split: str = "test",
                 max_history: int | None = 50) -> Iterator[Sample]:
    """Yield the dataset's evaluation samples of `split` ('test' or 'valid'), histories cut to the last
    `max_history` items; users with no history before their target are left out."""
    if split not in ("test", "valid", "train"):
        raise ConfigError(f"split must be train, valid or test, not {split!r}")
    if db.execute("SELECT 1 FROM datasets WHERE name = ?", [dataset]).fetchone() is None:
        raise RecsysError(f"unknown dataset {dataset!r}")
    cut = (lambda h: tuple(h[-max_history:])) if max_history else tuple
    if db.execute("SELECT 1 FROM sequences WHERE dataset = ? LIMIT 1", [dataset]).fetchone():
        rows = sequence_rows(db, dataset, [split])
        _, stream_of = rebuild(rows)
        for (user, history, target), stream in zip(rows, stream_of):
            if history:
                yield Sample(user, cut(history), target, f"{split}-stream-{stream}")
        return
    labelled = db.execute("SELECT 1 FROM interactions WHERE dataset = ? AND split IS NOT NULL LIMIT 1",
                          [dataset]).fetchone() is not None
    if not labelled and split == "train":
        raise ConfigError("a log without a split has leave-one-out samples for 'test' and 'valid' only")
    rows = db.execute("SELECT user_id, item_id, split FROM interactions WHERE dataset = ? ORDER BY user_id, rowid",
                      [dataset])
    for user, group in groupby(rows, key=lambda r: r[0]):
        seq = list(group)
        if labelled:
            for i, (_, item, s) in enumerate(seq):
                if s == split and i > 0:
                    yield Sample(user, cut([r[1] for r in seq[:i]]), item, user)
        else:
            end = len(seq) - (1 if split == "test" else 2)
            if end >= 1:
                yield Sample(user, cut([r[1] for r in seq[:end]]), seq[end][1], user)


def candidate_lists(db: sqlite_utils.Database, dataset: str, name: str = "default") -> dict[str, list[str]]:
    """An imported candidate set: user id -> candidate item ids (namespaced)."""
    rows = db.execute("SELECT user_id, items FROM candidates WHERE dataset = ? AND name = ?", [dataset, name])
    out = {user: json.loads(items) for user, items in rows}
    if not out:
        names = [r[0] for r in db.execute("SELECT DISTINCT name FROM candidates WHERE dataset = ?", [dataset])]
        raise RecsysError(f"no candidate set {name!r} for dataset {dataset!r} (it has: {', '.join(names) or 'none'})")
    return out
