"""The whole recent history in ONE prompt ("Movies like A, B, C, " + candidate, Sileo et al. 2022), and an exact
per-item explanation of its score by leave-one-out.

One prompt per request instead of one per history item (plus the neutral one): about N times fewer prompt passes.
The score of candidate y is ℓ(y | list(H)) − ℓ(y | ∅) (PMI) or ℓ(y | list(H)) (raw). Its explanation:
part_i = ℓ(y | list(H)) − ℓ(y | list(H without x_i)) — how much x_i being in the list moved y — and a `joint`
part = score − Σ_i part_i (what the items do only together, and the calibration), so the parts sum to the score
exactly. Scores go through the SQLite pair cache like the per-item ones (the x of a pair is the joined list).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .scoring import PairScorer
from .text import Template

SEPARATOR = ", "
LIST_BUDGET = 4096  # the list's own token budget: items are cut to max_item_tokens each before joining


def join_history(texts: Sequence[str]) -> str:
    """Items joined by ", "; commas inside an item become spaces, so each title stays one list entry."""
    return SEPARATOR.join(" ".join(t.replace(",", " ").split()) for t in texts)


def _truncated(scorer: PairScorer, texts: Sequence[str], max_tokens: int) -> list[str]:
    """Each text cut to `max_tokens` tokens (the model is loaded only for texts that may be longer)."""
    out = []
    for t in texts:
        t = t[: max_tokens * 12]
        cut = None if len(t) <= max_tokens else getattr(scorer.backend, "truncate", None)
        out.append(cut(t, max_tokens) if cut else t)
    return out


def list_matrix(scorer: PairScorer, template: Template, history: Sequence[str], candidates: Sequence[str],
                max_item_tokens: int, drop: Sequence[int | None] = (None,)) -> tuple[np.ndarray, np.ndarray]:
    """(ℓ(y | list(H minus item d)) for each d in `drop` (None: the whole list), shape (len(drop), M); ℓ(y|∅) (M,))."""
    hist = _truncated(scorer, history, max_item_tokens)
    ys = _truncated(scorer, candidates, max_item_tokens)
    xs = [join_history([h for k, h in enumerate(hist) if k != d]) for d in drop]
    return scorer.matrix(template, xs, ys, neutral=True)


def list_scores(ctx, template: Template) -> tuple[np.ndarray, np.ndarray]:
    """For an evaluation `Context`: (ℓ(y | list of the LM history) (M,), ℓ(y|∅) (M,)), through the pair cache."""
    env = ctx.env
    cfg = env.config
    scorer = env.__dict__.get("_list_scorer")
    if scorer is None:
        scorer = env.models.pair_scorer(env.catalog, cfg.with_(max_item_tokens=LIST_BUDGET))
        env.__dict__["_list_scorer"] = scorer
    before = scorer.computed
    ell, neutral = list_matrix(scorer, template, [env.items[k].lm_text() for k in ctx.lm_history],
                               [env.items[k].lm_text() for k in ctx.candidates], cfg.max_item_tokens)
    env.lm_pairs += scorer.computed - before
    return ell[0], neutral


@dataclass(frozen=True)
class ListExplained:
    scores: np.ndarray  # (M,) ℓ(y|list) − ℓ(y|∅) (pmi) or ℓ(y|list) (raw)
    parts: np.ndarray  # (M, N) leave-one-out effect of each history item
    joint: np.ndarray  # (M,) scores − parts.sum(1): interactions and calibration


def explain_list(full: np.ndarray, loo: np.ndarray, neutral: np.ndarray | None) -> ListExplained:
    """full (M,) = ℓ(y|list(H)); loo (N, M) = ℓ(y|list(H without x_i)); neutral (M,) or None (raw).
    Parts sum to the score exactly: Σ_i parts_i + joint = score."""
    scores = full - neutral if neutral is not None else full.copy()
    parts = (full[None, :] - loo).T  # (M, N)
    return ListExplained(scores=scores, parts=parts, joint=scores - parts.sum(axis=1))


def explain(scorer: PairScorer, template: Template, history: Sequence[str], candidates: Sequence[str],
            max_item_tokens: int, calibration: str = "pmi") -> ListExplained:
    """Score the candidates after the list prompt and explain each score by leave-one-out (N + 2 prompts)."""
    n = len(history)
    ell, neutral = list_matrix(scorer, template, history, candidates, max_item_tokens, drop=[None, *range(n)])
    return explain_list(ell[0], ell[1:], neutral if calibration == "pmi" else None)
