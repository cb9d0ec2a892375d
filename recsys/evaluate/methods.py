"""The methods an evaluation compares: named scorers over (history, candidates), built from the engine's parts.

Every method reads one user's `Context` and returns a score per candidate (higher is better). The context computes
each ingredient at most once per user — above all the ℓ matrix, through the same `PairScorer` pair cache the
product uses — so all LM variants (raw/PMI × product/mixture, ± prior, ± embedding term) cost one LM pass.
Every ingredient comes from the stage functions `recommend()` calls (`recsys.stages`, `recsys.prior`): `fused`
ranks a user's candidates exactly as `recommend(..., candidates=…, keep_history=True)` does with the same settings.
The prior of a run counts only what precedes its split's targets (`prior.popularity(…, split)`).

Naming: `lm-{raw|pmi}-{product|mixture}[+pop][+embed]`; `lm`, `lm+pop`, `lm+embed` and `fused` are the same
with the run's calibration and fusion (the `ScoringConfig` defaults unless overridden). Groups: `baselines`,
`lm-all` (all 16 LM variants), `all`, `default`. Any method may carry its own fusion settings after slashes,
`fused/alpha=0.25/beta=2`, so differently tuned methods are compared on the same users in one run.

Under `full`, single-signal methods (random, pop, bm25, embed) rank the whole catalog; methods that fuse
(`reranks`) score a retrieved pool — the engine's retrieval: the `n_candidates` items most similar to the
history plus `n_popular` popular ones — and everything outside it scores -inf.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np

from .. import fuse as F
from .. import stages
from ..catalog import Catalog, Item
from ..config import ScoringConfig
from ..embed import history_vector
from ..prior import popularity
from ..errors import ConfigError
from ..text import template_for
from .protocols import user_rng


class Env:
    """What every user of one run shares: the dataset's items, their vectors, the prior and the models."""

    def __init__(self, catalog: Catalog, dataset: str, config: ScoringConfig, models, seed: int = 0,
                 ell_memo: dict | None = None, split: str = "test"):
        self.catalog, self.dataset, self.config, self.models, self.seed = catalog, dataset, config, models, seed
        self.ell_memo = ell_memo  # shared by the runs of a grid search: ℓ rows in memory, no SQLite lookups
        self.items: list[Item] = catalog.dataset_items(dataset)
        self.index = {item.id: k for k, item in enumerate(self.items)}
        self.domain = catalog.dataset(dataset).domain
        self.popularity = popularity(catalog, dataset, split)
        self.log_prior = self.popularity.log_prior([i.id for i in self.items])  # (I,)
        self.template = template_for(self.items[0].domain if self.items else self.domain, config.template)
        self._shared: dict = {"lm_pairs": 0}  # shared with the copies `Context.with_config` makes

    @cached_property
    def vectors(self) -> np.ndarray:
        """(I, dim) embeddings of the dataset's items, in `items` order (cached in the database)."""
        ids, matrix = self.models.embedder(self.config.embedder).dataset_matrix(self.catalog, self.dataset)
        if ids != [i.id for i in self.items]:
            order = {item_id: k for k, item_id in enumerate(ids)}
            matrix = matrix[[order[i.id] for i in self.items]]
        return matrix

    @cached_property
    def bm25(self):
        """A BM25 index over the items' text (title, creator, tags, description)."""
        import bm25s

        texts = [i.lm_text("title+creator+tags+description") for i in self.items]
        index = bm25s.BM25()
        index.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        return index

    @property
    def scorer(self):
        if "scorer" not in self._shared:
            self._shared["scorer"] = self.models.pair_scorer(self.catalog, self.config)
        return self._shared["scorer"]

    @property
    def lm_pairs(self) -> int:
        """Pairs the LM scored in this run (not found in the cache)."""
        return self._shared["lm_pairs"]

    @lm_pairs.setter
    def lm_pairs(self, value: int) -> None:
        self._shared["lm_pairs"] = value

    def idx(self, ids: Sequence[str]) -> np.ndarray:
        return np.array([self.index[i] for i in ids], dtype=np.int64)


class Context:
    """One user's history and candidates (indices into `env.items`), with each ingredient computed once."""

    def __init__(self, env: Env, user_id: str, history: Sequence[str], candidates: np.ndarray):
        self.env, self.user_id = env, user_id
        self.history = env.idx(history)  # (N,) oldest first
        self.candidates = np.asarray(candidates, dtype=np.int64)  # (M,)
        self.lm_history = self.history[-env.config.max_history:]

    def restrict(self, pool: np.ndarray) -> "Context":
        """The same user over a subset of the candidates (a retrieved pool); shares the history vector."""
        ctx = Context.__new__(Context)
        ctx.env, ctx.user_id, ctx.history, ctx.lm_history = self.env, self.user_id, self.history, self.lm_history
        ctx.candidates = self.candidates[pool]
        if "history_vector" in self.__dict__:
            ctx.__dict__["history_vector"] = self.history_vector
        return ctx

    @cached_property
    def prior(self) -> np.ndarray:
        return self.env.log_prior[self.candidates]

    @cached_property
    def history_vector(self) -> np.ndarray:
        w = F.history_weights(len(self.history), self.env.config.gamma)
        return history_vector(self.env.vectors[self.history], w)

    @cached_property
    def similarity_parts(self) -> np.ndarray:
        """(N, M): each history item's share of cos(y, H), the term the fusion attributes per item."""
        w = F.history_weights(len(self.history), self.env.config.gamma)
        return stages.similarity(self.env.vectors[self.history], w, self.env.vectors[self.candidates])

    @cached_property
    def similarity(self) -> np.ndarray:
        """cos(y, H): the candidate against the recency-weighted mean of all history vectors (LLMSeqSim)."""
        return self.similarity_parts.sum(axis=0)

    @cached_property
    def bm25(self) -> np.ndarray:
        import bm25s

        text = " ".join(self.env.items[k].lm_text("title+creator+tags+description") for k in self.history)
        tokens = bm25s.tokenize(text, stopwords="en", return_ids=False, show_progress=False)[0]
        return self.env.bm25.get_scores(tokens)[self.candidates].astype(np.float64)

    @cached_property
    def ell(self) -> tuple[np.ndarray, np.ndarray]:
        """(ℓ(y|x) of shape (N_lm, M), ℓ(y|∅) of shape (M,)) from the pair cache, scoring only what is missing."""
        env = self.env
        key = (env.config.model, env.template.key, env.config.max_item_tokens, tuple(self.lm_history),
               tuple(self.candidates))
        if env.ell_memo is not None and key in env.ell_memo:
            return env.ell_memo[key]
        xs = [env.items[k].lm_text() for k in self.lm_history]
        ys = [env.items[k].lm_text() for k in self.candidates]
        before = env.scorer.computed
        ell, neutral = env.scorer.matrix(env.template, xs, ys, neutral=True)
        env.lm_pairs += env.scorer.computed - before
        if env.ell_memo is not None:
            env.ell_memo[key] = (ell, neutral)
        return ell, neutral

    def with_config(self, changes: dict) -> "Context":
        """The same user under other fusion settings, sharing every ingredient those settings leave unchanged
        (above all the ℓ rows: fewer history items are the last rows of the run's matrix)."""
        env = copy.copy(self.env)
        env.config = self.env.config.with_(**changes)
        ctx = Context.__new__(Context)
        ctx.env, ctx.user_id, ctx.history, ctx.candidates = env, self.user_id, self.history, self.candidates
        ctx.lm_history = self.history[-env.config.max_history:]
        for name in ("prior", "bm25"):
            if name in self.__dict__:
                ctx.__dict__[name] = self.__dict__[name]
        if env.config.gamma == self.env.config.gamma:
            for name in ("history_vector", "similarity_parts", "similarity"):
                if name in self.__dict__:
                    ctx.__dict__[name] = self.__dict__[name]
        n = len(ctx.lm_history)
        if n <= len(self.lm_history):
            ell, neutral = self.ell
            ctx.__dict__["ell"] = (ell[len(ell) - n:], neutral)
        return ctx

    def s(self, calibration: str) -> np.ndarray:
        """s_ij: calibrated ℓ, normalised over the candidates per history item."""
        ell, neutral = self.ell
        return stages.lm_scores(ell, neutral, calibration)

    def fused(self, calibration: str | None, fusion: str | None, prior: bool, embed: bool) -> np.ndarray:
        """The engine's fusion with the run's weights; the LM term is left out when calibration is None."""
        cfg = self.env.config
        if calibration is None:
            s, w = np.zeros((0, len(self.candidates))), np.zeros(0)
        else:
            s, w = self.s(calibration), F.history_weights(len(self.lm_history), cfg.gamma)
        return stages.fuse(cfg, s, w, self.prior if prior else None, self.similarity_parts if embed else None,
                           fusion).scores

    def retrieval_pool(self, n_candidates: int, n_popular: int) -> np.ndarray:
        """Positions (into `candidates`) of the engine's retrieval: the items nearest to the history, then the
        most popular of the rest (popularity, then id, as `Catalog.top_popular` orders them)."""
        env = self.env
        ids = [env.items[k].id for k in self.candidates]
        chosen = stages.retrieve(self.history_vector, ids, env.vectors[self.candidates], env.popularity,
                                 n_candidates, n_popular, within=set(ids))
        position = {i: p for p, i in enumerate(ids)}
        return np.array([position[i] for i in chosen], dtype=np.int64)


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    score: Callable[[Context], np.ndarray]
    uses_lm: bool = False
    reranks: bool = False  # under `full`: scores the retrieved pool, not the whole catalog


def _random(ctx: Context) -> np.ndarray:
    return user_rng(ctx.env.seed, "random\x00" + ctx.user_id).random(len(ctx.candidates))


BASELINES: dict[str, Method] = {m.name: m for m in (
    Method("random", "uniformly random scores (seeded per user)", _random),
    Method("pop", "popularity prior log π(y): interactions before the split's targets", lambda c: c.prior.copy()),
    Method("bm25", "BM25 of the candidate's text against the history's texts (all history items)",
           lambda c: c.bm25),
    Method("embed", "cosine to the recency-weighted mean history embedding (LLMSeqSim)",
           lambda c: c.similarity.copy()),
    Method("embed+pop", "standardised embedding similarity (λ) + popularity prior (β), no LM",
           lambda c: c.fused(None, None, prior=True, embed=True), reranks=True),
)}


def lm_method(calibration: str, fusion: str, prior: bool, embed: bool, name: str | None = None) -> Method:
    extras = ("+pop" if prior else "") + ("+embed" if embed else "")
    what = {"raw": "raw ℓ(y|x)", "pmi": "PMI ℓ(y|x) − ℓ(y|∅)"}[calibration]
    desc = f"LM, {what}, {fusion} fusion" + (" + prior (β)" if prior else "") + (" + embedding term (λ)" if embed else "")
    return Method(name or f"lm-{calibration}-{fusion}{extras}", desc,
                  lambda c: c.fused(calibration, fusion, prior, embed), uses_lm=True, reranks=True)


LM_VARIANTS: dict[str, Method] = {
    m.name: m for m in (lm_method(c, f, p, e) for c in ("raw", "pmi") for f in ("product", "mixture")
                        for p in (False, True) for e in (False, True))
}
DEFAULT_METHODS = ("random", "pop", "bm25", "embed", "embed+pop", "lm-raw-product", "lm-raw-mixture",
                   "lm-pmi-product", "lm-pmi-mixture", "lm+pop", "lm+embed", "fused")
GROUPS = {
    "baselines": tuple(BASELINES),
    "lm-all": tuple(LM_VARIANTS),
    "default": DEFAULT_METHODS,
    "all": (*BASELINES, *LM_VARIANTS, "lm", "lm+pop", "lm+embed", "fused"),
}


# Settings a method name may override after a slash (`fused/alpha=0.25/beta=2`): fusion settings only, never
# what the LM reads (model, template, item text), so an override costs no LM work unless it adds history items.
OVERRIDABLE = ("alpha", "beta", "lam", "gamma", "calibration", "fusion", "max_history", "standardize")


def parse_overrides(parts: Sequence[str], config: ScoringConfig) -> dict:
    """['alpha=0.25', 'beta=2'] -> {'alpha': 0.25, 'beta': 2.0}, typed like the config; checked by ScoringConfig."""
    kinds = {f.name: type(getattr(config, f.name)) for f in fields(config)}
    out: dict = {}
    for part in parts:
        key, _, value = part.partition("=")
        if key not in OVERRIDABLE or not value:
            raise ConfigError(f"a method may override {', '.join(OVERRIDABLE)} (as name/key=value), not {part!r}")
        try:
            kind = kinds[key]
            out[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        except ValueError:
            raise ConfigError(f"bad value in {part!r}") from None
    config.with_(**out)  # raises ConfigError on an invalid value
    return out


def _overridden(method: Method, changes: dict, name: str) -> Method:
    what = ", ".join(f"{k}={v}" for k, v in changes.items())
    return Method(name, f"{method.description} [with {what}]", lambda c: method.score(c.with_config(changes)),
                  method.uses_lm, method.reranks)


def aliases(config: ScoringConfig) -> dict[str, str]:
    """Short names -> the variant they mean under this run's calibration and fusion."""
    base = f"lm-{config.calibration}-{config.fusion}"
    return {"lm": base, "lm+pop": f"{base}+pop", "lm+embed": f"{base}+embed", "fused": f"{base}+pop+embed"}


def resolve(names: str | Sequence[str], config: ScoringConfig) -> list[Method]:
    """Comma-separated names or groups -> methods in the order given, each once. Aliases keep their own name
    (so `fused` is reported as `fused`) and say in their description which variant they are."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    expanded: list[str] = []
    for n in names:
        expanded += GROUPS.get(n, (n,))
    alias = aliases(config)
    out: dict[str, Method] = {}
    for n in expanded:
        if n in out:
            continue
        if "/" in n:
            base, *parts = n.split("/")
            changes = parse_overrides(parts, config)
            if base in LM_VARIANTS and {"calibration", "fusion"} & changes.keys():
                raise ConfigError(f"{base!r} names its calibration and fusion; override them on "
                                  "lm, lm+pop, lm+embed or fused instead")
            # aliases (fused, lm+pop, ...) follow the overridden calibration and fusion
            out[n] = _overridden(resolve([base], config.with_(**changes))[0], changes, n)
        elif n in BASELINES:
            out[n] = BASELINES[n]
        elif n in LM_VARIANTS:
            out[n] = LM_VARIANTS[n]
        elif n in alias:
            m = LM_VARIANTS[alias[n]]
            label = "the full system, ScoringConfig weights" if n == "fused" else "the run's calibration and fusion"
            out[n] = Method(n, f"{m.description} [= {alias[n]}: {label}]", m.score, m.uses_lm, m.reranks)
        elif (extra := _resolve_extra(n)) is not None:
            out[n] = extra
        else:
            known = ", ".join([*GROUPS, *BASELINES, *alias, "lm-{raw|pmi}-{product|mixture}[+pop][+embed]",
                               "mix:TERM[W]+...[@z|@rank] (recsys/evaluate/experiments.py)"])
            raise ConfigError(f"unknown method {n!r}; known: {known}")
    if not out:
        raise ConfigError("no methods given")
    return list(out.values())


def _resolve_extra(name: str) -> Method | None:
    """Experimental methods named by their terms (`mix:...`, recsys/evaluate/experiments.py)."""
    from .experiments import resolve_extra

    return resolve_extra(name)
