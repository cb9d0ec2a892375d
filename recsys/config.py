"""Typed settings for the engine, and where its files live.

Defaults are the measured winners recorded in docs/results.md; change them there first.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Literal

from .errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
CATALOG_DIR = DATA_DIR / "catalogs"
DEFAULT_DB = Path(os.environ.get("RECSYS_DB", DATA_DIR / "recsys.db"))
CACHE_DIR = Path(os.environ.get("RECSYS_CACHE_DIR", Path.home() / ".cache" / "recsys"))

DEFAULT_LM = "smollm2-135m"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"

Calibration = Literal["raw", "pmi"]
Fusion = Literal["product", "mixture"]


@dataclass(frozen=True)
class ScoringConfig:
    """Everything that changes a ranking; stored with sessions and evaluation results."""

    model: str = DEFAULT_LM
    embedder: str = DEFAULT_EMBEDDER
    template: str | None = None  # template name; None: the history's domain template
    calibration: Calibration = "pmi"
    fusion: Fusion = "product"
    gamma: float = 0.8  # recency decay of history weights, w_i ∝ gamma^(N-i)
    # weight of the language-model term (0 switches the LM off). 0.25: best of 0.25/0.5/1 on the ml-100k and lastfm
    # validation targets (docs/lm-experiments.md); at 1 the z-scored SmolLM2 term cost up to 8 NDCG@10 points
    alpha: float = 0.25
    beta: float = 1.0  # weight of the popularity prior
    lam: float = 1.0  # weight of the embedding-similarity term
    standardize: bool = True  # z-score each term over the candidate set before weighting
    max_history: int = 5  # most recent history items the LM scores
    n_candidates: int = 50  # retrieved candidates for a catalog-scale request
    n_popular: int = 5  # popular items added to the retrieved ones
    max_item_tokens: int = 48  # token budget of one item's text

    def __post_init__(self):
        if self.calibration not in ("raw", "pmi"):
            raise ConfigError(f"calibration must be 'raw' or 'pmi', not {self.calibration!r}")
        if self.fusion not in ("product", "mixture"):
            raise ConfigError(f"fusion must be 'product' or 'mixture', not {self.fusion!r}")
        if not (math.isfinite(self.gamma) and 0 < self.gamma <= 1):
            raise ConfigError(f"gamma must be in (0, 1], not {self.gamma}")
        for name in ("alpha", "beta", "lam"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, not {value}")
        for name in ("max_history", "n_candidates", "max_item_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if self.n_popular < 0:
            raise ConfigError("n_popular must be >= 0")

    @property
    def uses_lm(self) -> bool:
        return self.alpha > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ScoringConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_(self, **changes) -> "ScoringConfig":
        return replace(self, **changes)
