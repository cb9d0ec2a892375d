"""Child processes of the reliability tests, run as `python tests/reliability/workers.py KIND DB ...`.

Each worker waits for a `go` file (so all of them hammer the database at the same time), does its work, and
exits 0, or prints the error and exits 1. Nothing here is a fake of what is being tested: real SQLite, the real
store and the real `recommend()` (with the hash-based fake LM, since concurrency is what is under test).
"""
from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path


def wait_for(go: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not go.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{go} never appeared")
        time.sleep(0.01)


def write_records(db_path: str, tag: str, n: int) -> None:
    """n records: even k a feedback row, odd k a relevance label, each marked with (tag, k)."""
    from recsys.db import connect
    from recsys.store import Store

    store = Store(connect(db_path))
    for k in range(n):
        if k % 2 == 0:
            store.add_feedback(f"session-{tag}", f"m:item-{k}", "like", {"k": k}, "fake", note=f"{tag}:{k}")
        else:
            store.save_label(f"rater-{tag}", "scenario", f"m:item-{k}", "relevant", note=f"{tag}:{k}")
        if k % 25 == 0:
            store.feedback(f"session-{tag}")  # a reader in the middle of the writes


def read_and_recommend(db_path: str, rounds: int) -> None:
    from fakes import FakeModels

    from recsys.catalog import Catalog
    from recsys.db import connect
    from recsys.recommend import recommend
    from recsys.store import Store
    from recsys.types import Query

    catalog = Catalog(connect(db_path))
    store = Store(catalog.db)
    models = FakeModels()
    ids = catalog.dataset_ids("m")
    for r in range(rounds):
        history = (ids[r % len(ids)], ids[(r * 3 + 1) % len(ids)])
        if history[0] != history[1]:
            result = recommend(catalog, Query(history=history, top=5), models)
            assert result.recommendations
        store.feedback()
        store.labels()


def score_pairs(db_path: str, n_x: int, n_y: int, delay: float) -> None:
    """Fill the pair cache for n_x history texts × n_y candidates, one history row per transaction, slowly."""
    from fakes import FakeBackend

    from recsys.db import connect
    from recsys.scoring import PairScorer
    from recsys.text import TEMPLATES

    class Slow(FakeBackend):
        def score(self, prefix, continuations):
            time.sleep(delay)
            return super().score(prefix, continuations)

    scorer = PairScorer(Slow, "fake", connect(db_path))
    xs, ys = pair_texts(n_x, n_y)
    scorer.matrix(TEMPLATES["movie"], xs, ys, neutral=True)


def pair_texts(n_x: int, n_y: int) -> tuple[list[str], list[str]]:
    return [f"Liked film {i}" for i in range(n_x)], [f"Candidate film {j}" for j in range(n_y)]


def main(argv: list[str]) -> int:
    kind, db_path, go = argv[1], argv[2], Path(argv[3])
    try:
        wait_for(go)
        if kind == "write":
            write_records(db_path, argv[4], int(argv[5]))
        elif kind == "read":
            read_and_recommend(db_path, int(argv[4]))
        elif kind == "pairs":
            score_pairs(db_path, int(argv[4]), int(argv[5]), float(argv[6]))
        else:
            raise SystemExit(f"unknown worker {kind!r}")
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
