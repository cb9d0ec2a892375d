"""`python -m recsys evaluate`: run a protocol on an imported dataset, print the table, write JSON / Markdown /
curves, and store the result in the database (`--list` shows stored ones)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..catalog import open_catalog
from ..commands.recommend import add_scoring_options, config_from_args
from ..config import DEFAULT_DB
from ..errors import ConfigError
from ..ray_options import add_ray_options, plan_from_args
from .methods import DEFAULT_METHODS, GROUPS
from .protocols import MISSING_TARGET, NEGATIVES, PROTOCOLS


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="measure ranking quality offline (LLMRank-20 or full ranking) against baselines",
        description="Rank each user's held-out item among candidates with every method on the same users and "
                    "candidates; report NDCG/HR@1,5,10,20, MRR with bootstrap 95%% intervals, P/R/F1@K and "
                    "ROC/PR. Method names: " + ", ".join(GROUPS["all"]) + "; groups: " + ", ".join(GROUPS) + ".")
    p.add_argument("--db", default=str(DEFAULT_DB), help="SQLite database with the imported dataset")
    p.add_argument("--dataset", help="dataset name (as imported)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="llmrank20", help="default %(default)s")
    p.add_argument("--candidates", metavar="FILE", help="LLMRank candidate file: user_id<TAB>item ids (raw ids)")
    p.add_argument("--candidate-set", metavar="NAME", help="a candidate set imported with `import candidates`")
    p.add_argument("--item2index", metavar="FILE", help="UniSRec map, when the candidate file holds indices")
    p.add_argument("--limit-users", type=int, metavar="N", help="the first N users (candidate-file or user order)")
    p.add_argument("--sample-users", type=int, metavar="N", help="N users drawn with the seed (kept in order)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated methods or groups")
    p.add_argument("--seed", type=int, default=0, help="negatives, target positions, random scores, bootstrap")
    p.add_argument("--split", choices=["test", "valid"], default="test",
                   help="evaluate on the test targets, or on the validation targets (for tuning)")
    p.add_argument("--n-negatives", type=int, default=19, help="negatives per user (default %(default)s)")
    p.add_argument("--negatives", choices=NEGATIVES, default="llmrank",
                   help="llmrank: drawn uniformly from all items but the target, as the published LLMRank-20 "
                        "figures; unseen: only items outside the user's sequence (default %(default)s)")
    p.add_argument("--missing-target", choices=MISSING_TARGET, default="miss",
                   help="a candidate list that lacks the user's target: the user counts as a miss, or the target "
                        "is put in (inject: only for LLMRank's own files, which expect it); the report counts "
                        "such users either way (default %(default)s)")
    p.add_argument("--n-popular", type=int, default=None, help="popular items added to the retrieved pool (full)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="B", help="bootstrap resamples")
    p.add_argument("--tuned", default="", help="what was tuned and on which data (written into the report)")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON")
    p.add_argument("--report", metavar="OUT.md", help="write a Markdown report (curves saved beside it)")
    p.add_argument("--curves", metavar="DIR", help="save ROC/PR curves (HTML and PNG) in DIR")
    p.add_argument("--no-curves", action="store_true", help="no curve files beside --report")
    p.add_argument("--grid", metavar="SPEC", help="tune on the validation split: 'alpha=0,0.5,1 beta=0.5,1 ...' "
                                               "(ScoringConfig fields); prints every point, best first")
    p.add_argument("--tuned-from", metavar="GRID.json", help="add the best methods of a saved grid (the best "
                                                             "point, and the best without the LM) and say so")
    p.add_argument("--no-store", action="store_true", help="do not keep the result in the database")
    p.add_argument("--list", action="store_true", help="list the evaluations stored in the database and exit")
    p.add_argument("--summary", nargs="+", metavar="JSON", help="print one table (NDCG@10 [95%% CI] per method) "
                                                                 "across --json outputs and exit")
    p.add_argument("--metric", default="ndcg@10", help="the metric of --summary (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, help="torch CPU threads (1 is often faster on a busy machine)")
    p.add_argument("--max-item-tokens", type=int, default=None, help="token budget of one item's text for the LM")
    add_scoring_options(p)
    add_ray_options(p, "users", "25")
    p.set_defaults(func=run)


def run(args) -> int:
    from .curves import save_curves
    from .run import EvalSpec, list_evaluations, run_evaluation, store

    if args.summary:
        from .report import summary
        from .run import EvalResult

        results = [EvalResult.from_dict(json.loads(Path(f).read_text())) for f in args.summary]
        methods = args.methods.split(",") if args.methods != ",".join(DEFAULT_METHODS) else None
        print(summary(results, methods, args.metric))
        return 0
    catalog = open_catalog(args.db)
    if args.list:
        for e in list_evaluations(catalog.db, args.dataset):
            best = max(((v, k) for k, v in e.ndcg10.items() if v is not None), default=(None, "-"))
            print(f"{e.id}  {e.created}  {e.dataset:<18} {e.protocol:<9} {e.split:<5} {e.users:>5} users  "
                  f"best NDCG@10 {best[0]} ({best[1]})")
        return 0
    if not args.dataset:
        raise ConfigError("--dataset is required")
    config = config_from_args(args)
    if args.n_popular is not None:
        config = config.with_(n_popular=args.n_popular)
    if args.max_item_tokens is not None:
        config = config.with_(max_item_tokens=args.max_item_tokens)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    methods, tuned = args.methods.split(","), args.tuned
    if args.tuned_from:
        from .tune import tuned_methods

        extra, said = tuned_methods(json.loads(Path(args.tuned_from).read_text()))
        methods, tuned = [*methods, *extra], "; ".join(t for t in (tuned, said) if t)
    spec = EvalSpec(dataset=args.dataset, protocol=args.protocol, methods=tuple(methods),
                    seed=args.seed, split=args.split, limit_users=args.limit_users,
                    sample_users=args.sample_users, candidates=args.candidates,
                    candidate_set=args.candidate_set, item2index=args.item2index, n_negatives=args.n_negatives,
                    negatives=args.negatives, missing_target=args.missing_target,
                    config=config, n_boot=args.bootstrap, tuned=tuned)
    from ..recommend import Models

    models = Models(device=args.device, backend=args.backend, precision=args.precision)
    if args.grid:
        return _tune(catalog, spec, args, models)
    if args.ray is not None:
        result = _run_on_ray(args, catalog, spec)
    else:
        result = run_evaluation(catalog, spec, models, show_progress=not args.quiet)
    if not args.no_store:
        store(catalog.db, result)
    text = result.markdown()
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=1, ensure_ascii=False) + "\n")
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(text)
    curves_dir = args.curves or (str(Path(args.report).parent) if args.report and not args.no_curves else None)
    if curves_dir:
        stem = Path(args.report).stem if args.report and not args.curves else \
            f"{args.dataset}-{args.protocol}-{args.split}"
        save_curves(result, curves_dir, stem)
    print(text)
    return 0


def _run_on_ray(args, catalog, spec):
    """Shards of users on Ray workers, each loading the models once (docs/scale.md); the same result."""
    from functools import partial

    from ..ray_jobs import EVAL_SHARD_USERS, evaluate_on_ray
    from ..recommend import Models

    return evaluate_on_ray(catalog, spec, partial(Models, device=args.device, backend=args.backend,
                                                     precision=args.precision),
                           address=args.ray or None, plan=plan_from_args(args),
                           shard_users=args.shard_size or EVAL_SHARD_USERS, show_progress=not args.quiet)


def _tune(catalog, spec, args, models) -> int:
    from .tune import parse_grid, tune

    points = tune(catalog, spec, parse_grid(args.grid), models, show_progress=not args.quiet)
    methods = list(points[0].metrics) if points else []
    names = list(points[0].changes) if points else []
    print(f"# Grid on {spec.dataset} ({spec.split} split, {spec.protocol}, {spec.limit_users or spec.sample_users or 'all'}"
          f" users), NDCG@10 in percent\n")
    print(f"Grid: `{args.grid}` ({len(points)} distinct points). The best 15, then the best point per "
          f"{names[0]} value.\n")

    def table(rows) -> None:
        print("| " + " | ".join([*names, *methods]) + " |")
        print("|" + "---|" * (len(names) + len(methods)))
        for p in rows:
            print("| " + " | ".join([*(str(p.changes[n]) for n in names),
                                     *(f"{p.metrics[m]['ndcg@10']:.2f}" for m in methods)]) + " |")

    table(points[:15])
    print()
    table([next(p for p in points if p.changes[names[0]] == v) for v in dict.fromkeys(p.changes[names[0]]
                                                                                        for p in points)])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"dataset": spec.dataset, "split": spec.split, "grid": args.grid,
                                               "spec": spec.to_dict(),
                                               "points": [{"changes": p.changes, "metrics": p.metrics}
                                                          for p in points]}, separators=(",", ":")) + "\n")
    return 0
