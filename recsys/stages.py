"""The stages of one ranking, called by `recommend()` and by every evaluation method alike.

retrieve → prior (`recsys.prior`) → similarity → LM scores → fuse → explain, then the safety filters
(`recsys.filters`) where a list is shown. Each stage is a plain function of arrays and settings; loading what they
read (vectors, ℓ pairs, counts) is the caller's business, so a request and an evaluation of the same history and
candidates compute the same numbers by construction — a test holds them to it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import fuse as F
from .config import ScoringConfig
from .embed import semantic_search
from .catalog import Item
from .prior import Popularity
from .types import LM, PRIOR, SIMILARITY, Contribution, history_key


def retrieve(query: np.ndarray, ids: Sequence[str], matrix: np.ndarray, popularity: Popularity, n_nearest: int,
             n_popular: int, exclude: set[str] = frozenset(), within: set[str] | None = None) -> list[str]:
    """Candidates for a catalog-scale request: the `n_nearest` rows of `matrix` (`ids`) most similar to the
    history vector `query`, then the `n_popular` most popular other items (of `within`, where given); never an
    id in `exclude`. With no query (no history, or the embedder down) the `n_nearest` most popular items."""
    if not np.any(query):
        return popularity.top(n_nearest, exclude=exclude, allowed=within)
    banned = [k for k, i in enumerate(ids) if i in exclude]
    chosen = [ids[k] for k in semantic_search(query, matrix, n_nearest, banned)]
    return chosen + popularity.top(n_popular, exclude=set(exclude) | set(chosen), allowed=within)


def similarity(history_vecs: np.ndarray, w: np.ndarray, candidate_vecs: np.ndarray) -> np.ndarray:
    """Each history item's share of cos(y, H), (K, M): with v = Σ_i w_i e(x_i), cos(y, v/‖v‖) is the sum over
    history items of w_i e(y)·e(x_i) / ‖v‖, so the term is attributed exactly (LLMSeqSim, per item)."""
    hv = np.asarray(history_vecs, dtype=np.float64)
    v = (w[:, None] * hv).sum(axis=0)
    norm = float(np.linalg.norm(v))
    if norm == 0:
        return np.zeros((len(hv), len(candidate_vecs)))
    return w[:, None] * (hv @ np.asarray(candidate_vecs, dtype=np.float64).T) / norm


def lm_scores(ell: np.ndarray, neutral: np.ndarray | None, calibration: str) -> np.ndarray:
    """s_ij (N, M): ℓ(y_j|x_i) calibrated, then normalised over the candidates per history item."""
    return F.normalise(F.calibrate(ell, neutral, calibration))


def fuse(cfg: ScoringConfig, s: np.ndarray, w: np.ndarray, prior: np.ndarray | None,
         similarity: np.ndarray | None, fusion: str | None = None) -> F.Fused:
    """The configured fusion of the terms that are given (a term passed as None is left out)."""
    return F.fuse(s, w, fusion or cfg.fusion, alpha=cfg.alpha if len(s) else 0.0, prior=prior,
                  beta=cfg.beta if prior is not None else 0.0, similarity=similarity,
                  lam=cfg.lam if similarity is not None else 0.0, standardize=cfg.standardize)


def explain(fused: F.Fused, j: int, history: Sequence[Item]) -> tuple[Contribution, ...]:
    """Candidate j's score as one part per history item, split by term, then the prior; they sum to the score."""
    n = len(history)
    lm, sim = np.zeros(n), np.zeros(n)
    if fused.lm.shape[1]:
        lm[n - fused.lm.shape[1]:] = fused.lm[j]
    if fused.similarity.shape[1]:
        sim[n - fused.similarity.shape[1]:] = fused.similarity[j]
    out = [Contribution(history_key(item.id), item.title, float(lm[k] + sim[k]),
                        ((LM, float(lm[k])), (SIMILARITY, float(sim[k])))) for k, item in enumerate(history)]
    out.append(Contribution(PRIOR, "popularity prior", float(fused.prior[j])))
    return tuple(out)


def rank(scores: np.ndarray, ids: Sequence[str]) -> list[int]:
    """Positions best first; equal scores by id, so a list does not depend on the order candidates came in."""
    return sorted(range(len(ids)), key=lambda j: (-scores[j], ids[j]))
