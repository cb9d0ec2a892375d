"""What the pages load: one `Models` per process (`st.cache_resource`), a `Catalog` and `Store` per thread, and
`rank()`, which runs `recommend()` behind a progress display that says what the engine is doing.

SQLite connections are never shared across threads: each script thread opens its own (cheap) and keeps it for
its later runs; Streamlit gives every run of a session a thread of its own, so a connection lives no longer than
that thread.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from .. import config, demo
from ..catalog import Catalog, load_demo_catalogs, open_catalog
from ..errors import ModelLoadError
from ..recommend import Models, recommend
from ..scoring import PairScorer
from ..store import Store
from ..types import Query, Result
from . import turns
from .safe import md

_local = threading.local()  # per thread: {db path: Catalog}
_progress = threading.local()  # per thread: the callback of the request being ranked
_demo_lock = threading.Lock()  # two first sessions must not both import the demo log


def db_path() -> Path:
    """The app's database: $RECSYS_DB when set (tests, deployments), else data/recsys.db."""
    return Path(os.environ.get("RECSYS_DB") or config.DEFAULT_DB)


def catalog() -> Catalog:
    """This thread's catalog connection; an empty database is filled with the embedded demo catalogs."""
    path = db_path()
    cache = getattr(_local, "catalogs", None)
    if cache is None:
        cache = _local.catalogs = {}
    if path not in cache:
        cat = open_catalog(path)
        if cat.db["items"].count == 0:
            with st.spinner("Building the demo catalogs (first start only)…"):
                load_demo_catalogs(cat)
        with _demo_lock:
            if not any(d.interactions or d.sequences for d in cat.datasets()):
                with st.spinner("Adding the demo interaction log and its evaluation (first start only)…"):
                    if demo.ensure_log(cat):
                        demo.ensure_evaluation(cat, None, methods=demo.QUICK_METHODS)
        cache[path] = cat
    return cache[path]


def store() -> Store:
    return Store(catalog().db)


class _ReportingBackend:
    """Passes a scoring backend through, telling the current request's progress callback about each prompt."""

    def __init__(self, backend):
        self._backend = backend

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def score(self, prefix, continuations):
        callback = getattr(_progress, "callback", None)
        if callback:
            callback(prefix, len(continuations))
        return self._backend.score(prefix, continuations)


class QueuedPairScorer(PairScorer):
    """A `PairScorer` that takes the process's model turn (`turns`) while it scores what the cache lacks; the
    scorer looks the cache up again once it has the turn, so a request queued behind one scoring the same pairs
    finds them there."""

    def _turn(self):
        return turns.model_turn()


class AppModels(Models):
    """The engine's `Models`, able to report progress to the request running in the calling thread, with the
    model's use queued across sessions (`turns`)."""

    def lm(self, name: str):
        return _ReportingBackend(super().lm(name))

    def pair_scorer(self, catalog: Catalog, config) -> PairScorer:
        return QueuedPairScorer(lambda: self.lm(config.model), self.lm_cache_key(config.model), catalog.db,
                                config.max_item_tokens)

    def embedder(self, name: str):
        emb = super().embedder(name)
        if "encode" not in vars(emb):  # once per embedder: its encoding (of texts not cached) takes a turn too
            encode = emb.encode

            def queued(*args, **kwargs):
                with turns.model_turn():
                    return encode(*args, **kwargs)

            emb.encode = queued
        return emb

    def lm_loaded(self, name: str) -> bool:
        return name in self._backends

    def embedder_loaded(self, name: str) -> bool:
        emb = self._embedders.get(name)
        return emb is not None and emb._encoder is not None

    @contextmanager
    def reporting(self, callback: Callable[[str, int], None]):
        _progress.callback = callback
        try:
            yield
        finally:
            _progress.callback = None


PRECISION_KEY = "set_precision"  # the settings' numeric precision: auto, float32 or bfloat16


def models() -> AppModels:
    """The process's models in the precision chosen in the settings ($RECSYS_PRECISION, else auto, unless
    changed), shared by every session that chose it (each loaded on first use)."""
    from ..precision import parse

    return _models(parse(st.session_state.get(PRECISION_KEY)))


@st.cache_resource(show_spinner=False)
def _models(precision: str) -> AppModels:
    return AppModels(precision=precision)


def neutral_job():
    """ℓ(y|∅) of the embedded catalogs, scored in the background once per process and precision; None if off."""
    from . import neutral

    if not neutral.enabled():
        return None
    return _neutral_job(str(db_path()), models().precision)


@st.cache_resource(show_spinner=False)
def _neutral_job(path: str, precision: str):
    from . import neutral

    return neutral.start(path, _models(precision))


def warm_up(models_: AppModels, lm: str | None, embedder: str, status) -> None:
    """Load what the request needs and is not loaded yet, saying so (the first load takes 10-30 s)."""
    if not models_.embedder_loaded(embedder):
        status.update(label=f"Loading the embedding model {embedder}…")
        start = time.perf_counter()
        models_.embedder(embedder).encoder  # noqa: B018 - loads it
        status.write(f"Loaded embedding model {embedder} in {time.perf_counter() - start:.1f} s")
    if lm and not models_.lm_loaded(lm):
        status.update(label=f"Loading the language model {lm} (first time in this process: 10-30 s)…")
        start = time.perf_counter()
        models_.lm(lm)
        status.write(f"Loaded language model {lm} in {time.perf_counter() - start:.1f} s")


def seconds_of(result: Result) -> str:
    """A result's own total time, the one figure every label shows."""
    return f"{result.timings.get('total', 0.0) / 1000:.2f} s"


def rank(query: Query, label: str = "Ranking") -> Result:
    """`recommend(…, fallback=True)` with a status box: model loading, then one progress step per prompt the LM
    scores (cached pairs are not re-scored, so a repeated request skips straight to the end)."""
    cat, mdl = catalog(), models()
    cfg = query.config
    start = time.perf_counter()
    with st.status(f"{label}…", expanded=True) as status:
        try:
            try:
                warm_up(mdl, cfg.model if cfg.uses_lm else None, cfg.embedder, status)
            except ModelLoadError as e:  # recommend() falls back to embeddings + prior and says so in its notes
                status.write(md(e))
            n_prompts = min(len(query.history), cfg.max_history) + (cfg.calibration == "pmi")
            bar = st.progress(0.0, text="Retrieving candidates and looking up cached scores…")
            done = [0]

            def on_prompt(prefix: str, n: int) -> None:
                done[0] += 1
                bar.progress(min(done[0] / max(n_prompts, 1), 1.0),
                             text=f"{cfg.model}: scoring {n} candidates after the prompt {md(prefix, 90)}")

            waited = [False]

            def on_wait(ahead: int) -> None:  # queued behind other sessions' scoring (`turns`)
                waited[0] = True
                status.update(label=f"{label}: waiting for the model ({ahead} ahead)…")

            def on_turn(prefix: str, n: int) -> None:
                if waited[0]:  # the first prompt after a wait: the model is ours now
                    waited[0] = False
                    status.update(label=f"{label}…")
                on_prompt(prefix, n)

            with mdl.reporting(on_turn), turns.showing(on_wait):
                result = recommend(cat, query, mdl, fallback=True)
            bar.empty()
        except Exception:
            status.update(label=f"{label} failed", state="error")
            raise
        loading = time.perf_counter() - start - result.timings.get("total", 0.0) / 1000
        status.update(label=f"{label}: done in {seconds_of(result)}" + (
            f" (and {loading:.1f} s loading models first)" if loading >= 1 else ""), state="complete", expanded=False)
    return result
