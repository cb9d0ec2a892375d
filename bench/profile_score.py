"""Where the engine's time goes: torch's profiler over one prompt × 50 movie titles (`TransformersBackend.score`).

    python bench/profile_score.py        # after `python -m recsys bench` has filled data/bench.db
"""
import sys
import time
from pathlib import Path

from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from recsys.catalog import Catalog  # noqa: E402
from recsys.db import connect  # noqa: E402
from recsys.recommend import Models  # noqa: E402
from recsys.text import TEMPLATES  # noqa: E402

items = Catalog(connect("data/bench.db")).dataset_items("ml-latest-small")[:150]
template = TEMPLATES["movie"]
candidates = [template.continuation(i.lm_text()) for i in items[100:150]]
backend = Models().lm("smollm2-135m")
backend.score(template.prompt(items[0].lm_text()), candidates[:3])  # first-call allocations
start = time.perf_counter()
backend.score(template.prompt(items[1].lm_text()), candidates)
print(f"one prompt × {len(candidates)} candidates: {time.perf_counter() - start:.2f} s")
with profile(activities=[ProfilerActivity.CPU]) as prof:
    backend.score(template.prompt(items[2].lm_text()), candidates)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40))
