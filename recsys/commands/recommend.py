"""`recommend`: a ranked, explained list for a history, as a table or as JSON."""
from __future__ import annotations

import json
import sys

from ..catalog import open_catalog
from ..config import ScoringConfig
from ..recommend import Models, recommend
from ..types import Query


def _ids(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def add_scoring_options(p) -> None:
    """Options shared by every command that ranks (recommend, evaluate)."""
    d = ScoringConfig()
    p.add_argument("--model", default=d.model, help=f"causal LM: embedded name, local folder or hub id (default {d.model})")
    p.add_argument("--embedder", default=d.embedder, help=f"sentence-transformers model (default {d.embedder})")
    p.add_argument("--fusion", choices=["product", "mixture"], default=d.fusion, help="how history items combine")
    p.add_argument("--calibration", choices=["raw", "pmi"], default=d.calibration, help="subtract ℓ(y|∅) (pmi) or not")
    p.add_argument("--template", default=None, help="prompt template name (default: the dataset's domain)")
    p.add_argument("--gamma", type=float, default=d.gamma, help="recency decay of history weights, in (0, 1]")
    p.add_argument("--alpha", type=float, default=d.alpha, help="weight of the LM term (0: no LM)")
    p.add_argument("--beta", type=float, default=d.beta, help="weight of the popularity prior")
    p.add_argument("--lam", type=float, default=d.lam, help="weight of the embedding-similarity term")
    p.add_argument("--no-standardize", action="store_true", help="fuse raw terms instead of z-scores")
    p.add_argument("--max-history", type=int, default=d.max_history, help="most recent history items the LM scores")
    p.add_argument("--n-candidates", type=int, default=d.n_candidates, help="candidates retrieved from the catalog")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--backend", default="transformers", help="scoring backend: transformers or vllm:URL")
    add_precision_option(p)


def add_precision_option(p) -> None:
    """--precision, shared by every command that loads a model (unknown names are refused by Models)."""
    p.add_argument("--precision", default=None, metavar="auto|float32|bfloat16",
                   help="numeric type of the models (default: $RECSYS_PRECISION, else auto: bfloat16 where the "
                        "machine runs it natively, float32 elsewhere)")


def config_from_args(args) -> ScoringConfig:
    return ScoringConfig(
        model=args.model, embedder=args.embedder, fusion=args.fusion, calibration=args.calibration,
        template=args.template, gamma=args.gamma, alpha=args.alpha, beta=args.beta, lam=args.lam,
        standardize=not args.no_standardize, max_history=args.max_history, n_candidates=args.n_candidates,
    )


def register(sub) -> None:
    p = sub.add_parser("recommend", help="recommend what comes next after a history, with explanations",
                       description="Rank candidates for an ordered history of liked items; every score is split "
                                   "into one part per history item (itself split into the language-model and the "
                                   "similarity term) and the popularity prior.")
    p.add_argument("--db", default=None, help="SQLite database (default: the embedded demo catalog)")
    p.add_argument("--history", required=True, help="liked item ids, oldest first, comma-separated (may be empty)")
    p.add_argument("--candidates", default=None, help="rank only these ids (comma-separated)")
    p.add_argument("--dataset", default=None, help="dataset to recommend from when the history is empty")
    p.add_argument("--top", type=int, default=10, help="how many to show")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_scoring_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    catalog = open_catalog(args.db)
    query = Query(history=tuple(_ids(args.history)), config=config_from_args(args), top=args.top,
                  candidates=tuple(_ids(args.candidates)) if args.candidates is not None else None,
                  dataset=args.dataset)
    result = recommend(catalog, query, Models(device=args.device, backend=args.backend, precision=args.precision))
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        print(format_table(result))
    return 0


def format_table(result) -> str:
    lines = [f"model: {result.model or '(none)'}   candidates: {result.candidates_considered}   "
             f"time: {result.timings.get('total', 0):.0f} ms ({result.pairs_computed} pairs scored by the LM)"]
    lines += [f"note: {n}" for n in result.notes]
    for r in result.recommendations:
        lines.append(f"{r.rank:>3}. {r.score:+8.3f}  {r.item.title}  [{r.item.id}]")
        for c in r.contributions:
            split = "" if not c.terms else "  (" + ", ".join(f"{t} {v:+.3f}" for t, v in c.terms) + ")"
            lines.append(f"       {c.value:+8.3f}  {c.label}{split}")
    return "\n".join(lines)
