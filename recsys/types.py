"""Typed objects shared by the CLI, the app, the charts and the evaluation: a query in, a result out."""
from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import Item
from .config import ScoringConfig
from .filters import SafetyConfig

PRIOR = "prior"  # the one part that does not depend on the history
LM, SIMILARITY = "lm", "similarity"  # the history-dependent terms, each split per history item
TERMS = (LM, SIMILARITY)


def history_key(item_id: str) -> str:
    return f"history:{item_id}"


@dataclass(frozen=True)
class Query:
    history: tuple[str, ...]  # item ids, oldest first
    config: ScoringConfig = field(default_factory=ScoringConfig)
    top: int = 10
    candidates: tuple[str, ...] | None = None  # None: retrieve from the history's dataset
    emphasis: dict[str, float] = field(default_factory=dict)  # item id -> weight multiplier (default 1)
    exclude: tuple[str, ...] = ()  # never recommend these (e.g. disliked items)
    dataset: str | None = None  # where to retrieve from when the history is empty
    safety: SafetyConfig | None = None  # blocklist and per-creator cap; None: the deployment's ($RECSYS_SAFETY)
    keep_history: bool = False  # rank given candidates that are in the history too (as an evaluation does)


@dataclass(frozen=True)
class Contribution:
    name: str  # "history:<id>" or "prior"
    label: str  # what a person reads: the history item's title, "popularity prior"
    value: float
    terms: tuple[tuple[str, float], ...] = ()  # a history item's value split by term: (("lm", x), ("similarity", y))

    def term(self, name: str) -> float:
        return dict(self.terms).get(name, 0.0)


@dataclass(frozen=True)
class Recommendation:
    item: Item
    rank: int
    score: float
    contributions: tuple[Contribution, ...]  # one per history item, then the prior; their values sum to score

    def contributions_dict(self) -> dict[str, float]:
        return {c.name: c.value for c in self.contributions}

    def breakdown(self) -> dict[str, dict[str, float]]:
        """Each history item's part split by term (the terms add up to its contribution)."""
        return {c.name: dict(c.terms) for c in self.contributions if c.terms}


@dataclass(frozen=True)
class Result:
    query: Query
    model: str  # the LM that scored, or "" when none did
    recommendations: tuple[Recommendation, ...]
    history: tuple[Item, ...]
    weights: tuple[float, ...]  # w_i of each history item (0 for items the LM did not use)
    conditional: tuple[tuple[float, ...], ...]  # s_ij for each LM-scored history item × each recommendation
    conditional_history: tuple[str, ...]  # ids of the rows of `conditional`
    timings: dict[str, float]  # milliseconds per stage
    notes: tuple[str, ...] = ()
    candidates_considered: int = 0
    pairs_computed: int = 0
    hidden: tuple[str, ...] = ()  # ids removed after scoring (blocklist, diversity)
    degraded: tuple[str, ...] = ()  # parts that were down and left out: "language model", "embedding model"
    candidate_ids: tuple[str, ...] = ()  # every candidate scored, in retrieval order (a re-rank can keep them)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "items": [
                {"item_id": r.item.id, "title": r.item.title, "rank": r.rank, "score": r.score,
                 "contributions": r.contributions_dict(), "breakdown": r.breakdown()}
                for r in self.recommendations
            ],
            "history": [{"item_id": i.id, "title": i.title, "weight": w} for i, w in zip(self.history, self.weights)],
            "conditional": {"history": list(self.conditional_history), "values": [list(r) for r in self.conditional]},
            "timings": self.timings,
            "notes": list(self.notes),
            "candidates_considered": self.candidates_considered,
            "pairs_computed": self.pairs_computed,
            "hidden": list(self.hidden),
            "degraded": list(self.degraded),
            "settings": self.query.config.to_dict(),
        }
