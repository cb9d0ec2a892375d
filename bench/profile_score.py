"""Where the engine's time goes: one prompt × 50 movie titles through `TransformersBackend.score`, timed three
times, then once under torch's profiler.

    python bench/profile_score.py [MODEL] [--threads N]   # after `python -m recsys bench` has filled data/bench.db
"""
import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from recsys.catalog import Catalog  # noqa: E402
from recsys.db import connect  # noqa: E402
from recsys.recommend import Models  # noqa: E402
from recsys.text import TEMPLATES  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("model", nargs="?", default="smollm2-135m")
p.add_argument("--threads", type=int)
args = p.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
items = Catalog(connect("data/bench.db")).dataset_items("ml-latest-small")[:150]
template = TEMPLATES["movie"]
candidates = [template.continuation(i.lm_text()) for i in items[100:150]]
backend = Models().lm(args.model)
backend.score(template.prompt(items[0].lm_text()), candidates[:3])  # first-call allocations
times = []
for k in (1, 2, 3):
    start = time.perf_counter()
    backend.score(template.prompt(items[k].lm_text()), candidates)
    times.append(time.perf_counter() - start)
print(f"{args.model}, {torch.get_num_threads()} threads: one prompt × {len(candidates)} candidates "
      f"{', '.join(f'{t:.2f}' for t in times)} s")
with profile(activities=[ProfilerActivity.CPU]) as prof:
    backend.score(template.prompt(items[4].lm_text()), candidates)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40))
