"""The scoring formula and its exact decomposition (README, "How it scores", steps 3-5). Pure numpy, no models.

Shapes: N history items, M candidates. ell (N, M) = ℓ(y_j|x_i); neutral (M,) = ℓ(y_j|∅).
Every fused score S_j is returned with its parts: per history item for the LM and the similarity term, and the
prior; they sum to S_j exactly (up to float rounding), which the tests check.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def history_weights(n: int, gamma: float, emphasis: np.ndarray | None = None) -> np.ndarray:
    """w_i ∝ gamma^(N-i) · emphasis_i, summing to one (oldest first; the newest item weighs most)."""
    if n == 0:
        return np.zeros(0)
    w = gamma ** np.arange(n - 1, -1, -1, dtype=np.float64)
    if emphasis is not None:
        w = w * np.clip(np.asarray(emphasis, dtype=np.float64), 0.0, None)
    total = w.sum()
    return w / total if total > 0 else np.full(n, 1.0 / n)


def calibrate(ell: np.ndarray, neutral: np.ndarray | None, calibration: str) -> np.ndarray:
    """PMI: ℓ(y|x) − ℓ(y|∅) removes the preference for short, frequent titles; raw keeps ℓ."""
    if calibration == "pmi":
        if neutral is None:
            raise ValueError("PMI calibration needs the neutral-context scores")
        return ell - neutral[None, :]
    return ell


def normalise(ell: np.ndarray) -> np.ndarray:
    """s_ij = ℓ_ij − log Σ_k exp ℓ_ik: p(y_j | x_i) normalised over the candidate set (row-wise log-softmax)."""
    if ell.size == 0:
        return ell.copy()
    top = ell.max(axis=1, keepdims=True)
    return ell - (top + np.log(np.exp(ell - top).sum(axis=1, keepdims=True)))


def log_prior(popularity: np.ndarray, total: float, n_items: int, alpha: float = 1.0) -> np.ndarray:
    """log π(y) with additive smoothing: (count + α) / (total + α · n_items); never -inf, NaN counts as 0."""
    pop = np.nan_to_num(np.asarray(popularity, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(0)
    return np.log((pop + alpha) / (max(total, 0.0) + alpha * max(n_items, 1)))


@dataclass(frozen=True)
class Fused:
    """Scores and their exact parts: per history item for each history-dependent term, and the prior.

    `lm` covers the history items the LM read (the last N_lm), `similarity` the history items of the similarity
    term (all of them, or none when the term is off); `per_item(n)` aligns both on a history of n items.
    scores == lm.sum(1) + similarity.sum(1) + prior, to float rounding (a tested identity)."""

    scores: np.ndarray  # (M,)
    lm: np.ndarray  # (M, N_lm)
    similarity: np.ndarray  # (M, K)
    prior: np.ndarray  # (M,)
    lm_term: np.ndarray  # (M,) the LM term before weighting and standardising

    def per_item(self, n: int) -> np.ndarray:
        """(M, n): each history item's total part, oldest first (the terms cover the last items)."""
        out = np.zeros((len(self.scores), n))
        for part in (self.lm, self.similarity):
            if part.shape[1]:
                out[:, n - part.shape[1]:] += part
        return out


def _standardise(x: np.ndarray) -> tuple[np.ndarray, float]:
    """(x − mean, sd) with sd = 1 where the term is constant (one candidate, or all equal).

    A spread below 1e-9 of the values' size is rounding, not signal: dividing by it would blow rounding up
    to the size of a real term, so such a term counts as constant too.
    """
    sd = float(x.std())
    return x - x.mean(), sd if sd > 1e-9 * max(1.0, float(np.abs(x).max(initial=0.0))) else 1.0


def fuse(
    s: np.ndarray,
    w: np.ndarray,
    fusion: str,
    alpha: float = 1.0,
    prior: np.ndarray | None = None,
    beta: float = 0.0,
    similarity: np.ndarray | None = None,
    lam: float = 0.0,
    standardize: bool = True,
) -> Fused:
    """S_j = alpha·LM_j + beta·log π_j + lam·cos_j, each term optionally z-scored over the candidates.

    product (product of experts): LM_j = Σ_i w_i s_ij, part_ij = w_i s_ij.
    mixture (total probability):  LM_j = log Σ_i w_i exp(s_ij), part_ij = r_ij · LM_j with the
    responsibility r_ij = w_i exp(s_ij) / Σ_k w_k exp(s_kj).
    similarity (K, M) holds each history item's share of cos_j (`stages.similarity`): cos_j = Σ_i sim_ij.
    Standardising subtracts the term's mean over candidates from every part (per history item, its own
    row mean) and divides by the term's sd, so the parts still add up to the score.
    """
    n, m = s.shape
    lm_parts = np.zeros((m, n))
    lm = np.zeros(m)
    if n and alpha > 0:
        if fusion == "product":
            contrib = (w[:, None] * s).T  # (M, N)
            lm = contrib.sum(axis=1)
        elif fusion == "mixture":
            logits = np.log(np.where(w > 0, w, 1e-300))[:, None] + s  # (N, M)
            top = logits.max(axis=0)
            lm = top + np.log(np.exp(logits - top).sum(axis=0))  # (M,)
            resp = np.exp(logits - lm[None, :])  # (N, M), columns sum to 1
            contrib = (resp * lm[None, :]).T
        else:
            raise ValueError(f"unknown fusion {fusion!r}")
        if standardize:
            centred, sd = _standardise(lm)
            # shift each part by its column mean share so the row sums equal the centred term
            if fusion == "product":
                contrib = contrib - contrib.mean(axis=0, keepdims=True)
            else:
                contrib = (resp * centred[None, :]).T
            contrib = contrib / sd
        lm_parts = alpha * contrib
    prior_part = np.zeros(m)
    if prior is not None and beta > 0:
        t = np.asarray(prior, dtype=np.float64)
        if standardize:
            centred, sd = _standardise(t)
            t = centred / sd
        prior_part = beta * t
    sim_parts = np.zeros((m, 0))
    if similarity is not None:
        sim = np.atleast_2d(np.asarray(similarity, dtype=np.float64))  # (K, M)
        sim_parts = np.zeros((m, sim.shape[0]))
        if lam > 0:
            if standardize:
                _, sd = _standardise(sim.sum(axis=0))
                sim = (sim - sim.mean(axis=1, keepdims=True)) / sd
            sim_parts = lam * sim.T
    scores = lm_parts.sum(axis=1) + sim_parts.sum(axis=1) + prior_part
    return Fused(scores=scores, lm=lm_parts, similarity=sim_parts, prior=prior_part, lm_term=lm)
