"""Ranking metrics for one held-out target per user, bootstrap intervals, and ROC / PR over candidate scores.

Everything here is pure numpy and works on ranks (1 = best) or on (scores, labels); the tests check each function
against cases computed by hand. Ranks break ties by candidate position: the protocols shuffle candidates with a
fixed seed, so this is a random tie-break that never rewards a method for giving many candidates the same score.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KS = (1, 5, 10, 20)
# The metrics in the report, in order; all are means over users, reported in percent.
RANK_METRICS = tuple(f"{m}@{k}" for m in ("ndcg", "hr") for k in KS) + ("mrr",)
SEED_METRICS = tuple(f"{m}@{k}" for k in (1, 5, 10) for m in ("precision", "recall", "f1"))


def target_rank(scores: np.ndarray, target: int) -> int:
    """1-based rank of candidate `target`: 1 + candidates scoring higher + equal-scoring ones listed before it.

    NaN scores rank last. A target scored -inf (outside a retrieved pool) still gets a rank, behind every finite one.
    """
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    t = s[target]
    return int(1 + np.sum(s > t) + np.sum(s[:target] == t))


def ndcg_at(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per user: 1 / log2(rank + 1) when the single relevant item is in the top k, else 0 (the ideal DCG is 1)."""
    r = np.asarray(ranks, dtype=np.float64)
    return np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0)


def hr_at(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per user: 1 when the target is in the top k (hit rate; with one target it is also recall@k)."""
    return (np.asarray(ranks) <= k).astype(np.float64)


def reciprocal_rank(ranks: np.ndarray) -> np.ndarray:
    return 1.0 / np.asarray(ranks, dtype=np.float64)


def precision_recall_f1_at(ranks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The seed's P/R/F1@k per user with one relevant item: P = hit/k, R = hit, F1 = 2PR/(P+R) (0 on a miss)."""
    hit = hr_at(ranks, k)
    p, r = hit / k, hit
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(hit > 0, 2 * p * r / (p + r), 0.0)
    return p, r, f1


def per_user(ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Every rank metric and the seed's P/R/F1, per user (fractions, not percent)."""
    ranks = np.asarray(ranks)
    out = {}
    for k in KS:
        out[f"ndcg@{k}"] = ndcg_at(ranks, k)
    for k in KS:
        out[f"hr@{k}"] = hr_at(ranks, k)
    out["mrr"] = reciprocal_rank(ranks)
    for k in (1, 5, 10):
        p, r, f1 = precision_recall_f1_at(ranks, k)
        out[f"precision@{k}"], out[f"recall@{k}"], out[f"f1@{k}"] = p, r, f1
    return out


def bootstrap_ci(values: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
                 groups: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, resampling users with replacement (same seed, same interval).

    With `groups` (one label per user) whole groups are resampled: samples that are windows of one stream (lastfm's
    test rows) are not independent, and resampling them one by one would make the interval too narrow.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or n_boot <= 0:  # n_boot 0: no interval (grid searches)
        return (float("nan"), float("nan"))
    if groups is None:
        sums, counts = v, np.ones_like(v)
    else:
        _, g = np.unique(np.asarray(groups), return_inverse=True)
        sums, counts = np.bincount(g, weights=v), np.bincount(g).astype(np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, 200):  # (B, G) index blocks keep memory flat for large user counts
        b = min(200, n_boot - start)
        pick = rng.integers(0, sums.size, size=(b, sums.size))
        means[start:start + b] = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = 1000, seed: int = 0,
                      groups: np.ndarray | None = None) -> tuple[float, float, float]:
    """(mean of a − b, 95% interval) over the same users: whether one method beats another beyond noise."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    lo, hi = bootstrap_ci(d, n_boot, seed, groups=groups)
    return float(d.mean()) if d.size else float("nan"), lo, hi


# -- ROC and PR over pooled candidate scores (target = positive) --------------------------------------------------

@dataclass(frozen=True)
class Curve:
    x: np.ndarray
    y: np.ndarray
    area: float


def _sorted_counts(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct score threshold, highest threshold first."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    finite = np.isfinite(s)
    if not finite.all():  # -inf (not retrieved) and NaN sit together below every finite score
        floor = (s[finite].min() if finite.any() else 0.0) - 1.0
        s = np.where(finite, s, floor)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each run of equal scores
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return tp.astype(np.float64), fp.astype(np.float64)


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> Curve:
    """False positive rate vs true positive rate; area by the trapezoid rule (ties count one half, like AUC's U)."""
    tp, fp = _sorted_counts(scores, labels)
    if tp.size == 0 or tp[-1] == 0 or fp[-1] == 0:
        return Curve(np.array([0.0, 1.0]), np.array([0.0, 1.0]), float("nan"))
    tpr = np.r_[0.0, tp / tp[-1]]
    fpr = np.r_[0.0, fp / fp[-1]]
    return Curve(fpr, tpr, float(np.trapezoid(tpr, fpr)))


def pr_curve(scores: np.ndarray, labels: np.ndarray) -> Curve:
    """Recall vs precision; the area is average precision, Σ (R_n − R_{n−1}) P_n over thresholds."""
    tp, fp = _sorted_counts(scores, labels)
    if tp.size == 0 or tp[-1] == 0:
        return Curve(np.array([0.0, 1.0]), np.array([0.0, 0.0]), float("nan"))
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return Curve(np.r_[0.0, recall], np.r_[precision[0], precision], ap)


def thin(curve: Curve, points: int = 200) -> Curve:
    """At most `points` points of a curve (for storing and drawing), keeping its ends and its area."""
    n = curve.x.size
    if n <= points:
        return curve
    keep = np.unique(np.r_[np.linspace(0, n - 1, points).round().astype(int), n - 1])
    return Curve(curve.x[keep], curve.y[keep], curve.area)
