"""The ℓ matrix: ℓ(y_j | x_i) for history items × candidates, and ℓ(y_j | ∅), through the SQLite pair cache.

Scores do not depend on the person, so they are cached by (model, template, hash(x text), hash(y text));
an edited title hashes differently and is scored afresh. Each history item's new scores are written in their
own transaction as soon as a call has scored them, so an interrupted precompute keeps what it finished. The model
is loaded only when something is missing from the cache.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import sqlite_utils

from .lm import ScoringBackend
from .text import Template, text_hash

NEUTRAL = ""  # x_hash of the neutral context ∅


class PairScorer:
    def __init__(self, backend_factory: Callable[[], ScoringBackend], model_key: str,
                 db: sqlite_utils.Database | None = None, max_item_tokens: int = 48):
        self._factory = backend_factory
        self._backend: ScoringBackend | None = None
        self.model_key = model_key
        self.db = db
        self.max_item_tokens = max_item_tokens
        self.computed = 0  # pairs scored by the model (not from the cache) since creation

    @property
    def backend(self) -> ScoringBackend:
        if self._backend is None:
            self._backend = self._factory()
        return self._backend

    def _cache_template(self, template: Template) -> str:
        return f"{template.key}:{self.max_item_tokens}"

    def matrix(self, template: Template, xs: Sequence[str], ys: Sequence[str],
               neutral: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(ℓ of shape (len(xs), len(ys)), ℓ(y|∅) of shape (len(ys),) or None)."""
        rows = [(x, text_hash(x)) for x in xs]
        if neutral:
            rows.append((None, NEUTRAL))
        y_hashes = [text_hash(y) for y in ys]
        tkey = self._cache_template(template)
        x_set, y_set = {h for _, h in rows}, set(y_hashes)
        cached = self._lookup(tkey, x_set, y_set)
        if len(cached) == len(x_set) * len(y_set):
            return self._fill(template, rows, ys, y_hashes, tkey, cached, neutral)
        with self._turn():  # something to score; a request ahead of this one may have scored it meanwhile
            return self._fill(template, rows, ys, y_hashes, tkey, self._lookup(tkey, x_set, y_set), neutral)

    def _turn(self) -> AbstractContextManager:
        """Held while this scorer scores what the cache lacks (the app queues it across sessions)."""
        return nullcontext()

    def _fill(self, template, rows, ys, y_hashes, tkey, cached, neutral):
        """The matrix from `cached`, scoring the missing pairs first and writing each row's in its own transaction:
        all rows in one call where the backend has `score_many` (the in-process one packs a request's prompts
        into one forward pass), else row by row, each written before the next is scored."""
        todo = []  # (x hash, prompt, distinct candidate texts) of each row with pairs to score
        for x, xh in rows:
            missing = [j for j, yh in enumerate(y_hashes) if (xh, yh) not in cached]
            if missing:  # several candidates can share a text: score each text once
                prefix = template.neutral if x is None else template.prompt(self._truncate(x))
                todo.append((xh, prefix, list(dict.fromkeys(ys[j] for j in missing))))
        many = getattr(self.backend, "score_many", None) if todo else None
        for batch in [todo] if many else [[row] for row in todo]:
            requests = [(prefix, [template.continuation(self._truncate(y)) for y in texts])
                        for _, prefix, texts in batch]
            results = many(requests) if many else [self.backend.score(*requests[0])]
            for (xh, _, texts), (values, lens) in zip(batch, results):
                fresh = {text_hash(t): (float(v), int(n)) for t, v, n in zip(texts, values, lens)}
                self._store(tkey, xh, fresh)
                self.computed += len(texts)
                for yh, (v, _) in fresh.items():
                    cached[(xh, yh)] = v
        out = np.array([[cached[(xh, yh)] for yh in y_hashes] for _, xh in rows], dtype=np.float64)
        out = out.reshape(len(rows), len(ys))
        if neutral:
            return out[:-1], out[-1]
        return out, None

    def cached_rows(self, template: Template, x_hashes: set[str], y_hashes: set[str]) -> list[dict]:
        """The cache's rows for these hashes, as `_store` writes them: what a worker without this database needs."""
        if self.db is None or not x_hashes or not y_hashes:
            return []
        tkey, xs, ys = self._cache_template(template), sorted(x_hashes), sorted(y_hashes)
        out = []
        for start in range(0, len(ys), 900):
            chunk = ys[start:start + 900]
            sql = ("SELECT x_hash, y_hash, logprob, n_tokens FROM pair_scores WHERE model = ? AND template = ? "
                   f"AND x_hash IN ({','.join('?' * len(xs))}) AND y_hash IN ({','.join('?' * len(chunk))})")
            out += [{"model": self.model_key, "template": tkey, "x_hash": xh, "y_hash": yh, "logprob": v,
                     "n_tokens": n} for xh, yh, v, n in self.db.execute(sql, [self.model_key, tkey, *xs, *chunk])]
        return out

    def _truncate(self, text: str) -> str:
        text = text[: self.max_item_tokens * 12]  # cheap character cut before the tokenizer sees huge text
        truncate = getattr(self.backend, "truncate", None)
        return truncate(text, self.max_item_tokens) if truncate else text

    def _lookup(self, tkey: str, x_hashes: set[str], y_hashes: set[str]) -> dict[tuple[str, str], float]:
        if self.db is None or not x_hashes or not y_hashes:
            return {}
        xs, ys = sorted(x_hashes), sorted(y_hashes)
        found: dict[tuple[str, str], float] = {}
        for start in range(0, len(ys), 900):
            chunk = ys[start:start + 900]
            sql = (
                "SELECT x_hash, y_hash, logprob FROM pair_scores WHERE model = ? AND template = ? "
                f"AND x_hash IN ({','.join('?' * len(xs))}) AND y_hash IN ({','.join('?' * len(chunk))})"
            )
            for xh, yh, v in self.db.execute(sql, [self.model_key, tkey, *xs, *chunk]):
                found[(xh, yh)] = v
        return found

    def _store(self, tkey: str, xh: str, fresh: dict[str, tuple[float, int]]) -> None:
        if self.db is None:
            return
        rows = [
            {"model": self.model_key, "template": tkey, "x_hash": xh, "y_hash": yh, "logprob": v, "n_tokens": n}
            for yh, (v, n) in fresh.items()
        ]
        with self.db.conn:
            self.db["pair_scores"].upsert_all(rows, pk=("model", "template", "x_hash", "y_hash"))
