"""Attention over the candidate trie in blocks of first-token subtrees (`TransformersBackend.block_nodes`) against one
call over the whole trie: the profiler's CPU time of one prompt × 50 movie titles (attention, matrix products,
the rest), three times each, interleaved; then the scores of one prompt × 300 titles both ways, in float32 (where
the two must agree) and in bfloat16 (each against float32).

    python bench/trie_blocks.py [MODEL]   # after `python -m recsys bench` has filled data/bench.db
"""
import sys
from pathlib import Path

import numpy as np
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from recsys.catalog import Catalog  # noqa: E402
from recsys.db import connect  # noqa: E402
from recsys.lm import BLOCK_NODES, TransformersBackend  # noqa: E402
from recsys.text import TEMPLATES  # noqa: E402

model = sys.argv[1] if len(sys.argv) > 1 else "smollm2-135m"
items = Catalog(connect("data/bench.db")).dataset_items("ml-latest-small")[:400]
template = TEMPLATES["movie"]
titles = [template.continuation(i.lm_text()) for i in items[100:400]]
backends = {p: TransformersBackend(model, "cpu", precision=p) for p in ("bfloat16", "float32")}
backend = backends["bfloat16"]
backend.score(template.prompt(items[0].lm_text()), titles[:50])  # first-call allocations
print(f"{model}: one prompt × 50 titles, bfloat16, profiler CPU ms "
      f"(blocks of up to {BLOCK_NODES} nodes against one call):")
for rep in (1, 2, 3):
    for nodes in (0, BLOCK_NODES):
        backend.block_nodes = nodes
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            backend.score(template.prompt(items[rep].lm_text()), titles[:50])
        ops = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in ops) / 1000
        attention = sum(e.self_cpu_time_total for e in ops if "scaled_dot_product" in e.key) / 1000
        mm = sum(e.self_cpu_time_total for e in ops if e.key == "aten::mm") / 1000
        print(f"  {'blocks' if nodes else 'one call':<9} total {total:6.1f}  attention {attention:6.1f}  "
              f"matrix products {mm:6.1f}  the rest {total - attention - mm:6.1f}")
print("one prompt × 300 titles, scores in nats:")
for k in (3, 7):
    prompt = template.prompt(items[k].lm_text())
    got = {}
    for p, b in backends.items():
        for nodes in (0, BLOCK_NODES):
            b.block_nodes = nodes
            got[p, nodes] = b.score(prompt, titles)[0]
    ref = got["float32", 0]

    def drift(nodes: int) -> str:
        d = np.abs(got["bfloat16", nodes] - ref)
        return f"mean |Δ| {d.mean():.3f} (max {d.max():.2f})"

    print(f"  float32 blocks against one call: max |Δ| {np.abs(got['float32', BLOCK_NODES] - ref).max():.1e}; "
          f"bfloat16 against float32, one call: {drift(0)}, blocks: {drift(BLOCK_NODES)}")
