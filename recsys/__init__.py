"""An explainable zero-shot sequential recommender driven by a causal language model."""

import os

# torch's CPU threads (libgomp) spin for a while at every parallel region's end. When other processes share the
# cores, a spinning thread takes the core that the thread it waits for needs, and each of the model's ~1,000
# parallel regions per forward pass waits for a scheduler slice: one re-rank row (54 candidates) took 5-22 s on
# the 2-core machine with two other jobs running, against 1.8-2.7 s with passive waiting, the scores bit for bit
# the same (docs/speed.md, "Re-rank after feedback"). It must be set before torch loads, so it is set here, on the
# first import of recsys; a value set by the user is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
