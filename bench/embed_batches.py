"""Embedding speed against batch size, the tokenizer's share, and what dynamic int8 quantisation would cost in
vector quality: 2,000 microlens titles through all-MiniLM-L6-v2 (the basis of `Embedder.encode`'s batch size).

    python bench/embed_batches.py   # after `python -m recsys bench` has imported microlens-titles into data/bench.db
"""
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from recsys.catalog import Catalog  # noqa: E402
from recsys.db import connect  # noqa: E402
from recsys.recommend import Models  # noqa: E402

emb = Models().embedder("all-minilm-l6-v2")  # the precision `auto` picks, as indexing uses it
print(f"embedder precision: {emb.precision.describe() if emb.precision is not None else 'float32'}")
texts = [i.lm_text(emb.text_fields) for i in Catalog(connect("data/bench.db")).dataset_items("microlens-titles")][:2000]
tokens = [len(ids) for ids in emb.encoder.tokenizer(texts)["input_ids"]]
print(f"{len(texts)} titles, {np.mean(tokens):.1f} tokens on average (p95 {np.percentile(tokens, 95):.0f})")
emb.encode(["warm-up"])


def rate(encode) -> float:
    start = time.perf_counter()
    encode()
    return len(texts) / (time.perf_counter() - start)


for bs in (16, 32, 128, 512):
    print(f"batch {bs:>3}: {rate(lambda: emb.encode(texts, batch_size=bs)):.0f} titles/s")
start = time.perf_counter()
emb.encoder.tokenizer(texts)
print(f"tokenizer alone: {time.perf_counter() - start:.2f} s")
float32 = copy.deepcopy(emb.encoder).float()  # int8 quantisation starts from float32, whatever `auto` chose
reference = float32.encode(texts, batch_size=32, normalize_embeddings=True)
int8 = torch.ao.quantization.quantize_dynamic(float32, {torch.nn.Linear}, dtype=torch.qint8)
print(f"int8 dynamic, batch 32: {rate(lambda: int8.encode(texts, batch_size=32)):.0f} titles/s")
cos = (int8.encode(texts, batch_size=32, normalize_embeddings=True) * reference).sum(axis=1)
print(f"int8 vectors against float32: cosine mean {cos.mean():.3f}, worst {cos.min():.3f}")
