"""The evaluation loop: one set of users and candidates, every method on it, metrics with intervals, a report.

`run_evaluation(catalog, spec)` is what the CLI and the app call; it takes a progress callback and returns an
`EvalResult` that turns into the JSON of `--json`, the Markdown of `--report`, and a row of the `evaluations`
table (`store`, `list_evaluations`, `load_evaluation`). LM scores go through the SQLite pair cache as each history
item is finished, so an interrupted run loses nothing it scored: the rerun reads them back.
"""
from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import sqlite_utils
from tqdm import tqdm

from ..catalog import Catalog
from ..config import ScoringConfig
from ..errors import RecsysError
from . import metrics as M
from .methods import DEFAULT_METHODS, Context, Env, aliases, resolve
from .protocols import EVAL_HISTORY, EvalSet, build

Progress = Callable[[int, int, float], None]  # (users done, users in all, seconds so far)
ANCHORS = {  # published LLMRank-20 NDCG@10 (Hou et al., 2024)
    "ML-1M": {"pop": 52.33, "ChatGPT zero-shot (best prompt)": 45.83, "SASRec (trained)": 78.89},
    "Amazon Games": {"pop": 52.96, "ChatGPT zero-shot": 53.50, "SASRec (trained)": 75.92},
    "random (expected)": {"random": 22.7},
}


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate; everything that changes a number is here and stored with the result."""

    dataset: str
    protocol: str = "llmrank20"
    methods: tuple[str, ...] = DEFAULT_METHODS
    seed: int = 0
    split: str = "test"
    limit_users: int | None = None
    sample_users: int | None = None  # N users drawn with the seed instead of the first N
    candidates: str | None = None  # an LLMRank candidate file
    candidate_set: str | None = None  # a candidate set imported into the database
    item2index: str | None = None  # UniSRec index map for a candidate file holding indices
    n_negatives: int = 19
    negatives: str = "llmrank"  # how negatives are drawn: LLMRank's way (all items but the target) or "unseen"
    missing_target: str = "miss"  # a candidate list without the target: a miss, or "inject" it (LLMRank files)
    config: ScoringConfig = field(default_factory=ScoringConfig)
    n_boot: int = 1000
    tuned: str = ""  # what was tuned, and on which data (never the targets reported here)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("dataset", "protocol", "seed", "split", "limit_users", "sample_users", "candidates",
                                           "candidate_set", "item2index", "n_negatives", "negatives", "missing_target",
                                           "n_boot", "tuned")}
        return {**d, "methods": list(self.methods), "config": self.config.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "EvalSpec":
        d = dict(d)
        d.setdefault("negatives", "unseen")  # what results written before the choice existed used
        d.setdefault("missing_target", "inject")
        d["methods"] = tuple(d.get("methods") or DEFAULT_METHODS)
        d["config"] = ScoringConfig.from_dict(d.get("config") or {})
        return cls(**d)


def _r(v: float) -> float | None:
    """Rounded for JSON; NaN (an undefined area or interval) becomes null."""
    return None if v is None or v != v else round(float(v), 4)


@dataclass
class MethodResult:
    name: str
    description: str
    metrics: dict[str, float]  # percent (AUCs as fractions)
    ci95: dict[str, tuple[float, float]]  # percent
    ranks: np.ndarray  # (users,) rank of each user's target, 1 = best
    roc: M.Curve
    pr: M.Curve
    seconds: float = 0.0

    def to_dict(self, ranks: bool = False) -> dict:
        out = {**{k: _r(v) for k, v in self.metrics.items()},
               "ci95": {k: [_r(lo), _r(hi)] for k, (lo, hi) in self.ci95.items()},
               "description": self.description, "seconds": round(self.seconds, 2)}
        if ranks:
            out["ranks"] = self.ranks.tolist()
            out["curves"] = {name: {"x": c.x.round(5).tolist(), "y": c.y.round(5).tolist(),
                                    "area": None if c.area != c.area else float(c.area)}
                             for name, c in (("roc", self.roc), ("pr", self.pr))}
        return out

    @classmethod
    def from_dict(cls, name: str, d: dict) -> "MethodResult":
        curves = {k: M.Curve(np.array(v["x"]), np.array(v["y"]), v["area"] if v["area"] is not None else np.nan)
                  for k, v in (d.get("curves") or {}).items()}
        empty = M.Curve(np.zeros(0), np.zeros(0), float("nan"))
        skip = {"ci95", "description", "seconds", "ranks", "curves"}
        nan = float("nan")
        return cls(name=name, description=d.get("description", ""),
                   metrics={k: nan if v is None else float(v) for k, v in d.items() if k not in skip},
                   ci95={k: (nan if a is None else float(a), nan if b is None else float(b))
                         for k, (a, b) in d.get("ci95", {}).items()},
                   ranks=np.array(d.get("ranks", []), dtype=np.int64), roc=curves.get("roc", empty),
                   pr=curves.get("pr", empty), seconds=float(d.get("seconds", 0.0)))


@dataclass
class EvalResult:
    spec: EvalSpec
    protocol: dict  # EvalSet.describe()
    user_ids: list[str]
    methods: dict[str, MethodResult]
    comparisons: dict[str, dict]  # "a - b" -> {"ndcg@10": [mean, lo, hi], ...} in points, same users
    settings: dict
    timings: dict[str, float]
    notes: list[str]
    id: str = ""
    created: str = ""
    n_users: int = 0  # when read back from a --json document, which leaves out the user ids

    @property
    def users(self) -> int:
        return len(self.user_ids) or self.n_users

    def to_dict(self, full: bool = False) -> dict:
        """The `--json` document; `full` adds per-user ranks and curve points (what the database keeps)."""
        out = {"protocol": self.spec.protocol, "dataset": self.spec.dataset, "split": self.spec.split,
               "users": self.users,
               "methods": {n: m.to_dict(ranks=full) for n, m in self.methods.items()},
               "comparisons": self.comparisons, "settings": self.settings, "timings": self.timings,
               "notes": self.notes, "id": self.id, "created": self.created, "spec": self.spec.to_dict()}
        if full:
            out["user_ids"] = self.user_ids
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "EvalResult":
        return cls(spec=EvalSpec.from_dict(d["spec"]), protocol=d["settings"].get("protocol", {}),
                   user_ids=d.get("user_ids", []),
                   methods={n: MethodResult.from_dict(n, m) for n, m in d["methods"].items()},
                   comparisons=d.get("comparisons", {}), settings=d["settings"], timings=d.get("timings", {}),
                   notes=d.get("notes", []), id=d.get("id", ""), created=d.get("created", ""),
                   n_users=int(d.get("users", 0)))

    def markdown(self) -> str:
        from .report import markdown

        return markdown(self)


def _comparisons(methods: dict[str, MethodResult], n_boot: int, seed: int,
                 groups: np.ndarray | None = None) -> dict[str, dict]:
    """Paired bootstrap differences (points) of NDCG@10, HR@10 and MRR on the same users: each LM method against
    `pop` and against every embeddings + prior method in the run (`embed+pop`, `embed+pop/...` tuned ones),
    `embed+pop` against `pop`, and `fused` against `embed`."""
    no_lm = [n for n in methods if n == "embed+pop" or n.startswith("embed+pop/")]
    pairs = []
    for name in methods:
        if name.startswith(("lm", "fused")):
            pairs += [(name, b) for b in no_lm] + [(name, "pop")]
    pairs += [(b, "pop") for b in no_lm] + [("fused", "embed"), ("embed", "pop")]
    out = {}
    for a, b in pairs:
        if a in methods and b in methods and a != b:
            pa, pb = M.per_user(methods[a].ranks), M.per_user(methods[b].ranks)
            out[f"{a} - {b}"] = {k: [_r(100 * v) for v in M.paired_difference(pa[k], pb[k], n_boot, seed, groups)]
                                 for k in ("ndcg@10", "hr@10", "mrr")}
    return out


def summarise(name: str, description: str, ranks: np.ndarray, scores: np.ndarray, labels: np.ndarray,
              n_boot: int, seed: int, seconds: float = 0.0, groups: np.ndarray | None = None) -> MethodResult:
    """Means in percent with bootstrap intervals (resampling `groups` where given), plus ROC/PR over the pooled
    candidate scores."""
    per = M.per_user(ranks)
    values = {k: 100 * float(v.mean()) for k, v in per.items()}
    ci = {k: tuple(100 * x for x in M.bootstrap_ci(per[k], n_boot, seed, groups=groups)) for k in M.RANK_METRICS}
    roc, pr = M.roc_curve(scores, labels), M.pr_curve(scores, labels)
    values["roc_auc"], values["pr_auc"] = roc.area, pr.area
    return MethodResult(name, description, values, ci, np.asarray(ranks, dtype=np.int64), M.thin(roc), M.thin(pr),
                        seconds)


@dataclass
class CaseScores:
    """What the methods gave a batch of cases (users), in case order: enough to summarise them later, and to
    merge batches scored apart (shards of users on other workers) into one run."""

    user_ids: list[str]
    ranks: dict[str, np.ndarray]  # method -> (users,) rank of the target, 1 = best
    scores: dict[str, list[np.ndarray]]  # method -> per user, the candidate scores (full: the retrieved pool's)
    labels: list[np.ndarray]  # per user, which of those candidates is the target
    seconds: dict[str, float]  # method -> time spent scoring
    in_pool: int = 0  # full protocol: users whose target the retrieval kept
    lm_pairs: int = 0  # pairs the LM scored (not found in the cache)

    @classmethod
    def merge(cls, parts: list["CaseScores"]) -> "CaseScores":
        """Batches in the order given, as if scored in one pass."""
        names = list(parts[0].ranks) if parts else []
        return cls(user_ids=[u for p in parts for u in p.user_ids],
                   ranks={m: np.concatenate([p.ranks[m] for p in parts]) for m in names},
                   scores={m: [s for p in parts for s in p.scores[m]] for m in names},
                   labels=[y for p in parts for y in p.labels],
                   seconds={m: sum(p.seconds[m] for p in parts) for m in names},
                   in_pool=sum(p.in_pool for p in parts), lm_pairs=sum(p.lm_pairs for p in parts))


def score_cases(env: Env, methods, cases, full: bool, on_case: Callable[[], None] | None = None) -> CaseScores:
    """Every method on every case: the per-user work of an evaluation, independent of how users are batched."""
    cfg = env.config
    n = len(cases)
    out = CaseScores(user_ids=[c.user_id for c in cases], ranks={m.name: np.zeros(n, dtype=np.int64) for m in methods},
                     scores={m.name: [] for m in methods}, labels=[], seconds={m.name: 0.0 for m in methods})
    pairs_before = env.lm_pairs
    for u, case in enumerate(cases):
        if full:
            cand = np.array([k for k, item in enumerate(env.items) if item.id not in case.seen or item.id == case.target],
                            dtype=np.int64)
            ctx = Context(env, case.user_id, case.history, cand)
            target = int(np.flatnonzero(cand == env.index[case.target])[0])
            pool = ctx.retrieval_pool(cfg.n_candidates, cfg.n_popular)
            pool_ctx = ctx.restrict(pool)
            out.in_pool += int(target in set(pool.tolist()))
            out.labels.append(pool == target)
        else:
            ctx = Context(env, case.user_id, case.history, env.idx(case.candidates))
            target = case.target_index  # -1: the list lacks the target, a miss for every method
            out.labels.append(np.arange(len(case.candidates)) == target)
        for m in methods:
            t0 = time.perf_counter()
            if full and m.reranks:
                s = np.full(len(ctx.candidates), -np.inf)
                s[pool] = m.score(pool_ctx)
            else:
                s = m.score(ctx)
            out.seconds[m.name] += time.perf_counter() - t0
            out.ranks[m.name][u] = M.target_rank(s, target) if target >= 0 else len(s) + 1
            out.scores[m.name].append(s[pool] if full else s)
        if on_case:
            on_case()
    out.lm_pairs = env.lm_pairs - pairs_before
    return out


def run_evaluation(catalog: Catalog, spec: EvalSpec, models=None, progress: Progress | None = None,
                   show_progress: bool = False, eval_set: EvalSet | None = None,
                   ell_memo: dict | None = None) -> EvalResult:
    """Score every method on the same users and candidates and summarise; raises RecsysError on bad input."""
    from ..recommend import default_models

    started = time.perf_counter()
    models = models or default_models()
    eval_set = eval_set or build_eval_set(catalog, spec)
    methods = resolve(spec.methods, spec.config)
    env = Env(catalog, spec.dataset, spec.config, models, seed=spec.seed, ell_memo=ell_memo, split=spec.split)
    if not env.items:
        raise RecsysError(f"dataset {spec.dataset!r} has no items")
    n = len(eval_set.cases)
    setup_s = time.perf_counter() - started
    with tqdm(total=n, desc=f"{spec.dataset} {spec.protocol}", unit="user", disable=not show_progress,
              dynamic_ncols=True, mininterval=1 if sys.stderr.isatty() else 60) as bar:
        done = iter(range(1, n + 1))

        def on_case() -> None:
            bar.update()
            if progress:
                progress(next(done), n, time.perf_counter() - started)

        scored = score_cases(env, methods, eval_set.cases, eval_set.protocol == "full", on_case)
    return summarise_run(spec, eval_set, env, methods, scored, started, setup_s)


def build_eval_set(catalog: Catalog, spec: EvalSpec) -> EvalSet:
    return build(catalog.db, spec.dataset, spec.protocol, seed=spec.seed, split=spec.split,
                 candidates=spec.candidates, candidate_set=spec.candidate_set, item2index=spec.item2index,
                 limit_users=spec.limit_users, sample_users=spec.sample_users, n_negatives=spec.n_negatives,
                 negatives=spec.negatives, missing_target=spec.missing_target)


def summarise_run(spec: EvalSpec, eval_set: EvalSet, env: Env, methods, scored: CaseScores, started: float,
                  setup_s: float) -> EvalResult:
    """The result of a run from the scores of all its cases (scored in one pass or merged from batches)."""
    cfg, models = spec.config, env.models
    n = len(scored.user_ids)
    full = eval_set.protocol == "full"
    y = np.concatenate(scored.labels) if scored.labels else np.zeros(0, dtype=bool)
    groups = np.array(eval_set.groups)
    results = {m.name: summarise(m.name, m.description, scored.ranks[m.name],
                                 np.concatenate(scored.scores[m.name]) if n else np.zeros(0), y, spec.n_boot,
                                 spec.seed, scored.seconds[m.name], groups) for m in methods}
    notes = list(eval_set.notes)
    if full:
        notes.append(f"retrieval (top {cfg.n_candidates} by embedding + {cfg.n_popular} popular) holds the target "
                     f"for {scored.in_pool} of {n} users ({100 * scored.in_pool / max(n, 1):.1f}%): the ceiling of "
                     "every re-ranking method; ROC/PR are over the retrieved pool")
    settings = {
        "protocol": eval_set.describe(),
        "scoring": cfg.to_dict(),
        "template": env.template.key,
        "lm_history_items": cfg.max_history,
        "eval_history_items": EVAL_HISTORY,
        "aliases": aliases(cfg),
        "model_cache_key": models.lm_cache_key(cfg.model) if any(m.uses_lm for m in methods) else None,
        "tuned": spec.tuned or "nothing in this run: ScoringConfig defaults",
        "bootstrap": {"resamples": spec.n_boot, "seed": spec.seed, "level": 0.95,
                      "unit": "stream" if len(set(groups)) < n else "user"},
    }
    timings = {"total_s": round(time.perf_counter() - started, 2), "setup_s": round(setup_s, 2),
               "lm_pairs_computed": scored.lm_pairs,
               "per_user_s": round((time.perf_counter() - started - setup_s) / max(n, 1), 4)}
    return EvalResult(spec=spec, protocol=eval_set.describe(), user_ids=list(scored.user_ids),
                      methods=results, comparisons=_comparisons(results, spec.n_boot, spec.seed, groups),
                      settings=settings,
                      timings=timings, notes=notes,
                      created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


# -- stored evaluations -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredEvaluation:
    id: str
    created: str
    dataset: str
    protocol: str
    split: str
    users: int
    methods: tuple[str, ...]
    ndcg10: dict[str, float]  # method -> NDCG@10, for listing


def store(db: sqlite_utils.Database, result: EvalResult) -> str:
    """Save a result (with per-user ranks and curves) and return its id."""
    result.id = result.id or uuid.uuid4().hex[:12]
    data = result.to_dict(full=True)
    db["evaluations"].upsert({
        "id": result.id, "created": result.created, "dataset": result.spec.dataset,
        "protocol": result.spec.protocol, "split": result.spec.split, "users": result.users,
        "methods": json.dumps(list(result.methods)), "settings": json.dumps(result.settings),
        "result": json.dumps(data, allow_nan=True),
    }, pk="id")
    return result.id


def list_evaluations(db: sqlite_utils.Database, dataset: str | None = None) -> list[StoredEvaluation]:
    """Stored evaluations, newest first."""
    sql = "SELECT id, created, dataset, protocol, split, users, methods, result FROM evaluations"
    args: list = []
    if dataset:
        sql += " WHERE dataset = ?"
        args.append(dataset)
    out = []
    for id_, created, ds, protocol, split, users, methods, result in db.execute(sql + " ORDER BY created DESC", args):
        ndcg = {k: v.get("ndcg@10") for k, v in json.loads(result)["methods"].items()}
        out.append(StoredEvaluation(id_, created, ds, protocol, split, users, tuple(json.loads(methods)), ndcg))
    return out


def load_evaluation(db: sqlite_utils.Database, evaluation_id: str) -> EvalResult:
    row = db.execute("SELECT result FROM evaluations WHERE id = ?", [evaluation_id]).fetchone()
    if row is None:
        raise RecsysError(f"no stored evaluation {evaluation_id!r}")
    return EvalResult.from_dict(json.loads(row[0]))
