"""Fake models for unit tests that isolate logic (never in place of the thing a feature is about)."""
from __future__ import annotations

import hashlib

import numpy as np

from recsys.recommend import Models


class FakeBackend:
    """ℓ(y|x) from a hash of the texts: deterministic, cheap, and counts its calls."""

    name = cache_key = "fake"

    def __init__(self):
        self.calls = 0
        self.pairs = 0

    def score(self, prefix, continuations):
        self.calls += 1
        self.pairs += len(continuations)
        vals = [-(int(hashlib.sha1((prefix + "|" + c).encode()).hexdigest()[:6], 16) % 1000) / 100 - 1 for c in continuations]
        return np.array(vals, dtype=float), np.array([len(c.split()) for c in continuations])


class FakeEncoder:
    """Bag-of-words vectors over hashed tokens: texts sharing words are similar."""

    def encode(self, texts, **_):
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.md5(w.encode()).hexdigest()[:4], 16) % 64] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1)


class FakeModels(Models):
    def __init__(self):
        super().__init__(device="cpu")
        self.fake = FakeBackend()

    def lm(self, name):
        return self.fake

    def lm_cache_key(self, name):
        return "fake"

    def embedder(self, name):
        emb = super().embedder(name)
        emb._encoder = emb._encoder or FakeEncoder()
        return emb
