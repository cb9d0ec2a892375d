"""Sentence embeddings of items (computed once per model and text, cached in SQLite) and retrieval.

Vectors are L2-normalised float32, so a dot product is a cosine. A dataset's matrix is kept in memory per
process after its first use; a changed item text (its hash) is re-embedded.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import sqlite_utils
from tqdm.auto import tqdm

from .catalog import Catalog, Item
from .text import text_hash


def semantic_search(query: np.ndarray, matrix: np.ndarray, k: int, exclude: Sequence[int] = ()) -> np.ndarray:
    """Indices of the k rows most similar to the query vector (cosine on normalised rows), best first."""
    if matrix.shape[0] == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    sims = matrix @ query
    if len(exclude):
        sims = sims.copy()
        sims[np.asarray(exclude, dtype=np.int64)] = -np.inf
    k = min(k, int(np.isfinite(sims).sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-sims, k - 1)[:k]
    return top[np.argsort(-sims[top], kind="stable")]


def history_vector(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The recency-weighted mean of the history's vectors, normalised (zeros for an empty history)."""
    if len(vectors) == 0:
        return np.zeros(vectors.shape[1] if vectors.ndim == 2 else 0, dtype=np.float32)
    v = (weights[:, None] * vectors).sum(axis=0)
    norm = np.linalg.norm(v)
    return (v / norm if norm > 0 else v).astype(np.float32)


class Embedder:
    """Embeds item texts with a sentence-transformers model, through the `embeddings` table."""

    def __init__(self, model_name: str, encoder_factory: Callable[[], object],
                 text_fields: str = "title+creator+tags+description", precision=None):
        self.model_name = model_name
        self.precision = precision  # a recsys.precision.Precision, or None for float32
        self._factory = encoder_factory
        self._encoder = None
        self.text_fields = text_fields
        self._matrices: dict[tuple, tuple[list[str], np.ndarray]] = {}
        self._lock = threading.Lock()

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = self._factory()
        return self._encoder

    @property
    def key(self) -> str:
        """The embeddings table's model key: bfloat16 vectors are kept apart from float32 ones."""
        suffix = self.precision.suffix if self.precision is not None else ""
        return f"{self.model_name}{suffix}:{self.text_fields}"

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Unit vectors (float32), in batches of 32 texts of like token length (`length_batches`)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        texts = list(texts)
        out = None
        for batch in tqdm(self.length_batches(texts, batch_size), desc="Batches", disable=not progress):
            vecs = self.encoder.encode([texts[k] for k in batch], batch_size=batch_size, normalize_embeddings=True,
                                       show_progress_bar=False, convert_to_numpy=True)
            if hasattr(vecs, "float"):  # a bfloat16 model may hand back a tensor numpy cannot hold
                vecs = vecs.float().cpu().numpy()
            if out is None:
                out = np.empty((len(texts), vecs.shape[1]), dtype=np.float32)
            out[batch] = vecs
        norms = np.linalg.norm(out, axis=1, keepdims=True)  # bfloat16's own normalisation is off by up to 0.4 %
        return out / np.where(norms > 0, norms, 1)

    def length_batches(self, texts: list[str], size: int) -> list[np.ndarray]:
        """Indices of the texts in batches, longest first by token count.

        Every text in a batch is padded to the batch's longest; sentence-transformers orders a call's texts by
        characters, which left microlens titles padded by 32 % (0.8 % by tokens) and indexing a quarter slower.
        An encoder without a `tokenizer` (an LM embedder, a test's fake) gets one call and batches for itself.
        """
        tokenizer = getattr(self.encoder, "tokenizer", None)
        if tokenizer is None:
            return [np.arange(len(texts))]
        ids = tokenizer(texts, truncation=True, max_length=getattr(self.encoder, "max_seq_length", None))["input_ids"]
        order = np.argsort([-len(i) for i in ids], kind="stable")
        return [order[start:start + size] for start in range(0, len(order), size)]

    def vectors(self, db: sqlite_utils.Database, items: Sequence[Item], progress: bool = False) -> np.ndarray:
        """(len(items), dim) vectors, embedding and caching the ones the database lacks."""
        texts = [i.lm_text(self.text_fields) for i in items]
        hashes = [text_hash(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        ids = [i.id for i in items]
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            sql = (f"SELECT item_id, text_hash, vector FROM embeddings WHERE model = ? "
                   f"AND item_id IN ({','.join('?' * len(chunk))})")
            for item_id, h, blob in db.execute(sql, [self.key, *chunk]):
                found[(item_id, h)] = np.frombuffer(blob, dtype=np.float32)
        missing = [k for k, (i, h) in enumerate(zip(ids, hashes)) if (i, h) not in found]
        if missing:
            fresh = self.encode([texts[k] for k in missing], progress=progress)
            rows = [{"model": self.key, "item_id": ids[k], "text_hash": hashes[k], "dim": int(v.shape[0]),
                     "vector": v.tobytes()} for k, v in zip(missing, fresh)]
            with db.conn:
                db["embeddings"].upsert_all(rows, pk=("model", "item_id"), batch_size=500)
            for k, v in zip(missing, fresh):
                found[(ids[k], hashes[k])] = v
        if not items:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[(i, h)] for i, h in zip(ids, hashes)])

    def dataset_matrix(self, catalog: Catalog, dataset: str, progress: bool = False) -> tuple[list[str], np.ndarray]:
        """(item ids, vectors) of a whole dataset, held in memory until the dataset's item count changes."""
        key = catalog.fingerprint(dataset)
        with self._lock:
            if key not in self._matrices:
                items = catalog.dataset_items(dataset)
                self._matrices[key] = ([i.id for i in items], self.vectors(catalog.db, items, progress=progress))
            return self._matrices[key]
