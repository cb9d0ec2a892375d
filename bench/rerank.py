"""Re-rank after a like or dislike, timed through the engine as the app does it.

    python bench/rerank.py [--db data/recsys.db] [--dataset movies] [--example 0] [--like-ranks 5 6 7]
                           [--precision auto|float32|bfloat16] [--json docs/bench/rerank.json]

Works on a temporary copy of the database (the default one is built from the embedded catalogs when missing; run
`python -m recsys demo` first to measure what `make run` leaves), so every run measures the same thing and the
database is left as it was. In one process, with the models loaded first (their load timed apart):

1. **first ranking**: the example history with the default settings (50 retrieved + 5 popular candidates), the pair
   cache as the database has it (`pairs` says how many were scored now);
2. **like re-rank**: the history plus one liked recommendation, the previous list's candidates kept (as the app
   keeps them), so that only the liked item's row is new: one prompt × the candidates. One like per rank in
   `--like-ranks`, each from the first list; the default ranks (5, 6, 7) are beyond the three whose rows the demo
   precompute scores, so each is a row scored now;
3. **dislike re-rank**: the first like's list with its top recommendation excluded, candidates kept: no new row.

Every figure is the engine's own `total` (`Result.timings`), with its stages, the pairs scored and the load
average before and after; nothing is extrapolated.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from recsys.catalog import Catalog, example_histories, open_catalog  # noqa: E402
from recsys.config import DEFAULT_DB, ScoringConfig  # noqa: E402
from recsys.db import connect  # noqa: E402
from recsys.recommend import Models, recommend  # noqa: E402
from recsys.types import Query, Result  # noqa: E402


def figure(result: Result) -> dict:
    return {"seconds": round(result.timings["total"] / 1000, 3), "pairs": result.pairs_computed,
            "candidates": result.candidates_considered,
            "stages_ms": {k: v for k, v in result.timings.items() if k != "total"}}


def kept(result: Result, item_id: str) -> tuple[str, ...]:
    """The candidates a re-rank after feedback on `item_id` keeps (pages/recommend.py `feedback`)."""
    return tuple(i for i in result.candidate_ids if i != item_id)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default=str(DEFAULT_DB), help="database to copy (default: the app's)")
    p.add_argument("--dataset", default="movies")
    p.add_argument("--example", type=int, default=0, help="which example history of the dataset")
    p.add_argument("--like-ranks", type=int, nargs="+", default=[5, 6, 7])
    p.add_argument("--precision", default=None, help="auto, float32 or bfloat16 (default: $RECSYS_PRECISION, else auto)")
    p.add_argument("--json", help="write the figures here too")
    args = p.parse_args()

    import torch

    load_before = os.getloadavg()
    open_catalog(args.db).db.conn.close()  # the default database is built on first use, as the app builds it
    with tempfile.TemporaryDirectory() as tmp:
        src = Catalog(connect(args.db))
        src.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        src.db.conn.close()
        db = Path(tmp) / "rerank.db"
        shutil.copy(args.db, db)
        catalog = Catalog(connect(db))
        config = ScoringConfig()
        models = Models(precision=args.precision)
        start = time.perf_counter()
        models.lm(config.model)
        models.embedder(config.embedder).encoder  # noqa: B018 - loads it
        load_s = round(time.perf_counter() - start, 1)

        example = example_histories(args.dataset)[args.example]
        query = Query(history=tuple(example["history"]), config=config, dataset=args.dataset)
        first = recommend(catalog, query, models)
        out = {"first ranking": figure(first), "likes": [], "dislike": None}
        for rank in args.like_ranks:
            liked = first.recommendations[rank - 1].item
            result = recommend(catalog, Query(history=(*query.history, liked.id), config=config,
                                              dataset=args.dataset, candidates=kept(first, liked.id)), models)
            out["likes"].append({"rank": rank, "item": liked.id, **figure(result)})
            if rank == args.like_ranks[0]:
                after_like, like_query = result, query.history + (liked.id,)
        top = after_like.recommendations[0].item.id
        disliked = recommend(catalog, Query(history=like_query, config=config, dataset=args.dataset,
                                            exclude=(top,), candidates=kept(after_like, top)), models)
        out["dislike"] = {"item": top, **figure(disliked)}
        catalog.db.conn.close()

    likes = [f["seconds"] for f in out["likes"]]
    report = {
        "command": "python " + " ".join(sys.argv),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                    "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
                    "precision": models.lm_precision(config.model).describe(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "database": args.db, "example": f"{args.dataset}: {example['name']}", "model_load_s": load_s,
        **out, "like_median_s": statistics.median(likes),
    }
    m = report["machine"]
    print(f"{report['example']} on a copy of {args.db}; {m['cpus']} CPUs, {m['torch_threads']} torch threads, "
          f"OMP_WAIT_POLICY={m['OMP_WAIT_POLICY']}, {m['precision']}; models loaded in {load_s} s")
    print(f"load average before {m['load_average_before']}, after {m['load_average_after']}")
    f = out["first ranking"]
    print(f"first ranking:  {f['seconds']:6.2f} s  {f['pairs']:4d} pairs scored  {f['candidates']} candidates  "
          f"{f['stages_ms']}")
    for f in out["likes"]:
        print(f"like of #{f['rank']}:     {f['seconds']:6.2f} s  {f['pairs']:4d} pairs scored  "
              f"{f['candidates']} candidates  {f['stages_ms']}")
    f = out["dislike"]
    print(f"dislike of #1:  {f['seconds']:6.2f} s  {f['pairs']:4d} pairs scored  {f['candidates']} candidates  "
          f"{f['stages_ms']}")
    print(f"like re-rank, median of {len(likes)}: {report['like_median_s']:.2f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
