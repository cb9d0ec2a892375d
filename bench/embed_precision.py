"""How far bfloat16 moves all-MiniLM-L6-v2's vectors from float32's, and how much faster it embeds: the basis of
`recsys.precision.EMBEDDER_BF16_COSINE` (the embedder runs in bfloat16 under `auto` only where cosine >= 0.99).

    python bench/embed_precision.py [N]   # the first N (default 3000) microlens titles, from ../shared/data
"""
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from recsys.datasets import shared_data_dir  # noqa: E402
from recsys.recommend import Models  # noqa: E402

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
with open(shared_data_dir() / "microlens-titles" / "MicroLens-50k_titles.csv", encoding="utf-8") as f:
    texts = [row["title"] for row, _ in zip(csv.DictReader(f), range(n))]
print(f"{len(texts)} microlens titles, torch CPU capability {torch.backends.cpu.get_cpu_capability()}, "
      f"{torch.get_num_threads()} threads")
vectors = {}
for precision in ("float32", "bfloat16"):  # through `Embedder.encode`, batched as indexing batches
    emb = Models(device="cpu", precision=precision).embedder("all-minilm-l6-v2")
    emb.encode(["warm-up"])
    start = time.perf_counter()
    vectors[precision] = emb.encode(texts)
    print(f"{precision:<9} {len(texts) / (time.perf_counter() - start):6.0f} titles/s")
a, b = vectors["float32"], vectors["bfloat16"]
cos = (a * b).sum(axis=1) / np.linalg.norm(b, axis=1)
print(f"bfloat16 against float32: cosine mean {cos.mean():.4f}, 1st percentile {np.percentile(cos, 1):.4f}, "
      f"worst {cos.min():.4f}")
# what retrieval sees: each title's 10 nearest others, by float32 and by bfloat16 vectors
k = 10
sims_a, sims_b = a @ a.T, b @ b.T
np.fill_diagonal(sims_a, -np.inf)
np.fill_diagonal(sims_b, -np.inf)
top_a, top_b = np.argsort(-sims_a, axis=1)[:, :k], np.argsort(-sims_b, axis=1)[:, :k]
overlap = np.mean([len(set(x) & set(y)) / k for x, y in zip(top_a, top_b)])
print(f"10 nearest neighbours shared by both: {overlap:.3f} on average")
