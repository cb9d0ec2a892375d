"""Spinning against passive torch threads on a machine with nothing else running: the benchmark's cold request
(three runs after one that loads the models) and MiniLM over 5,000 microlens titles, each in a fresh process per
policy, the policies alternating.

    python bench/wait_policy.py [--rounds 2]   # after `python -m recsys bench` has filled data/bench.db
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child() -> None:
    sys.path.insert(0, str(ROOT))
    from recsys.bench import CANDIDATES, POPULAR, forget_pairs, prepare_inputs
    from recsys.config import ScoringConfig
    from recsys.datasets import shared_data_dir
    from recsys.recommend import Models, recommend
    from recsys.types import Query

    inputs = prepare_inputs(ROOT / "data/bench.db", shared_data_dir(), False, False)
    models = Models()
    config = ScoringConfig(model="smollm2-135m", embedder="all-minilm-l6-v2", n_candidates=CANDIDATES - POPULAR,
                           n_popular=POPULAR)
    query = Query(history=tuple(i.id for i in inputs.history), config=config, top=10)
    key = models.lm_cache_key(config.model)
    cold = []
    for _ in range(4):
        forget_pairs(inputs.catalog, key)
        start = time.perf_counter()
        recommend(inputs.catalog, query, models)
        cold.append(time.perf_counter() - start)
    emb = models.embedder(config.embedder)
    texts = [i.lm_text(emb.text_fields) for i in inputs.catalog.dataset_items("microlens-titles")][:5000]
    start = time.perf_counter()
    emb.encode(texts)
    print(json.dumps({"cold_s": cold[1:], "titles_per_s": len(texts) / (time.perf_counter() - start)}))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    print(f"load average at the start {os.getloadavg()[0]:.2f}")
    seen: dict[str, list] = {"ACTIVE": [], "PASSIVE": []}
    for _ in range(args.rounds):
        for policy in seen:
            out = subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True, check=True,
                                 env={**os.environ, "OMP_WAIT_POLICY": policy}).stdout
            r = json.loads(out.strip().splitlines()[-1])
            seen[policy].append(r)
            print(f"{policy:<8} cold request {', '.join(f'{s:.2f}' for s in r['cold_s'])} s; "
                  f"MiniLM {r['titles_per_s']:.0f} titles/s", flush=True)
    for policy, runs in seen.items():
        cold = [s for r in runs for s in r["cold_s"]]
        print(f"{policy:<8} cold median {statistics.median(cold):.2f} s (range {min(cold):.2f}-{max(cold):.2f}); "
              f"MiniLM median {statistics.median(r['titles_per_s'] for r in runs):.0f} titles/s")


if __name__ == "__main__":
    child() if sys.argv[1:] == ["--child"] else main()
