"""The candidate prior π(y): smoothed popularity counts of one dataset, read once, used by serving and evaluation.

Serving reads `items.popularity` (what precedes the test targets: everything a deployed system may know). An
evaluation on the validation targets reads the counts that precede those (`datasets.streams.split_counts`), so
tuning never sees a validation target in the prior. Either way the same clean-up and the same smoothing apply.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .catalog import Catalog
from .fuse import log_prior

MAX_COUNT = 1e15  # popularity is a count: larger values (inf, 1e308) are clamped so that sums stay finite


def clean_counts(values) -> np.ndarray:
    """Popularity counts as finite numbers in [0, MAX_COUNT] (NaN, negative: 0)."""
    return np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=MAX_COUNT, neginf=0.0).clip(0, MAX_COUNT)


@dataclass(frozen=True)
class Popularity:
    """Clean counts per item id of one dataset, their total and the number of items (the smoothing terms)."""

    counts: Mapping[str, float]
    total: float
    n_items: int
    source: str  # what was counted, for reports

    @classmethod
    def from_counts(cls, ids: Sequence[str], counts: Mapping[str, float], source: str) -> "Popularity":
        values = clean_counts([counts.get(i, 0.0) for i in ids])
        return cls(dict(zip(ids, values.tolist())), float(values.sum()), len(ids), source)

    def log_prior(self, ids: Sequence[str]) -> np.ndarray:
        """log π(y) of each id (an id the dataset does not hold counts 0)."""
        return log_prior(np.array([self.counts.get(i, 0.0) for i in ids]), self.total, self.n_items)

    @cached_property
    def ranked(self) -> list[str]:
        """Every id, most popular first, ties by id."""
        return sorted(self.counts, key=lambda i: (-self.counts[i], i))

    def top(self, n: int, exclude: Iterable[str] = (), allowed: set[str] | None = None) -> list[str]:
        """The n most popular ids outside `exclude` (and inside `allowed`, where given)."""
        banned = set(exclude)
        out = []
        for i in self.ranked:
            if len(out) >= n:
                break
            if i not in banned and (allowed is None or i in allowed):
                out.append(i)
        return out


def popularity(catalog: Catalog, dataset: str, split: str = "test") -> Popularity:
    """The prior of `dataset` for requests and test targets (`split="test"`) or for validation targets."""
    if split == "test":
        rows = catalog.db.execute("SELECT id, popularity FROM items WHERE dataset = ? ORDER BY rowid", [dataset])
        counts = {i: (p if p is not None else 0.0) for i, p in rows}
        return Popularity.from_counts(list(counts), counts, "items.popularity: interactions before the test targets")
    from .datasets.streams import split_counts

    return Popularity.from_counts(catalog.dataset_ids(dataset), split_counts(catalog.db, dataset, split),
                                  f"interactions before the {split} targets")
