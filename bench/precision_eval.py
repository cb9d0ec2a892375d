"""Does bfloat16 cost ranking quality? Compares two stored evaluations of one dataset on the same users, one run
with `--precision float32` and one with `--precision bfloat16`, and the pair scores both wrote to the cache.

    python -m recsys evaluate --db DB --dataset D ... --precision float32
    python -m recsys evaluate --db DB --dataset D ... --precision bfloat16
    python bench/precision_eval.py --db DB --dataset D [--model smollm2-135m]

Prints, per method, NDCG@10 in each precision and the paired difference (bfloat16 − float32) with its bootstrap
95% interval; and over the cached ℓ(y|x) of every prompt both runs scored: Kendall τ between the two precisions'
scores of that prompt's candidates, how many of float32's top 10 bfloat16 keeps, and the largest difference.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from recsys.db import connect  # noqa: E402
from recsys.evaluate import metrics as M  # noqa: E402


def latest(db, dataset: str, key: str) -> dict:
    """The newest stored evaluation of the dataset whose LM ran under this cache key."""
    for (result,) in db.execute("SELECT result FROM evaluations WHERE dataset = ? ORDER BY created DESC", [dataset]):
        d = json.loads(result)
        if d["settings"].get("model_cache_key") == key:
            return d
    raise SystemExit(f"no stored evaluation of {dataset} under {key}")


def ranking(db, dataset: str, model: str, n_boot: int) -> None:
    a, b = latest(db, dataset, model), latest(db, dataset, model + "@bf16")
    if a["user_ids"] != b["user_ids"]:
        raise SystemExit("the two evaluations ranked different users")
    print(f"{dataset}: {len(a['user_ids'])} users, evaluations {a['id']} (float32) and {b['id']} (bfloat16)")
    print(f"{'method':<12} {'float32':>8} {'bfloat16':>9}   bfloat16 − float32 [95% CI], points")
    for name in a["methods"]:
        ra, rb = np.array(a["methods"][name]["ranks"]), np.array(b["methods"][name]["ranks"])
        na, nb = M.per_user(ra)["ndcg@10"], M.per_user(rb)["ndcg@10"]
        mean, lo, hi = M.paired_difference(nb, na, n_boot=n_boot, seed=0)
        print(f"{name:<12} {100 * na.mean():8.2f} {100 * nb.mean():9.2f}   {100 * mean:+.2f} "
              f"[{100 * lo:+.2f}, {100 * hi:+.2f}]")


def pair_agreement(db, model: str, min_candidates: int = 11) -> None:
    rows = db.execute(
        "SELECT a.template, a.x_hash, a.logprob, b.logprob FROM pair_scores a JOIN pair_scores b "
        "ON a.template = b.template AND a.x_hash = b.x_hash AND a.y_hash = b.y_hash "
        "WHERE a.model = ? AND b.model = ?", [model, model + "@bf16"]).fetchall()
    groups: dict[tuple, list[tuple[float, float]]] = {}
    for template, x, la, lb in rows:
        groups.setdefault((template, x), []).append((la, lb))
    taus, overlaps = [], []
    for pairs in groups.values():
        if len(pairs) < min_candidates:
            continue
        fa, fb = np.array(pairs).T
        taus.append(kendalltau(fa, fb).statistic)
        overlaps.append(len(set(np.argsort(-fa)[:10]) & set(np.argsort(-fb)[:10])) / 10)
    diff = np.abs(np.array([la - lb for _, _, la, lb in rows]))
    print(f"pair scores: {len(rows)} pairs in both precisions, {len(taus)} prompts with >= {min_candidates} "
          f"candidates (ℓ(y|∅) included)")
    print(f"  Kendall τ per prompt: mean {np.mean(taus):.3f}, median {np.median(taus):.3f}, worst {np.min(taus):.3f}")
    print(f"  float32's top 10 kept by bfloat16: mean {np.mean(overlaps):.3f}, worst {np.min(overlaps):.1f}")
    print(f"  |ℓ_bf16 − ℓ_fp32|: median {np.median(diff):.3f}, 99th percentile {np.percentile(diff, 99):.3f}, "
          f"largest {diff.max():.3f} nats")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--dataset", action="append", required=True)
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--bootstrap", type=int, default=1000)
    args = p.parse_args()
    db = connect(args.db)
    for dataset in args.dataset:
        ranking(db, dataset, args.model, args.bootstrap)
    pair_agreement(db, args.model)


if __name__ == "__main__":
    main()
