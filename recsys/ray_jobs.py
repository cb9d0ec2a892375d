"""Evaluation and precompute split into shards and scored on Ray workers, with the same numbers as one process.

Workers never open the driver's SQLite file (on a cluster they cannot): each worker loads the models once and
gets what it needs by value —
- evaluation: a snapshot of the database cut down to the dataset (its items, interactions, sequences, candidate
  sets, embeddings) and to this model's pair scores, sent once per run; then shards of cases (users). A worker
  scores its shard with the same `score_cases`, `Env` and methods as a single-process run and returns the
  shard's `CaseScores` and the pair scores it computed;
- precompute: per shard of items, the texts to score and the cache rows those pairs already have; the worker
  makes the same `PairScorer.matrix` calls as `precompute()` and returns the new rows.
The driver alone writes SQLite: a shard's new pair scores and (evaluation) its CaseScores in one transaction, in
`eval_shards` keyed by a hash of the spec and the shard's index. A killed run loses the shards in flight; the
rerun reads finished shards back and scores only the rest.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlite_utils

from .catalog import Catalog
from .distributed import DistributedError, Plan, Progress, check_address, import_ray, ray_runtime, run_shards
from .errors import RecsysError

EVAL_SHARD_USERS = 25  # users per evaluation shard: ~2 minutes of LLMRank-20 on one CPU worker
PRECOMPUTE_SHARD_ITEMS = 1024  # items per precompute shard (a multiple of precompute.NEUTRAL_CHUNK)
Hook = Callable[[str, int, int], None]  # (job, shard, attempt), called on the worker first: tests inject faults
PAIR_COLUMNS = ("model", "template", "x_hash", "y_hash", "logprob", "n_tokens")
_PRIVATE_TABLES = ("evaluations", "eval_shards", "sessions", "feedback", "review_lists", "review_labels",
                   "review_judgements")


# -- what travels -------------------------------------------------------------------------------------------------

def snapshot(catalog: Catalog, dataset: str, model_key: str) -> bytes:
    """The database as bytes, with only `dataset`'s rows and `model_key`'s pair scores (a worker's whole input)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshot.db"
        dst = sqlite3.connect(path)
        catalog.db.conn.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # a WAL image cannot be deserialized
        tables = [r[0] for r in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for t in tables:
            cols = {r[1] for r in dst.execute(f'PRAGMA table_info("{t}")')}
            if t in _PRIVATE_TABLES:
                dst.execute(f'DELETE FROM "{t}"')
            elif "dataset" in cols:
                dst.execute(f'DELETE FROM "{t}" WHERE dataset != ?', [dataset])
        if "embeddings" in tables:
            dst.execute("DELETE FROM embeddings WHERE item_id NOT IN (SELECT id FROM items)")
        if "pair_scores" in tables:
            dst.execute("DELETE FROM pair_scores WHERE model != ?", [model_key])
        dst.commit()
        dst.execute("VACUUM")
        dst.close()
        return path.read_bytes()


def open_snapshot(data: bytes) -> Catalog:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.deserialize(data)
    return Catalog(sqlite_utils.Database(conn))


def _new_rows(db: sqlite_utils.Database, after_rowid: int) -> list[tuple]:
    return db.execute(f"SELECT {', '.join(PAIR_COLUMNS)} FROM pair_scores WHERE rowid > ?", [after_rowid]).fetchall()


def _max_rowid(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT COALESCE(MAX(rowid), 0) FROM pair_scores").fetchone()[0]


def _write_pairs(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """Inside the caller's transaction."""
    conn.executemany(f"INSERT OR REPLACE INTO pair_scores ({', '.join(PAIR_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                     rows)


# -- the worker ---------------------------------------------------------------------------------------------------

class Worker:
    """One per Ray worker: the models, loaded once, and (evaluation) the run's dataset, read once."""

    def __init__(self, models_factory: Callable[[], object], data: bytes | None = None):
        self.models = models_factory()
        self.catalog = open_snapshot(data) if data is not None else None
        self._env: tuple[str, object] | None = None

    def evaluate(self, spec_dict: dict, shard: int, cases: list, full: bool, attempt: int, hook: Hook | None):
        from .evaluate.methods import Env, resolve
        from .evaluate.run import EvalSpec, score_cases

        if hook:
            hook("evaluate", shard, attempt)
        spec = EvalSpec.from_dict(spec_dict)
        key = json.dumps(spec_dict, sort_keys=True)
        if self._env is None or self._env[0] != key:
            self._env = (key, Env(self.catalog, spec.dataset, spec.config, self.models, seed=spec.seed,
                                  split=spec.split))
        env = self._env[1]
        before = _max_rowid(self.catalog.db)
        scored = score_cases(env, resolve(spec.methods, spec.config), cases, full)
        return scored, _new_rows(self.catalog.db, before)

    def precompute(self, job: dict, shard: int, attempt: int, hook: Hook | None):
        from .db import connect
        from .scoring import PairScorer

        if hook:
            hook("precompute", shard, attempt)
        db = connect(memory=True)
        _write_pairs(db.conn, [tuple(r[c] for c in PAIR_COLUMNS) for r in job["cached"]])
        db.conn.commit()
        before = _max_rowid(db)
        config = job["config"]
        scorer = PairScorer(lambda: self.models.lm(config.model), job["model_key"], db, config.max_item_tokens)
        for chunk in job["neutral"]:
            scorer.matrix(job["template"], [], chunk, neutral=True)
        for x, ys in job["rows"]:
            scorer.matrix(job["template"], [x], ys)
        return scorer.computed, _new_rows(db, before)

    def ping(self) -> bool:
        return True


def _remote(ray, plan: Plan):
    return ray.remote(num_cpus=plan.cpus_per_worker, num_gpus=plan.gpus_per_worker, max_restarts=0,
                      max_task_retries=0)(Worker)


# -- evaluation ---------------------------------------------------------------------------------------------------

SHARDS_TABLE = """CREATE TABLE IF NOT EXISTS eval_shards (
    run_key TEXT NOT NULL, shard INTEGER NOT NULL, users INTEGER NOT NULL, result TEXT NOT NULL, created TEXT,
    PRIMARY KEY (run_key, shard))"""


def run_key(spec, model_key: str, shard_users: int, user_ids: list[str]) -> str:
    """What makes a shard's CaseScores reusable: the spec (less what only the summary reads), the scores' model
    and engine, the shard size and the users."""
    d = spec.to_dict()
    for k in ("n_boot", "tuned"):
        d.pop(k, None)
    users = hashlib.sha1("\n".join(user_ids).encode()).hexdigest()
    payload = json.dumps({"spec": d, "model": model_key, "shard": shard_users, "users": users}, sort_keys=True)
    return hashlib.sha1(payload.encode()).hexdigest()[:20]


def _encode(scored) -> str:
    return json.dumps({"user_ids": scored.user_ids, "ranks": {m: r.tolist() for m, r in scored.ranks.items()},
                       "scores": {m: [s.tolist() for s in v] for m, v in scored.scores.items()},
                       "labels": [np.flatnonzero(y).tolist() + [len(y)] for y in scored.labels],
                       "seconds": scored.seconds, "in_pool": scored.in_pool, "lm_pairs": scored.lm_pairs})


def _decode(text: str):
    from .evaluate.run import CaseScores

    d = json.loads(text)
    labels = []
    for entry in d["labels"]:
        y = np.zeros(entry[-1], dtype=bool)
        y[entry[:-1]] = True
        labels.append(y)
    return CaseScores(user_ids=d["user_ids"], ranks={m: np.array(r, dtype=np.int64) for m, r in d["ranks"].items()},
                      scores={m: [np.array(s, dtype=np.float64) for s in v] for m, v in d["scores"].items()},
                      labels=labels, seconds=d["seconds"], in_pool=d["in_pool"], lm_pairs=d["lm_pairs"])


def stored_shards(db: sqlite_utils.Database, key: str) -> dict[int, object]:
    db.execute(SHARDS_TABLE)
    return {shard: _decode(result) for shard, result in
            db.execute("SELECT shard, result FROM eval_shards WHERE run_key = ?", [key])}


def _check_first(address: str | None) -> None:
    """Ray installed and the cluster listening, before any model is loaded or any data is cut."""
    import_ray()
    if address:
        check_address(address)


def check_backend(models, config, uses_lm: bool) -> None:
    """A serving backend is asked for its model before any work, so a wrong URL fails at once, by name."""
    if uses_lm and getattr(models, "backend", "transformers") != "transformers":
        models.lm(config.model)


def evaluate_on_ray(catalog: Catalog, spec, models_factory: Callable[[], object], *, address: str | None = None,
                    plan: Plan | None = None, shard_users: int = EVAL_SHARD_USERS, show_progress: bool = False,
                    num_cpus: int | None = None, hook: Hook | None = None):
    """`run_evaluation` with the users split into shards scored on Ray workers; the same EvalResult."""
    from .evaluate.methods import Env, resolve
    from .evaluate.run import CaseScores, build_eval_set, summarise_run

    if shard_users < 1:
        raise RecsysError("--shard-size must be >= 1")
    _check_first(address)
    plan = plan or Plan()
    started = time.perf_counter()
    models = models_factory()
    eval_set = build_eval_set(catalog, spec)
    methods = resolve(spec.methods, spec.config)
    env = Env(catalog, spec.dataset, spec.config, models, seed=spec.seed, split=spec.split)
    if not env.items:
        raise RecsysError(f"dataset {spec.dataset!r} has no items")
    check_backend(models, spec.config, any(m.uses_lm for m in methods))
    cases = list(eval_set.cases)
    shards = [cases[s:s + shard_users] for s in range(0, len(cases), shard_users)]
    model_key = models.lm_cache_key(spec.config.model)
    key = run_key(spec, model_key, shard_users, [c.user_id for c in cases])
    done = stored_shards(catalog.db, key)
    todo = [i for i in range(len(shards)) if i not in done]
    setup_s = time.perf_counter() - started
    if todo:
        env.vectors  # embeddings in the database before the snapshot, so workers never index the catalog
        data = snapshot(catalog, spec.dataset, model_key)
        spec_dict, full = spec.to_dict(), eval_set.protocol == "full"
        progress = Progress(f"{spec.dataset} {spec.protocol} on Ray", "user", len(cases), len(shards),
                            sum(len(shards[i]) for i in done), len(done), show_progress)

        def commit(shard: int, result) -> None:
            scored, rows = result
            with catalog.db.conn:
                _write_pairs(catalog.db.conn, rows)
                catalog.db.conn.execute(
                    "INSERT OR REPLACE INTO eval_shards VALUES (?, ?, ?, ?, ?)",
                    [key, shard, len(scored.user_ids), _encode(scored),
                     datetime.now(timezone.utc).isoformat(timespec="seconds")])
            done[shard] = scored
            progress.advance(len(scored.user_ids))

        try:
            with ray_runtime(address, num_cpus) as ray:
                ref = ray.put(data)
                actor = _remote(ray, plan)
                run_shards(ray, lambda: actor.remote(models_factory, ref), plan.count(ray), todo,
                           lambda w, shard, attempt: w.evaluate.remote(spec_dict, shard, shards[shard], full,
                                                                       attempt, hook),
                           commit, progress, "shard")
        finally:
            progress.close()
    scored = CaseScores.merge([done[i] for i in range(len(shards))])
    result = summarise_run(spec, eval_set, env, methods, scored, started, setup_s)
    result.timings["shards"] = len(shards)
    result.timings["shards_reused"] = len(shards) - len(todo)
    return result


# -- precompute ---------------------------------------------------------------------------------------------------

@dataclass
class _PrecomputeShard:
    start: int
    stop: int


def precompute_on_ray(catalog: Catalog, dataset: str, models_factory: Callable[[], object], config,
                      neighbours: int, *, neutral: bool = True, limit: int | None = None,
                      address: str | None = None, plan: Plan | None = None,
                      shard_items: int = PRECOMPUTE_SHARD_ITEMS, neutral_chunk: int | None = None,
                      progress: bool = True, num_cpus: int | None = None, hook: Hook | None = None):
    """`precompute()` with the items split into shards scored on Ray workers: the same pairs, the same scores."""
    from . import precompute as P
    from .text import template_for, text_hash

    neutral_chunk = neutral_chunk or P.NEUTRAL_CHUNK
    if shard_items < 1 or shard_items % neutral_chunk:
        raise RecsysError(f"--shard-size must be a positive multiple of {neutral_chunk} (the ℓ(y|∅) batch), so "
                          "every pair is scored in the same batch as in one process")
    _check_first(address)
    plan = plan or Plan()
    start = time.perf_counter()
    models = models_factory()
    info = catalog.dataset(dataset)
    ids, matrix = models.embedder(config.embedder).dataset_matrix(catalog, dataset, progress=progress)
    found = catalog.get_items(ids)
    items = [found[i] for i in ids]
    template = template_for((items[0].domain if items else "") or info.domain, config.template)
    scorer = models.pair_scorer(catalog, config)
    check_backend(models, config, True)
    texts = [i.lm_text() for i in items]
    n = len(items) if limit is None else min(limit, len(items))
    report = P.PrecomputeReport(dataset, n, min(neighbours, max(len(items) - 1, 0)))
    near = P.nearest_neighbours(matrix, neighbours)
    shards = [_PrecomputeShard(s, min(s + shard_items, n)) for s in range(0, n, shard_items)]
    report.pairs = (n if neutral else 0) + sum(len(near[i]) for i in range(n))

    def job(sh: _PrecomputeShard) -> dict:
        chunks = [texts[s:min(s + neutral_chunk, sh.stop)] for s in range(sh.start, sh.stop, neutral_chunk)]
        rows = [(texts[i], [texts[j] for j in near[i]]) for i in range(sh.start, sh.stop) if len(near[i])]
        xs = {text_hash(x) for x, _ in rows} | ({""} if neutral else set())
        ys = {text_hash(y) for _, row in rows for y in row} | {text_hash(t) for t in texts[sh.start:sh.stop]}
        return {"config": config, "template": template, "model_key": scorer.model_key,
                "neutral": chunks if neutral else [], "rows": rows, "cached": scorer.cached_rows(template, xs, ys)}

    def needed(j: dict) -> int:
        have = {(r["x_hash"], r["y_hash"]) for r in j["cached"]}
        want = {("", text_hash(y)) for c in j["neutral"] for y in c}
        want |= {(text_hash(x), text_hash(y)) for x, ys in j["rows"] for y in ys}
        return len(want - have)

    jobs: dict[int, dict] = {}
    todo = []
    for k, sh in enumerate(shards):
        j = job(sh)
        if needed(j):
            jobs[k] = j
            todo.append(k)
    bar = Progress(f"{dataset} precompute on Ray", "item", n, len(shards),
                   n - sum(shards[k].stop - shards[k].start for k in todo), len(shards) - len(todo), progress)

    def commit(k: int, result) -> None:
        computed, rows = result
        with catalog.db.conn:
            _write_pairs(catalog.db.conn, rows)
        report.computed += computed
        jobs.pop(k, None)
        bar.advance(shards[k].stop - shards[k].start)

    try:
        if todo:
            with ray_runtime(address, num_cpus) as ray:
                actor = _remote(ray, plan)
                run_shards(ray, lambda: actor.remote(models_factory), plan.count(ray), todo,
                           lambda w, k, attempt: w.precompute.remote(jobs[k], k, attempt, hook),
                           commit, bar, "shard")
    finally:
        bar.close()
    report.seconds = time.perf_counter() - start
    return report


__all__ = ["DistributedError", "Plan", "evaluate_on_ray", "precompute_on_ray", "snapshot", "run_key"]
