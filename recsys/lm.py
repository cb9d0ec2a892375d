"""Conditional log-probabilities ℓ(y|x) = Σ_t log p(token_t(y) | prompt(x), token_<t(y)) from a causal LM.

The engine's trick: one forward pass over prompt(x) fills a key/value cache that every candidate of that
prompt reuses; candidates run as one right-padded batch, and the vocabulary projection is applied only to the
positions whose next token is a candidate token (never to prompt positions). `score_plain` is the textbook
computation, kept as the reference the fast path is tested against.

A backend is anything with `name`, `cache_key`, `score(prefix, continuations)` and `score_plain`; the
in-process transformers backend is the default, `recsys.backends.vllm` talks to a serving engine.
"""
from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .models import load_causal_lm, pick_device

log = logging.getLogger(__name__)

MAX_CONTINUATION_TOKENS = 64


class ScoringBackend(Protocol):
    name: str
    cache_key: str

    def score(self, prefix: str, continuations: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(sum of log-probabilities, number of tokens) of each continuation after the prefix."""


def cache_key(model_name: str, device: str) -> str:
    """The pair cache's model key: bfloat16 scores (CUDA) are kept apart from float32 ones."""
    return f"{model_name}@bf16" if device.startswith("cuda") else model_name


class TransformersBackend:
    """In-process scoring with a Hugging Face causal LM (CPU, CUDA bfloat16 or MPS)."""

    def __init__(self, model_name: str, device: str | None = None, batch_tokens: int | None = None):
        import torch

        self.torch = torch
        self.name = model_name
        self.device = pick_device(device)
        self.model, self.tok = load_causal_lm(model_name, self.device)
        self.dtype = next(self.model.parameters()).dtype
        self.cache_key = cache_key(model_name, self.device)
        self.max_len = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        self.batch_tokens = batch_tokens or self._default_batch_tokens()
        self.softcap = getattr(self.model.config, "final_logit_softcapping", None)
        self._lock = threading.Lock()  # one forward at a time per model: the caller's threads share it

    def _default_batch_tokens(self) -> int:
        """Candidate tokens per forward pass: from free memory on CUDA (log-probs cost vocab * 4 bytes a token)."""
        if self.device.startswith("cuda"):
            free, _ = self.torch.cuda.mem_get_info()
            per_token = self.model.config.vocab_size * 4 * 3
            return int(max(256, min(4096, free // 4 // per_token)))
        return 512

    # -- tokens ---------------------------------------------------------------------------------------------
    def _prefix_ids(self, prefix: str) -> list[int]:
        ids = self.tok(prefix).input_ids
        keep = self.max_len - MAX_CONTINUATION_TOKENS
        return ids[-keep:] if len(ids) > keep else ids

    def _cont_ids(self, continuations: Sequence[str]) -> list[list[int]]:
        out = []
        for c in continuations:
            ids = self.tok(c, add_special_tokens=False).input_ids[:MAX_CONTINUATION_TOKENS]
            out.append(ids or [self.tok.pad_token_id])
        return out

    def truncate(self, text: str, max_tokens: int) -> str:
        """Cut text to a token budget (oversized item text is shortened, never an error)."""
        ids = self.tok(text, add_special_tokens=False).input_ids
        return text if len(ids) <= max_tokens else self.tok.decode(ids[:max_tokens]).strip()

    def _head(self, hidden):
        """Log-probabilities over the vocabulary for the given hidden states (K, H) -> (K, V)."""
        logits = self.model.get_output_embeddings()(hidden).float()
        if self.softcap:
            logits = self.torch.tanh(logits / self.softcap) * self.softcap
        return self.torch.log_softmax(logits, dim=-1)

    # -- the fast path --------------------------------------------------------------------------------------
    def score(self, prefix: str, continuations: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        n = len(continuations)
        sums = np.zeros(n, dtype=np.float64)
        if n == 0:
            return sums, np.zeros(0, dtype=np.int64)
        p_ids = self._prefix_ids(prefix)
        c_ids = self._cont_ids(continuations)
        with self._lock, torch.inference_mode():
            out = self.model(input_ids=torch.tensor([p_ids], device=self.device), use_cache=True, logits_to_keep=1)
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # (V,) log p(first token | prompt)
            cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
            start, budget = 0, self.batch_tokens
            while start < n:
                rows, k = [], 0  # pack candidates until the token budget is reached
                while start + len(rows) < n and (not rows or k + len(c_ids[start + len(rows)]) <= budget):
                    rows.append(start + len(rows))
                    k += len(c_ids[rows[-1]]) - 1
                try:
                    sums[rows] = self._score_packed(cache, len(p_ids), first, [c_ids[i] for i in rows])
                except torch.OutOfMemoryError:
                    if budget <= 64:
                        raise
                    budget //= 2
                    log.warning("out of memory: retrying with %d tokens per forward pass", budget)
                    torch.cuda.empty_cache()
                    continue
                start += len(rows)
        return sums, np.array([len(c) for c in c_ids], dtype=np.int64)

    def _score_packed(self, cache, p_len: int, first, rows: list[list[int]]) -> np.ndarray:
        """Score candidates packed into one sequence after the shared prompt cache: no padding at all.

        Token t of candidate r sits at position p_len + t and attends to the prompt and to r's earlier tokens
        only (a block-diagonal causal mask), so each candidate sees exactly what it would see alone.
        """
        torch, dev = self.torch, self.device
        total = first[torch.tensor([r[0] for r in rows], device=dev)]  # (R,) first tokens come from the prompt
        seg = [i for i, r in enumerate(rows) for _ in r[1:]]
        if not seg:
            return total.double().cpu().numpy()
        inputs = torch.tensor([t for r in rows for t in r[:-1]], device=dev)  # (K,) every token that predicts a next one
        targets = torch.tensor([t for r in rows for t in r[1:]], device=dev)  # (K,)
        pos = torch.tensor([p_len + t for r in rows for t in range(len(r) - 1)], device=dev)  # (K,)
        seg_t = torch.tensor(seg, device=dev)
        allowed = (seg_t[:, None] == seg_t[None, :]) & (pos[:, None] >= pos[None, :])  # (K, K)
        allowed = torch.cat([torch.ones((len(seg), p_len), dtype=torch.bool, device=dev), allowed], dim=1)
        mask = torch.zeros(allowed.shape, dtype=self.dtype, device=dev).masked_fill(~allowed, torch.finfo(self.dtype).min)
        hidden = self.model.base_model(
            input_ids=inputs[None], position_ids=pos[None], attention_mask=mask[None, None],
            cache=copy.deepcopy(cache), use_cache=True,
        ).last_hidden_state[0]  # (K, H)
        tok_lp = self._head(hidden).gather(1, targets[:, None]).squeeze(1)  # (K,)
        return total.index_add(0, seg_t, tok_lp).double().cpu().numpy()

    # -- the reference --------------------------------------------------------------------------------------
    def score_plain(self, prefix: str, continuations: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """One full forward pass per (prefix, continuation) pair, full logits: what the fast path must equal."""
        torch = self.torch
        p_ids = self._prefix_ids(prefix)
        sums, lens = [], []
        with self._lock, torch.inference_mode():
            for c in self._cont_ids(continuations):
                ids = torch.tensor([p_ids + c], device=self.device)
                logp = torch.log_softmax(self.model(input_ids=ids).logits[0].float(), dim=-1)  # (T, V)
                pos = torch.arange(len(p_ids) - 1, len(p_ids) + len(c) - 1, device=self.device)
                sums.append(logp[pos, ids[0, pos + 1]].sum().item())
                lens.append(len(c))
        return np.array(sums, dtype=np.float64), np.array(lens, dtype=np.int64)
