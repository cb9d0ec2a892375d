"""Tiny evaluation datasets built in memory: a timestamped log (MovieLens-like) and sequential rows (RecBole-like)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.catalog import Catalog, make_item
from recsys.db import connect

GENRES = ["comedy", "drama", "horror", "animation", "romance", "crime"]


def make_log(n_items: int = 60, n_users: int = 30, seed: int = 1) -> Catalog:
    """Dataset 'toy': items toy:1..n with genre tags; each user rates 6-15 distinct items in time order."""
    catalog = Catalog(connect(memory=True))
    rng = np.random.default_rng(seed)
    items = [make_item({"id": f"toy:{k}", "source_id": str(k), "title": f"Film {k} {GENRES[k % 6].title()} Story",
                        "tags": GENRES[k % 6]}, dataset="toy", domain="movies") for k in range(1, n_items + 1)]
    rows = []
    for u in range(1, n_users + 1):
        seq = rng.choice(np.arange(1, n_items + 1), size=int(rng.integers(6, 16)), replace=False)
        rows += [{"dataset": "toy", "user_id": str(u), "item_id": f"toy:{k}", "timestamp": float(t), "rating": 4.0,
                  "split": None} for t, k in enumerate(seq)]
    with catalog.db.conn:
        catalog.add_items(items)
        catalog.add_interactions(rows)
        catalog.add_dataset("toy", domain="movies", source="tests")
        # popularity without the leave-one-out targets, as the importers compute it
        last = {}
        for r in rows:
            last[r["user_id"]] = r["item_id"]
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["item_id"]] = counts.get(r["item_id"], 0) + 1
        for t in last.values():
            counts[t] -= 1
        catalog.db.conn.executemany("UPDATE items SET popularity = ? WHERE id = ?", [(n, i) for i, n in counts.items()])
    return catalog


@pytest.fixture
def log_catalog() -> Catalog:
    return make_log()


@pytest.fixture
def seq_catalog() -> Catalog:
    """Dataset 'seq': 40 artists; test rows te0..te9 with histories and targets, a few valid and train rows."""
    catalog = Catalog(connect(memory=True))
    items = [make_item({"id": f"seq:{k}", "source_id": str(k), "title": f"Artist {k}"}, dataset="seq", domain="music")
             for k in range(40)]
    rows = []
    for r in range(10):
        hist = [f"seq:{(r + j) % 40}" for j in range(1 + r % 4)]
        rows.append(("seq", "test", r, f"te{r}", json.dumps(hist), f"seq:{(r + 7) % 40}"))
        rows.append(("seq", "valid", r, f"va{r}", json.dumps(hist[:-1] or hist), f"seq:{(r + 5) % 40}"))
    with catalog.db.conn:
        catalog.add_items(items)
        catalog.db.conn.executemany("INSERT INTO sequences VALUES (?,?,?,?,?,?)", rows)
        catalog.add_dataset("seq", domain="music", source="tests")
    return catalog
