"""One request, as the pipeline reads: validate → retrieve → prior → similarity → LM → fuse → explain → filter.

The stages are `recsys.stages` (and `recsys.prior`, `recsys.filters`), the same functions every evaluation
method calls, so what is evaluated is what is served; this module loads what they read and handles failures.

`Models` holds what is expensive (the LM backend, the embedder) once per process; a `Catalog` is opened per
thread or request. Both the CLI and the app call `recommend()` and get the same `Result`.
"""
from __future__ import annotations

import logging
import math
import numbers
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np

from . import filters, stages
from . import fuse as F
from .catalog import Catalog, Item
from .config import ScoringConfig
from .embed import Embedder, history_vector
from .errors import ConfigError, EmptyCandidatesError, ModelLoadError, RecsysError
from .lm import TransformersBackend, cache_key
from .models import load_sentence_model, pick_device
from .precision import Precision, choose, embedder_bf16_ok, parse
from .prior import Popularity, popularity
from .scoring import PairScorer
from .text import template_for
from .types import Query, Recommendation, Result

log = logging.getLogger(__name__)


RETRY_LOAD_AFTER_S = 60.0  # a model that failed to load is not tried again for this long (each try can be slow)


class Models:
    """The process's models, each loaded on first use and shared by every thread.

    A failed load is remembered for RETRY_LOAD_AFTER_S: requests in the meantime fail (or fall back) at once
    instead of each waiting for the same failure, and a later request tries again (the cause may be gone)."""

    def __init__(self, device: str | None = None, backend: str = "transformers", precision: str | None = None):
        self.device = device
        self.backend = backend
        self.precision = parse(precision)  # auto, float32 or bfloat16; an unknown name fails before any work
        self._backends: dict[str, object] = {}
        self._embedders: dict[str, Embedder] = {}
        self._lock = threading.Lock()
        self._failed: dict[tuple[str, str], tuple[float, str]] = {}  # (kind, name) -> (when, message)

    def _load(self, kind: str, name: str, load):
        """load(), or the remembered failure of a recent try, as ModelLoadError."""
        failed = self._failed.get((kind, name))
        if failed and time.monotonic() - failed[0] < RETRY_LOAD_AFTER_S:
            wait = RETRY_LOAD_AFTER_S - (time.monotonic() - failed[0])
            raise ModelLoadError(f"{failed[1]} (failed {time.monotonic() - failed[0]:.0f} s ago; "
                                 f"tried again in {wait:.0f} s)")
        try:
            value = load()
        except ModelLoadError as e:
            self._failed[(kind, name)] = (time.monotonic(), str(e))
            raise
        self._failed.pop((kind, name), None)
        return value

    def lm(self, name: str):
        with self._lock:
            if name not in self._backends:
                if self.backend == "transformers":
                    self._backends[name] = self._load("lm", name, lambda: TransformersBackend(
                        name, self.device, precision=self.lm_precision(name)))
                else:
                    from .backends import make_backend

                    self._backends[name] = make_backend(self.backend, name)
            return self._backends[name]

    def lm_cache_key(self, name: str) -> str:
        if self.backend != "transformers":
            return f"{name}@{self.backend.split(':')[0]}"
        return cache_key(name, self.lm_precision(name))

    def lm_precision(self, name: str) -> Precision:
        """The LM's numeric type on this machine and why (known before the model loads: the cache key needs it)."""
        return choose(self.precision, pick_device(self.device))

    def embedder_precision(self, name: str) -> Precision:
        """The embedder's: bfloat16 under `auto` only for embedders measured to stay within cosine 0.99 of float32."""
        return choose(self.precision, pick_device(self.device), allow_bf16=embedder_bf16_ok(name))

    def pair_scorer(self, catalog: Catalog, config: ScoringConfig) -> PairScorer:
        return PairScorer(lambda: self.lm(config.model), self.lm_cache_key(config.model), catalog.db,
                          config.max_item_tokens)

    def embedder(self, name: str) -> Embedder:
        with self._lock:
            if name not in self._embedders:
                precision = self.embedder_precision(name)
                self._embedders[name] = Embedder(name, lambda: self._load(
                    "embedder", name, lambda: load_sentence_model(name, self.device, precision.torch_dtype())),
                    precision=precision)
            return self._embedders[name]


_default_models: Models | None = None


def default_models() -> Models:
    global _default_models
    if _default_models is None:
        _default_models = Models()
    return _default_models


class _Timer:
    def __init__(self):
        self.ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - start) * 1000


def recommend(catalog: Catalog, query: Query, models: Models | None = None, fallback: bool = False) -> Result:
    """Rank candidates for a history and explain every score.

    fallback=True (the app): a part that cannot be loaded or runs out of memory is left out and the result says
    so in `notes` and `degraded` — no LM: embeddings + prior; no embedding model: the most popular items as
    candidates, ranked by the LM + prior; neither: the prior alone. fallback=False (the CLI, the evaluation): the
    error is raised (ModelLoadError, or the out-of-memory error).
    Safety filters (`query.safety`, else $RECSYS_SAFETY) hide items after scoring and are reported.
    """
    _check(query)
    models = models or default_models()
    cfg = query.config
    safety = query.safety if query.safety is not None else filters.default_safety()
    timer = _Timer()
    notes: list[str] = []
    down = _Down(fallback)
    with timer("total"):
        history = catalog.require(list(query.history))
        dataset = _dataset_of(history, query)
        with timer("retrieve"):
            pop = popularity(catalog, dataset) if dataset else None
            candidates = _candidates(catalog, models, query, history, dataset, pop, notes, down)
        if not candidates:
            raise EmptyCandidatesError("no candidates left to rank: the candidate set is empty or holds only history items")
        if len(candidates) == 1:
            notes.append("only one candidate: it is returned without anything to rank it against")

        lm_history = history[-cfg.max_history:] if cfg.uses_lm else []
        w_lm = _weights(lm_history, cfg, query)
        w_all = _weights(history, cfg, query)

        with timer("embed"):
            similarity = _similarity(catalog, models, cfg, history, w_all, candidates, down) if history else None
        ids = [c.id for c in candidates]
        if pop is None:  # candidates named without a history or dataset: their own counts, smoothed over them
            pop = Popularity.from_counts(ids, {c.id: c.popularity for c in candidates}, "the candidates")
        prior = pop.log_prior(ids)

        s = np.zeros((0, len(candidates)))
        model_used, computed = "", 0
        if lm_history:
            with timer("lm"):
                try:
                    s, computed = _lm_scores(catalog, models, cfg, lm_history, candidates, dataset)
                    model_used = cfg.model
                except Exception as e:
                    down.check(LANGUAGE_MODEL, e)
                    s, lm_history, w_lm = np.zeros((0, len(candidates))), [], np.zeros(0)
        notes.extend(down.notes(similarity_used=similarity is not None))
        if not history:
            notes.append("empty history: ranked by the popularity prior alone")

        with timer("fuse"):
            fused = stages.fuse(cfg if history else cfg.with_(beta=1.0), s, w_lm, prior, similarity)
            ranked = stages.rank(fused.scores, [c.id for c in candidates])
            kept = filters.apply([candidates[j] for j in ranked], query.top, safety)
            order = [ranked[p] for p in kept.shown]
            notes.extend(filters.notes(kept, query.top))
            recs = tuple(
                Recommendation(item=candidates[j], rank=r + 1, score=float(fused.scores[j]),
                               contributions=stages.explain(fused, j, history))
                for r, j in enumerate(order)
            )
    weight_of = dict(zip((i.id for i in lm_history), w_lm))
    return Result(
        query=query,
        model=model_used,
        recommendations=recs,
        history=tuple(history),
        weights=tuple(float(weight_of.get(i.id, 0.0)) for i in history),
        conditional=tuple(tuple(float(s[i, j]) for j in order) for i in range(len(lm_history))),
        conditional_history=tuple(i.id for i in lm_history),
        timings={k: round(v, 2) for k, v in timer.ms.items()},
        notes=tuple(notes),
        candidates_considered=len(candidates),
        pairs_computed=computed,
        hidden=tuple(h.item.id for h in kept.hidden),
        degraded=tuple(down.parts),
        candidate_ids=tuple(c.id for c in candidates),
    )


LANGUAGE_MODEL, EMBEDDING_MODEL = "language model", "embedding model"


def _check(query: Query) -> None:
    """Settings that would make every score NaN or the list meaningless, named (NaN passes any `< 0` check)."""
    top = query.top
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
        raise ConfigError(f"top must be a whole number >= 1, not {top!r}")
    for item_id, weight in query.emphasis.items():
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0 <= weight < math.inf:
            raise ConfigError(f"the emphasis of {item_id!r} must be a finite number >= 0, not {weight!r}")
    for name in ("gamma", "alpha", "beta", "lam"):
        value = getattr(query.config, name)
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, not {value!r}")


def _weights(items: list[Item], cfg: ScoringConfig, query: Query) -> np.ndarray:
    """w_i of these history items: recency decay times the person's emphasis."""
    return F.history_weights(len(items), cfg.gamma, np.array([query.emphasis.get(i.id, 1.0) for i in items]))


def out_of_memory(e: BaseException) -> bool:
    """torch.OutOfMemoryError (CUDA, MPS) and CPU allocation failures, which torch raises as RuntimeError."""
    if isinstance(e, MemoryError):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


class _Down:
    """The parts that failed during one request (with fallback) and the sentences that say so."""

    def __init__(self, fallback: bool):
        self.fallback = fallback
        self.parts: list[str] = []
        self.reasons: dict[str, str] = {}

    def check(self, part: str, e: Exception) -> None:
        """Record `part` as down, or re-raise `e` when there is no fallback or it is not a part failing."""
        oom = out_of_memory(e)
        if not self.fallback or not (oom or isinstance(e, ModelLoadError)):
            raise e
        if oom:
            _free_accelerator_memory()
        reason = "out of memory" if oom else str(e)
        log.warning("%s unavailable, falling back: %s", part, reason)
        if part not in self.parts:
            self.parts.append(part)
            self.reasons[part] = reason if len(reason) <= 200 else reason[:199] + "…"

    def notes(self, similarity_used: bool) -> list[str]:
        out = []
        if EMBEDDING_MODEL in self.parts:
            out.append(f"embedding model unavailable ({self.reasons[EMBEDDING_MODEL]}): candidates are the "
                       "dataset's most popular items and the similarity term is left out")
        if LANGUAGE_MODEL in self.parts:
            rest = "embeddings + prior" if similarity_used else "the popularity prior"
            out.append(f"language model unavailable ({self.reasons[LANGUAGE_MODEL]}): ranked by {rest} only")
        return out


def _free_accelerator_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _dataset_of(history: list[Item], query: Query) -> str | None:
    datasets = list(dict.fromkeys(i.dataset for i in history))
    if len(datasets) > 1:
        raise RecsysError(f"the history mixes datasets ({', '.join(datasets)}); use items of one dataset")
    return datasets[0] if datasets else query.dataset


def _candidates(catalog, models, query, history, dataset, pop: Popularity | None, notes, down: _Down) -> list[Item]:
    banned = set(query.exclude) | (set() if query.keep_history else {i.id for i in history})
    cfg = query.config
    if query.candidates is not None:
        ids = list(dict.fromkeys(query.candidates))
        if len(ids) < len(query.candidates):
            notes.append(f"{len(query.candidates) - len(ids)} duplicate candidate id(s) ignored")
        items = catalog.require(ids)
        kept = [i for i in items if i.id not in banned]
        if len(kept) < len(items):
            notes.append(f"{len(items) - len(kept)} candidate(s) left out because they are in the history or excluded")
        return kept
    if not dataset:
        raise RecsysError("an empty history needs a dataset (or candidate ids) to recommend from")
    ids, matrix, query_vec = [], np.zeros((0, 0)), np.zeros(0)
    if history:
        try:
            ids, matrix = models.embedder(cfg.embedder).dataset_matrix(catalog, dataset)
        except Exception as e:
            down.check(EMBEDDING_MODEL, e)
        else:
            index = {item_id: k for k, item_id in enumerate(ids)}
            query_vec = history_vector(matrix[[index[i.id] for i in history]], _weights(history, cfg, query))
    chosen = stages.retrieve(query_vec, ids, matrix, pop, cfg.n_candidates, cfg.n_popular, banned)
    found = catalog.get_items(chosen)
    return [found[i] for i in chosen]


def _similarity(catalog, models, cfg, history, w, candidates, down: _Down) -> np.ndarray | None:
    if cfg.lam <= 0 or EMBEDDING_MODEL in down.parts:
        return None
    try:
        vecs = models.embedder(cfg.embedder).vectors(catalog.db, list(history) + list(candidates))
    except Exception as e:
        down.check(EMBEDDING_MODEL, e)
        return None
    return stages.similarity(vecs[:len(history)], w, vecs[len(history):])


def _lm_scores(catalog, models, cfg, lm_history, candidates, dataset) -> tuple[np.ndarray, int]:
    domain = lm_history[0].domain or (catalog.dataset(dataset).domain if dataset else None)
    template = template_for(domain, cfg.template)
    scorer = models.pair_scorer(catalog, cfg)
    ell, neutral = scorer.matrix(template, [i.lm_text() for i in lm_history], [c.lm_text() for c in candidates],
                                 neutral=cfg.calibration == "pmi")
    return stages.lm_scores(ell, neutral, cfg.calibration), scorer.computed
