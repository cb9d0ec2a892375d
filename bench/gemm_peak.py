"""What this CPU's matrix products reach: a square product and the shapes one SmolLM2-135M trie pass (453 nodes)
and MiniLM's indexing run, in bfloat16 and float32, on 1 and 2 threads. The ceiling the engine's figures are
read against (docs/speed.md).

    python bench/gemm_peak.py
"""
import time

import torch

SHAPES = {"square 2048": (2048, 2048, 2048), "SmolLM2 MLP (453 nodes)": (453, 576, 1536),
          "SmolLM2 vocabulary (453 nodes)": (453, 576, 49152), "MiniLM MLP (batch 32 × 40 tokens)": (1280, 384, 1536)}

for threads in (1, 2):
    torch.set_num_threads(threads)
    for dtype in (torch.bfloat16, torch.float32):
        for name, (m, k, n) in SHAPES.items():
            x, w = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)  # as nn.Linear holds it
            for _ in range(3):
                torch.nn.functional.linear(x, w)
            reps = max(3, int(2e10 / (2 * m * k * n)))
            start = time.perf_counter()
            for _ in range(reps):
                torch.nn.functional.linear(x, w)
            seconds = (time.perf_counter() - start) / reps
            print(f"{threads} thread(s)  {str(dtype)[6:]:<9} {name:<34} {2 * m * k * n / seconds / 1e9:6.0f} GFLOP/s",
                  flush=True)
