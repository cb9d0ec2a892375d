"""`python -m recsys precompute`: fill the pair cache for a catalog ahead of requests, resumably.

For each dataset it (1) indexes the items' embeddings if they are not cached yet, (2) scores ℓ(y|∅) for every
item — history-independent, so a cold request then scores only its history's rows — and (3) scores every item
against its K nearest neighbours by embedding, the pairs that requests built from similar items need. Scores go
through the same `PairScorer` and keys as requests (model, template, the two texts' hashes), so an interrupted
run keeps everything finished and a second run scores only what is missing; an edited title is scored afresh.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from .catalog import Catalog, Item, open_catalog
from .config import DEFAULT_EMBEDDER, DEFAULT_LM, ScoringConfig
from .errors import ConfigError
from .recommend import Models
from .ray_options import add_ray_options, plan_from_args
from .text import template_for

NEUTRAL_CHUNK = 256  # ℓ(y|∅) scored and committed this many items at a time
SIMILARITY_ROWS = 1024  # rows of the item-item similarity computed at once


@dataclass
class PrecomputeReport:
    dataset: str
    items: int
    neighbours: int
    pairs: int = 0  # pairs this run needed (neighbour pairs + neutral)
    computed: int = 0  # of which the model scored now (the rest were cached)
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.computed / self.seconds if self.seconds else 0.0
        return (f"{self.dataset}: {self.items} items × {self.neighbours} neighbours + ℓ(y|∅): {self.pairs} pairs, "
                f"{self.computed} scored now ({self.pairs - self.computed} already cached) in {self.seconds:.1f} s "
                f"({rate:.1f} pairs/s)")


def nearest_neighbours(matrix: np.ndarray, k: int) -> np.ndarray:
    """(n, min(k, n-1)) indices of each row's most similar other rows (cosine on normalised rows), best first."""
    n = matrix.shape[0]
    k = min(k, n - 1)
    out = np.zeros((n, max(k, 0)), dtype=np.int64)
    if k <= 0:
        return out
    for start in range(0, n, SIMILARITY_ROWS):
        sims = matrix[start:start + SIMILARITY_ROWS] @ matrix.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf  # never an item's own neighbour
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        out[start:start + sims.shape[0]] = np.take_along_axis(top, order, axis=1)
    return out


def precompute(catalog: Catalog, dataset: str, models: Models, config: ScoringConfig, neighbours: int,
               neutral: bool = True, limit: int | None = None, progress: bool = True,
               neutral_chunk: int = NEUTRAL_CHUNK) -> PrecomputeReport:
    from tqdm import tqdm

    start = time.perf_counter()
    info = catalog.dataset(dataset)
    ids, matrix = models.embedder(config.embedder).dataset_matrix(catalog, dataset, progress=progress)
    found = catalog.get_items(ids)
    items: list[Item] = [found[i] for i in ids]
    template = template_for((items[0].domain if items else "") or info.domain, config.template)
    scorer = models.pair_scorer(catalog, config)
    texts = [i.lm_text() for i in items]
    todo = items[:limit] if limit is not None else items
    report = PrecomputeReport(dataset, len(todo), min(neighbours, max(len(items) - 1, 0)))

    if neutral:
        bar = tqdm(total=len(todo), desc=f"{dataset} ℓ(y|∅)", unit="item", disable=not progress, file=sys.stderr)
        for s in range(0, len(todo), neutral_chunk):
            chunk = texts[s:min(s + neutral_chunk, len(todo))]
            scorer.matrix(template, [], chunk, neutral=True)
            bar.update(len(chunk))
        bar.close()
        report.pairs += len(todo)

    near = nearest_neighbours(matrix, neighbours)
    bar = tqdm(total=len(todo), desc=f"{dataset} neighbours", unit="item", disable=not progress, file=sys.stderr)
    for i in range(len(todo)):
        ys = [texts[j] for j in near[i]]
        if ys:
            scorer.matrix(template, [texts[i]], ys)  # one transaction per item: an interruption keeps it
        report.pairs += len(ys)
        bar.set_postfix(scored=scorer.computed, refresh=False)
        bar.update(1)
    bar.close()
    report.computed = scorer.computed
    report.seconds = time.perf_counter() - start
    return report


def register(sub) -> None:
    from .commands.recommend import add_precision_option

    p = sub.add_parser("precompute", help="score each item against its nearest neighbours ahead of requests",
                       description="Fill the pair cache for a catalog: ℓ(y|∅) of every item and ℓ(y|x) of every "
                                   "item x with its K nearest neighbours y by embedding. Resumable: a second run "
                                   "scores only what is missing.")
    p.add_argument("--db", default=None, help="SQLite database (default: the embedded demo catalog)")
    p.add_argument("--neighbours", "--neighbors", type=int, required=True, metavar="K",
                   help="nearest neighbours per item to score")
    p.add_argument("--dataset", action="append", help="dataset to precompute (repeatable; default: all)")
    p.add_argument("--model", default=DEFAULT_LM, help="causal LM (default %(default)s)")
    p.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="embedding model for neighbours (default %(default)s)")
    p.add_argument("--template", default=None, help="prompt template name (default: the dataset's domain)")
    p.add_argument("--max-item-tokens", type=int, default=ScoringConfig().max_item_tokens,
                   help="token budget of one item's text; requests must use the same (default %(default)s)")
    p.add_argument("--no-neutral", action="store_true", help="skip ℓ(y|∅) (only needed for PMI calibration)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N items of each dataset")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--backend", default="transformers", help="scoring backend: transformers or vllm:URL")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_precision_option(p)
    add_ray_options(p, "items", "1024")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.neighbours < 0:
        raise ConfigError("--neighbours must be >= 0")
    if args.limit is not None and args.limit < 0:
        raise ConfigError("--limit must be >= 0")
    catalog = open_catalog(args.db)
    datasets = args.dataset or [d.name for d in catalog.datasets()]
    for name in datasets:
        catalog.dataset(name)  # an unknown name is an error before any work
    config = ScoringConfig(model=args.model, embedder=args.embedder, template=args.template,
                           max_item_tokens=args.max_item_tokens)
    if args.ray is not None:
        return _run_on_ray(args, catalog, datasets, config)
    models = Models(device=args.device, backend=args.backend, precision=args.precision)
    for name in datasets:
        report = precompute(catalog, name, models, config, args.neighbours, neutral=not args.no_neutral,
                            limit=args.limit, progress=not args.quiet)
        print(report.line())
    return 0


def _run_on_ray(args, catalog: Catalog, datasets: list[str], config: ScoringConfig) -> int:
    """The same work split into shards of items on Ray workers (docs/scale.md); the driver writes the cache."""
    from functools import partial

    from .ray_jobs import PRECOMPUTE_SHARD_ITEMS, precompute_on_ray

    for name in datasets:
        report = precompute_on_ray(catalog, name, partial(Models, device=args.device, backend=args.backend,
                                                          precision=args.precision),
                                   config, args.neighbours, neutral=not args.no_neutral, limit=args.limit,
                                   address=args.ray or None, plan=plan_from_args(args),
                                   shard_items=args.shard_size or PRECOMPUTE_SHARD_ITEMS, progress=not args.quiet)
        print(report.line())
    return 0
