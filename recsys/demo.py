"""The demo database, ready for an audience: an interaction log to evaluate on, a stored evaluation, and the pair
cache filled for the demo catalogs and their example histories, so the first click on an example is a lookup.

- `ensure_log(catalog)`: imports the project's synthetic movie log (`data/catalogs/logs/`, written by
  `scripts/make_demo_log.py`) as dataset `movies-log` when it is missing. No model; well under a second.
- `ensure_evaluation(catalog, models)`: runs and stores an LLMRank-20 evaluation of the baselines on it when none is
  stored (the embedding model only: seconds), so the Evaluate page opens on a real run.
- `score_neutral(catalog, models)`: ℓ(y|∅) of every item of the embedded demo catalogs. The app's background job
  (`recsys.ui.neutral`) calls the same function, so after this it finds every row cached.
- `precompute(catalog, models)`: `score_neutral`, then each example history ranked with the default settings (its
  rows × its candidates), then the rows a like of one of its top recommendations adds. Resumable: everything goes
  through the pair cache, so a second run is lookups.

`python -m recsys demo` does all three with progress bars; `make run` calls it before starting the app.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable

from .catalog import Catalog, DatasetInfo, example_histories, load_demo_catalogs, open_catalog
from .config import CATALOG_DIR, ScoringConfig
from .text import template_for
from .types import Query

DEMO_LOG = "movies-log"
LOG_DIR = CATALOG_DIR / "logs"
DEMO_METHODS = ("random", "pop", "bm25", "embed", "embed+pop")  # `python -m recsys demo` (the embedding model)
QUICK_METHODS = ("random", "pop", "bm25")  # what the app runs itself on first start: no model, under a second
LIKED_ROWS = 3  # per example: the top recommendations whose like is made warm too
DEMO_SOURCE = "embedded demo catalog"  # how the embedded catalogs' `source` begins

Progress = Callable[[str, int, int], None]  # (what, done, total)


def ensure_log(catalog: Catalog) -> bool:
    """Import the demo log when the database lacks it; True when it was imported now."""
    if any(d.name == DEMO_LOG for d in catalog.datasets()):
        return False
    items, inter = LOG_DIR / f"{DEMO_LOG}.items.csv", LOG_DIR / f"{DEMO_LOG}.inter.csv"
    if not items.exists() or not inter.exists():
        return False
    from .datasets import import_table

    import_table(catalog.db, DEMO_LOG, items=items, interactions=inter, domain="movies")
    catalog.db.execute("UPDATE datasets SET source = ? WHERE name = ?",
                       ["demo log: 120 invented viewers of the movie catalog (scripts/make_demo_log.py)", DEMO_LOG])
    return True


def ensure_evaluation(catalog: Catalog, models=None, progress: Progress | None = None,
                      methods: tuple[str, ...] = DEMO_METHODS):
    """Run and store an evaluation of `methods` on the demo log unless one with at least these methods is stored;
    returns it, or None."""
    from . import evaluate

    if not any(d.name == DEMO_LOG for d in catalog.datasets()):
        return None
    if any(set(methods) <= set(e.methods) for e in evaluate.list_evaluations(catalog.db, DEMO_LOG)):
        return None
    spec = evaluate.EvalSpec(dataset=DEMO_LOG, protocol="llmrank20", methods=methods, seed=0,
                             tuned="nothing: the demo log's baselines at the defaults")
    result = evaluate.run_evaluation(
        catalog, spec, models=models,
        progress=(lambda done, total, _s: progress("demo evaluation (users)", done, total)) if progress else None)
    evaluate.store(catalog.db, result)
    return result


def example_queries(catalog: Catalog, config: ScoringConfig | None = None,
                    datasets: list[str] | None = None) -> list[Query]:
    """One query per example history of the demo catalogs, with the app's default settings."""
    config = config or ScoringConfig()
    names = {d.name for d in catalog.datasets()} & set(datasets or [d.name for d in catalog.datasets()])
    return [Query(history=tuple(ex["history"]), config=config, dataset=name)
            for name in sorted(names) for ex in example_histories(name)]


def demo_datasets(catalog: Catalog, only: Iterable[str] | None = None) -> list[DatasetInfo]:
    """The embedded demo catalogs of this database (of those named in `only`, when given)."""
    names = None if only is None else set(only)
    return [d for d in catalog.datasets() if (d.source or "").startswith(DEMO_SOURCE)
            and (names is None or d.name in names)]


def score_neutral(catalog: Catalog, models, config: ScoringConfig | None = None, progress: Progress | None = None,
                  datasets: Iterable[str] | None = None, chunk: int | None = None) -> int:
    """ℓ(y|∅) of every item of the demo catalogs (or of those named) under `config`'s model and templates, through
    the pair cache (what is cached is skipped, so a rerun resumes), `chunk` items per call and commit (None: a
    catalog at a time). progress(dataset, items done, items in all) before the first chunk and after each; returns
    the pairs scored now. `python -m recsys demo` and the app's background job both call this with the same keys,
    so whichever runs second finds the rows cached.

    The chunks stay as each caller had them: a score depends in its last bits on the candidates packed with it
    (2.3e-5 nats at most in float32, 0.13 in bfloat16 between a catalog at a time and chunks of 32 on the movies:
    `python bench/neutral_chunks.py --precision …`), so changing them would change the rows `recsys demo` writes."""
    config = config or ScoringConfig()
    work = [(d, catalog.dataset_items(d.name)) for d in demo_datasets(catalog, datasets)]
    total, done = sum(len(items) for _, items in work), 0
    scorer = models.pair_scorer(catalog, config)
    for info, items in work:
        template = template_for(info.domain, config.template)
        texts = [i.lm_text() for i in items]
        step = chunk or max(len(texts), 1)
        for s in range(0, len(texts), step):
            if progress:
                progress(info.name, done, total)
            scorer.matrix(template, [], texts[s:s + step], neutral=True)
            done += len(texts[s:s + step])
    if progress:
        progress(work[-1][0].name if work else "", done, total)
    return scorer.computed


def precompute(catalog: Catalog, models, config: ScoringConfig | None = None, progress: Progress | None = None,
               liked_rows: int = LIKED_ROWS, datasets: list[str] | None = None, examples: int | None = None) -> dict:
    """Fill the pair cache for the demo: neutral scores, example histories, and a like of their top items.
    `datasets` and `examples` (the first N of each) narrow it, as tests do."""
    from .recommend import recommend

    config = config or ScoringConfig()
    say = progress or (lambda what, done, total: None)
    start = time.perf_counter()
    demo = demo_datasets(catalog, datasets)
    pairs = score_neutral(catalog, models, config, datasets=[d.name for d in demo],
                          progress=lambda _name, done, total: say("neutral scores ℓ(y|∅) of the demo catalogs",
                                                                  done, total))
    queries = example_queries(catalog, config, [d.name for d in demo])
    if examples is not None:
        queries = [q for k, q in enumerate(queries)
                   if sum(1 for p in queries[:k] if p.dataset == q.dataset) < examples]
    for k, query in enumerate(queries):
        say("example histories", k, len(queries))
        result = recommend(catalog, query, models)
        pairs += result.pairs_computed
        for rec in result.recommendations[:liked_rows]:
            liked = Query(history=(*query.history, rec.item.id), config=config, dataset=query.dataset,
                          candidates=tuple(i for i in result.candidate_ids if i != rec.item.id))
            pairs += recommend(catalog, liked, models).pairs_computed
    say("example histories", len(queries), len(queries))
    return {"pairs_scored": pairs, "examples": len(queries), "seconds": round(time.perf_counter() - start, 1)}


def register(sub) -> None:
    p = sub.add_parser("demo", help="prepare the demo database: demo log, a stored evaluation, warm example histories",
                       description="Import the demo interaction log, store an evaluation of it, and fill the pair "
                                   "cache for the demo catalogs' neutral scores and example histories (resumable).")
    p.add_argument("--db", default=None, help="SQLite database (default: the embedded demo catalog)")
    p.add_argument("--no-lm", action="store_true", help="skip the language-model precompute")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from .recommend import default_models

    catalog = open_catalog(args.db)
    if catalog.db["items"].count == 0:
        load_demo_catalogs(catalog)
    if ensure_log(catalog):
        print(f"imported the demo log as dataset {DEMO_LOG!r}", file=sys.stderr)
    models = default_models()
    bars: dict[str, tqdm] = {}

    def progress(what: str, done: int, total: int) -> None:
        bar = bars.get(what)
        if bar is None:
            bar = bars[what] = tqdm(total=total, desc=what, file=sys.stderr)
        bar.n = done
        bar.refresh()

    if ensure_evaluation(catalog, models, progress) is not None:
        print("stored the demo evaluation", file=sys.stderr)
    if not args.no_lm:
        report = precompute(catalog, models, progress=progress)
        for bar in bars.values():
            bar.close()
        print(f"pair cache: {report['pairs_scored']} pairs scored now for {report['examples']} example histories "
              f"in {report['seconds']} s (the rest were cached)", file=sys.stderr)
    return 0
