"""What a full garbage collection costs in a process holding both default models: the pause Streamlit adds to
every script run unless `runner.postScriptGC` is off (it is, in .streamlit/config.toml; docs/load.md).

    python bench/gc_pause.py
"""
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import plotly.graph_objects  # noqa: E402,F401 - what the app's process imports too
import streamlit  # noqa: E402,F401

from recsys.recommend import Models  # noqa: E402

models = Models()
models.lm("smollm2-135m")
models.embedder("all-minilm-l6-v2").encoder  # noqa: B018 - loads it
for _ in range(3):
    start = time.process_time()
    gc.collect(2)
    print(f"gc.collect(2): {time.process_time() - start:.3f} CPU-s over {len(gc.get_objects()):,} tracked objects")
