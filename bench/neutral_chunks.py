"""How much a score depends on what is packed with it: ℓ(y|∅) of every item of an embedded demo catalog scored in
one call (as `python -m recsys demo` does) and in chunks of 32 (as the app's background job does), at one precision.

    python bench/neutral_chunks.py [--dataset movies] [--precision float32|bfloat16] [--chunk 32]

No cache is involved: both passes call the backend. Prints the largest and median difference in nats.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from recsys.catalog import Catalog, load_demo_catalogs  # noqa: E402
from recsys.config import ScoringConfig  # noqa: E402
from recsys.db import connect  # noqa: E402
from recsys.recommend import Models  # noqa: E402
from recsys.text import template_for  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--dataset", default="movies")
p.add_argument("--precision", default="auto")
p.add_argument("--chunk", type=int, default=32)
args = p.parse_args()
catalog = Catalog(connect(memory=True))
load_demo_catalogs(catalog)
info = next(d for d in catalog.datasets() if d.name == args.dataset)
config = ScoringConfig()
template = template_for(info.domain, config.template)
models = Models(precision=args.precision)
backend = models.lm(config.model)
conts = [template.continuation(i.lm_text()) for i in catalog.dataset_items(args.dataset)]
whole, _ = backend.score(template.neutral, conts)
chunked = np.concatenate([backend.score(template.neutral, conts[s:s + args.chunk])[0]
                          for s in range(0, len(conts), args.chunk)])
diff = np.abs(whole - chunked)
print(f"{args.dataset}, {len(conts)} items, {backend.precision.name}: one call against chunks of {args.chunk}: "
      f"largest difference {diff.max():.2e} nats, median {np.median(diff):.2e}")
