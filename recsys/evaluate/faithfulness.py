"""`python -m recsys explain-eval`: are the explanations faithful? Deletion tests against exact leave-one-out.

For each user of an LLMRank-20 evaluation set, the real pipeline (`recommend()` over the user's candidates, the
last `history` items as the history) ranks the candidates; then each history item is removed in turn and the
pipeline re-run (exact leave-one-out: one run per history item). For each of the top `top` recommendations:

- deletion test: the drop of its score and of its rank when the history item with the largest attributed part is
  removed, a random one (seeded), and the one with the smallest part; a faithful attribution makes the first hurt
  most and the last least;
- correlation between each item's attributed part and the true leave-one-out change of the score.

Two attributions are compared on the same runs: `per-item` (every term split over the history items, what the
product shows) and `lm-only` (only the language-model term per item, the similarity lumped apart: what was shown
before), whose parts are the LM shares alone.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..catalog import Catalog
from ..commands.recommend import add_scoring_options, config_from_args
from ..config import DEFAULT_DB, ScoringConfig
from ..errors import ConfigError
from ..types import LM, Query
from . import metrics as M
from .protocols import build, user_rng

ATTRIBUTIONS = ("per-item", "lm-only")
REMOVALS = ("largest", "random", "smallest")


@dataclass(frozen=True)
class FaithSpec:
    dataset: str
    split: str = "test"
    limit_users: int | None = 200
    sample_users: int | None = None
    history: int = 20  # the last N history items form the explained history (N + 1 pipeline runs per user)
    top: int = 5
    seed: int = 0
    n_boot: int = 1000
    config: ScoringConfig = field(default_factory=ScoringConfig)


def _attributions(rec, n: int) -> dict[str, np.ndarray]:
    """(n,) attributed part of each history item, oldest first, per attribution."""
    items = [c for c in rec.contributions if c.name.startswith("history:")]
    return {"per-item": np.array([c.value for c in items]), "lm-only": np.array([c.term(LM) for c in items])}


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rank = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float)  # noqa: E731
    return _pearson(rank(x), rank(y))


def run_faithfulness(catalog: Catalog, spec: FaithSpec, models, show_progress: bool = False) -> dict:
    """The deletion test and the leave-one-out correlations for both attributions, as a JSON-able dict."""
    from ..recommend import recommend

    es = build(catalog.db, spec.dataset, "llmrank20", seed=spec.seed, split=spec.split,
               limit_users=spec.limit_users, sample_users=spec.sample_users)
    drops = {(a, r): {"score": [], "rank": [], "left_top": []} for a in ATTRIBUTIONS for r in REMOVALS}
    pairs = {a: {"part": [], "loo": [], "user": []} for a in ATTRIBUTIONS}
    spearman = {a: [] for a in ATTRIBUTIONS}
    base_s, loo_s, runs = 0.0, 0.0, 0
    started = time.perf_counter()

    def ranked(history: tuple[str, ...], candidates) -> tuple[dict, dict]:
        q = Query(history=history, candidates=candidates, top=len(candidates), config=spec.config, keep_history=True)
        result = recommend(catalog, q, models)
        return result, {r.item.id: (r.score, r.rank) for r in result.recommendations}

    for u, case in enumerate(tqdm(es.cases, desc=f"{spec.dataset} explain-eval", unit="user",
                                  disable=not show_progress, mininterval=1 if sys.stderr.isatty() else 60)):
        history = tuple(case.history[-spec.history:])
        n = len(history)
        t0 = time.perf_counter()
        base, _ = ranked(history, case.candidates)
        base_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        without = [ranked(history[:k] + history[k + 1:], case.candidates)[1] for k in range(n)]
        loo_s += time.perf_counter() - t0
        runs += 1 + n
        pick = int(user_rng(spec.seed, "explain", case.user_id).integers(n))
        for rec in base.recommendations[:spec.top]:
            delta = np.array([rec.score - w[rec.item.id][0] for w in without])  # true leave-one-out change
            fall = np.array([w[rec.item.id][1] - rec.rank for w in without])
            for a, parts in _attributions(rec, n).items():
                chosen = {"largest": int(np.argmax(parts)), "random": pick, "smallest": int(np.argmin(parts))}
                for r, k in chosen.items():
                    d = drops[(a, r)]
                    d["score"].append(delta[k])
                    d["rank"].append(fall[k])
                    d["left_top"].append(float(without[k][rec.item.id][1] > spec.top))
                pairs[a]["part"] += parts.tolist()
                pairs[a]["loo"] += delta.tolist()
                pairs[a]["user"] += [u] * n
                if n > 1:
                    spearman[a].append(_spearman(parts, delta))

    def summary(values: list[float]) -> dict:
        v = np.array(values, dtype=float)
        lo, hi = M.bootstrap_ci(v, spec.n_boot, spec.seed)
        return {"mean": float(v.mean()) if v.size else None, "ci95": [lo, hi]}

    out = {"dataset": spec.dataset, "split": spec.split, "users": len(es.cases), "top": spec.top,
           "history_items": spec.history, "settings": spec.config.to_dict(), "protocol": es.describe(),
           "deletion": {}, "correlation": {}, "cost": {}}
    for (a, r), d in drops.items():
        out["deletion"].setdefault(a, {})[r] = {"score_drop": summary(d["score"]), "rank_drop": summary(d["rank"]),
                                                "left_top": summary(d["left_top"])}
    for a, p in pairs.items():
        part, loo, users = (np.array(p[k]) for k in ("part", "loo", "user"))
        r = _pearson(part, loo)
        boot = np.random.default_rng(spec.seed)
        by_user = [np.flatnonzero(users == k) for k in np.unique(users)]
        draws = []
        for _ in range(min(spec.n_boot, 300)):  # resample users: their parts and changes are not independent
            idx = np.concatenate([by_user[k] for k in boot.integers(len(by_user), size=len(by_user))])
            draws.append(_pearson(part[idx], loo[idx]))
        lo, hi = np.nanquantile(draws, [0.025, 0.975]) if draws else (np.nan, np.nan)
        rho = np.array([x for x in spearman[a] if x == x])
        out["correlation"][a] = {"pearson": r, "ci95": [float(lo), float(hi)], "pairs": int(part.size),
                                 "spearman_mean": float(rho.mean()) if rho.size else None}
    out["cost"] = {"seconds": round(time.perf_counter() - started, 1), "pipeline_runs": runs,
                   "base_s_per_user": round(base_s / max(len(es.cases), 1), 3),
                   "loo_s_per_user": round(loo_s / max(len(es.cases), 1), 3)}
    return out


def markdown(r: dict) -> str:
    """The result as a Markdown report."""
    f = lambda x: "–" if x is None or x != x else f"{x:+.3f}"  # noqa: E731
    lines = [f"# Explanation faithfulness: {r['dataset']} ({r['split']} split, {r['users']} users)", "",
             f"Top {r['top']} recommendations of each user among the LLMRank-20 candidates "
             f"(negatives: {r['protocol'].get('negatives')}), the last {r['history_items']} history items; "
             f"{r['cost']['pipeline_runs']} pipeline runs in {r['cost']['seconds']} s "
             f"({r['cost']['base_s_per_user']} s per user for the list, {r['cost']['loo_s_per_user']} s for its "
             "exact leave-one-out).", "",
             "## Deletion test: remove one history item, re-run the pipeline", "",
             "| attribution | removed item | score drop [95% CI] | rank drop [95% CI] | left the top |",
             "|---|---|---|---|---|"]
    for a, by_removal in r["deletion"].items():
        for rem, d in by_removal.items():
            s, k, t = d["score_drop"], d["rank_drop"], d["left_top"]
            lines.append(f"| {a} | {rem} part | {f(s['mean'])} [{f(s['ci95'][0])}, {f(s['ci95'][1])}] | "
                         f"{k['mean']:+.2f} [{k['ci95'][0]:+.2f}, {k['ci95'][1]:+.2f}] | {100 * t['mean']:.1f}% |")
    lines += ["", "## Attributed part against the true leave-one-out change of the score", "",
              "| attribution | Pearson r [95% CI, users resampled] | mean Spearman ρ per recommendation | pairs |",
              "|---|---|---|---|"]
    for a, c in r["correlation"].items():
        rho = "–" if c["spearman_mean"] is None else f"{c['spearman_mean']:.3f}"
        lines.append(f"| {a} | {c['pearson']:.3f} [{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}] | {rho} | {c['pairs']} |")
    return "\n".join(lines) + "\n"


def summary(results: list[dict]) -> str:
    """One table across runs (a row per dataset and attribution): score drops and the correlation with LOO."""
    def cell(d: dict) -> str:
        return f"{d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"

    lines = ["| dataset (users) | attribution | score drop: largest part removed | random | smallest | "
             "Pearson r with exact LOO [95% CI] |", "|---|---|---|---|---|---|"]
    for r in results:
        for a in ATTRIBUTIONS:
            d, c = r["deletion"][a], r["correlation"][a]
            lines.append(f"| {r['dataset']} ({r['users']}) | {a} | {cell(d['largest']['score_drop'])} | "
                         f"{cell(d['random']['score_drop'])} | {cell(d['smallest']['score_drop'])} | "
                         f"{c['pearson']:.3f} [{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}] |")
    return "\n".join(lines) + "\n"


def register(sub) -> None:
    p = sub.add_parser("explain-eval", help="measure how faithful the explanations are (deletion test, LOO)",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--db", default=str(DEFAULT_DB), help="SQLite database with the imported dataset")
    p.add_argument("--dataset")
    p.add_argument("--summary", nargs="+", metavar="JSON", help="print one table across --json outputs and exit")
    p.add_argument("--split", choices=["test", "valid"], default="test")
    p.add_argument("--limit-users", type=int, default=200, metavar="N", help="the first N users (default 200)")
    p.add_argument("--sample-users", type=int, metavar="N", help="N users drawn with the seed instead")
    p.add_argument("--history", type=int, default=20, help="history items explained per user (default 20)")
    p.add_argument("--top", type=int, default=5, help="recommendations tested per user (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-item-tokens", type=int, default=None, help="token budget of one item's text for the LM")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON")
    p.add_argument("--report", metavar="OUT.md", help="write a Markdown report")
    p.add_argument("--quiet", action="store_true")
    add_scoring_options(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..catalog import open_catalog
    from ..recommend import Models

    if args.summary:
        print(summary([json.loads(Path(f).read_text()) for f in args.summary]))
        return 0
    if not args.dataset:
        raise ConfigError("--dataset is required")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    config = config_from_args(args)
    if args.max_item_tokens:
        config = config.with_(max_item_tokens=args.max_item_tokens)
    spec = FaithSpec(dataset=args.dataset, split=args.split, limit_users=None if args.sample_users else
                     args.limit_users, sample_users=args.sample_users, history=args.history, top=args.top,
                     seed=args.seed, config=config)
    models = Models(device=args.device, backend=args.backend, precision=args.precision)
    result = run_faithfulness(open_catalog(args.db), spec, models, show_progress=not args.quiet)
    text = markdown(result)
    for path, content in ((args.json, json.dumps(result, indent=1) + "\n"), (args.report, text)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(content)
    print(text)
    return 0
