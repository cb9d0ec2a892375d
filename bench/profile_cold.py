"""Where a cold request's time goes: the benchmark's 5 × 50 request (ℓ(y|∅) cached, no ℓ(y|x)) three times with
each trie pass timed, then once under torch's profiler.

    python bench/profile_cold.py   # after `python -m recsys bench` has filled data/bench.db
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# recsys first: torch's threads wait as the app's do (OMP_WAIT_POLICY=PASSIVE)
from recsys.bench import CANDIDATES, POPULAR, forget_pairs, prepare_inputs  # noqa: E402
from recsys.config import ScoringConfig  # noqa: E402
from recsys.datasets import shared_data_dir  # noqa: E402
from recsys.recommend import Models, recommend  # noqa: E402
from recsys.types import Query  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

inputs = prepare_inputs(Path("data/bench.db"), shared_data_dir(), False, False)
models = Models()
config = ScoringConfig(model="smollm2-135m", embedder="all-minilm-l6-v2", n_candidates=CANDIDATES - POPULAR,
                       n_popular=POPULAR)
query = Query(history=tuple(i.id for i in inputs.history), config=config, top=10)
key = models.lm_cache_key(config.model)
backend = models.lm(config.model)
passes = []  # (prompts, tokens, seconds) of each forward pass
score_trie, score_packed = backend._score_trie, backend._score_packed


def timed_trie(cache, p_len, first, trie, rows):
    start = time.perf_counter()
    out = score_trie(cache, p_len, first, trie, rows)
    passes.append((1, p_len + trie.size, time.perf_counter() - start))
    return out


def timed_packed(segments):
    start = time.perf_counter()
    score_packed(segments)
    passes.append((len(segments), sum(len(s.p_ids) + s.trie.size for s in segments), time.perf_counter() - start))


backend._score_trie, backend._score_packed = timed_trie, timed_packed


def cold():
    forget_pairs(inputs.catalog, key)
    passes.clear()
    start = time.perf_counter()
    recommend(inputs.catalog, query, models)
    return time.perf_counter() - start


recommend(inputs.catalog, query, models)  # first-call allocations
for _ in range(3):
    seconds = cold()
    print(f"cold request {seconds:.2f} s: {len(passes)} forward passes "
          f"({', '.join(f'{p} prompts, {n} tokens: {s:.2f} s' for p, n, s in passes)})")
with profile(activities=[ProfilerActivity.CPU]) as prof:
    cold()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
