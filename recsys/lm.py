"""Conditional log-probabilities ℓ(y|x) = Σ_t log p(token_t(y) | prompt(x), token_<t(y)) from a causal LM.

The engine's trick: prompt(x) is computed once for all its candidates, which run packed as a token trie (a common
beginning computed once, no padding) in the same forward pass as the prompt, and the prompts of one request share
that pass; a trie too large for one pass runs in chunks after a key/value cache of its prompt. Attention over a
trie runs in blocks of whole first-token subtrees, and the vocabulary projection is applied only to the positions
whose next token is a candidate token. `score_plain` is the textbook computation, kept as the reference the fast
path is tested against.

A backend is anything with `name`, `cache_key`, `score(prefix, continuations)` and `score_plain`, optionally
`score_many(requests)`; the in-process transformers backend is the default, `recsys.backends.vllm` talks to a
serving engine.
"""
from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .models import forward_lock, load_causal_lm, pick_device
from .precision import Precision, choose

log = logging.getLogger(__name__)

MAX_CONTINUATION_TOKENS = 64
HEAD_ROWS_CPU = 256  # trie nodes per slice of the vocabulary projection on CPU
LSE_ROWS_CPU = 16  # rows per log-softmax over the vocabulary on CPU: what it writes stays in cache
BLOCK_NODES = 64  # trie nodes per attention block (see `_blocks`)
PASS_TOKENS_CPU = 4096  # prompts and trie nodes per packed forward pass on CPU (see `score_many`)
TRIE_ATTENTION = "recsys_trie_blocks"


class ScoringBackend(Protocol):
    name: str
    cache_key: str

    def score(self, prefix: str, continuations: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(sum of log-probabilities, number of tokens) of each continuation after the prefix."""


def cache_key(model_name: str, precision: Precision) -> str:
    """The pair cache's model key: bfloat16 scores (CPU or CUDA) are kept apart from float32 ones."""
    return model_name + precision.suffix


class TransformersBackend:
    """In-process scoring with a Hugging Face causal LM (CPU, CUDA or MPS; float32 or bfloat16)."""

    def __init__(self, model_name: str, device: str | None = None, batch_tokens: int | None = None,
                 precision: Precision | str | None = None):
        import torch

        self.torch = torch
        self.name = model_name
        self.device = pick_device(device)
        self.precision = precision if isinstance(precision, Precision) else choose(precision, self.device)
        self.model, self.tok = load_causal_lm(model_name, self.device, self.precision.torch_dtype())
        self.dtype = next(self.model.parameters()).dtype
        self.cache_key = cache_key(model_name, self.precision)
        self.max_len = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        self.batch_tokens = batch_tokens or self._default_batch_tokens()
        self.head_rows, self.lse_rows = self._head_slices()
        self.pass_tokens = PASS_TOKENS_CPU if self.device == "cpu" else self.batch_tokens
        self.softcap = getattr(self.model.config, "final_logit_softcapping", None)
        self._lock = forward_lock(self.model)  # one forward at a time per model, whoever runs it
        self.block_nodes = BLOCK_NODES if self.device == "cpu" else 0  # measured on CPU only
        register_trie_attention()

    def _default_batch_tokens(self) -> int:
        """Candidate tokens per forward pass: from free memory on CUDA (log-probs cost vocab * 4 bytes a token)."""
        if self.device.startswith("cuda"):
            free, _ = self.torch.cuda.mem_get_info()
            per_token = self.model.config.vocab_size * 4 * 3
            return int(max(256, min(4096, free // 4 // per_token)))
        return 512

    def _head_slices(self) -> tuple[int, int]:
        """Rows per vocabulary-projection slice and per log-sum-exp: small on CPU (cache), and on CUDA as many as
        an eighth of free memory holds in float32 logits (twice), so large vocabularies (Gemma: 262k) fit."""
        if self.device.startswith("cuda"):
            free, _ = self.torch.cuda.mem_get_info()
            rows = int(max(64, min(self.batch_tokens, free // 8 // (self.model.config.vocab_size * 8))))
            return rows, rows
        return HEAD_ROWS_CPU, LSE_ROWS_CPU

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

    # -- the fast path --------------------------------------------------------------------------------------
    def score(self, prefix: str, continuations: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.score_many([(prefix, continuations)])[0]

    def score_many(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """`score` of several prompts at once. A prompt whose candidates' trie fits one pass (`batch_tokens`) runs
        in the same pass as that trie, and such prompts share passes (`_score_packed`): a cold request's five
        prompts × 50 candidates are one forward pass of ~2,400 tokens instead of five. A larger trie runs chunk by
        chunk after its prompt's key/value cache (`_score_chunks`)."""
        torch = self.torch
        out, packed = [], []
        for prefix, continuations in requests:
            c_ids = self._cont_ids(continuations)
            sums = np.zeros(len(c_ids), dtype=np.float64)
            out.append((sums, np.array([len(c) for c in c_ids], dtype=np.int64)))
            if not c_ids:
                continue
            # sorted token sequences put candidates that share a beginning ("The …", "Star Wars: …", duplicates)
            # next to each other, so they land in one chunk and share trie nodes
            order = sorted(range(len(c_ids)), key=lambda i: c_ids[i])
            trie = _Trie()
            for i in order:
                trie.add(c_ids[i])
            segment = _Segment(self._prefix_ids(prefix), trie, [c_ids[i] for i in order], order, sums)
            if trie.size <= self.batch_tokens:
                packed.append(segment)
            else:
                with self._lock, torch.inference_mode():
                    self._score_chunks(segment, self.batch_tokens)
        with self._lock, torch.inference_mode():
            for group in _passes(packed, self.pass_tokens):
                try:
                    self._score_packed(group)
                except torch.OutOfMemoryError:
                    log.warning("out of memory: scoring %d prompts' candidates chunk by chunk", len(group))
                    self._release()
                    for segment in group:
                        self._score_chunks(segment, max(64, self.batch_tokens // 2))
        return out

    def _score_chunks(self, seg: "_Segment", budget: int) -> None:
        """Candidates in tries of about `budget` nodes, each pass after a copy of the prompt's cache."""
        torch = self.torch
        cache, first = self._prompt(seg.p_ids)
        n, start = len(seg.rows), 0
        budget = self._even_budget(seg.rows, budget)
        while start < n:
            trie = _Trie()  # pack candidates until the trie holds `budget` tokens
            trie.add(seg.rows[start])
            end = start + 1
            while end < n and trie.size + trie.new_nodes(seg.rows[end]) <= budget:
                trie.add(seg.rows[end])
                end += 1
            try:
                seg.sums[seg.order[start:end]] = self._score_trie(cache, len(seg.p_ids), first, trie,
                                                                  seg.rows[start:end])
            except torch.OutOfMemoryError:
                if budget <= 64:
                    raise
                budget = self._even_budget(seg.rows[start:], budget // 2)
                log.warning("out of memory: retrying with %d tokens per forward pass", budget)
                self._release()
                continue
            start = end

    def _release(self) -> None:
        """After an out-of-memory error: hand the failed pass's cached blocks back before the smaller retry."""
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()

    @staticmethod
    def _even_budget(sorted_ids: list[list[int]], budget: int) -> int:
        """Nodes per chunk so that the chunks come out about equal: 530 nodes at a budget of 512 make two
        chunks of ~265, not 512 and a nearly empty one that costs a whole pass of per-layer overhead."""
        trie = _Trie()
        for ids in sorted_ids:
            trie.add(ids)
        chunks = -(-trie.size // budget)
        if chunks <= 1:
            return budget
        longest = max(len(ids) - 1 for ids in sorted_ids)  # slack so that greedy packing needs no extra chunk
        return min(budget, -(-trie.size // chunks) + longest)

    def _prompt(self, p_ids: list[int]):
        """The prompt's key/value cache and log p(first token | prompt), (V,), for the passes that share them."""
        out = self.model(input_ids=self.torch.tensor([p_ids], device=self.device), use_cache=True, logits_to_keep=1)
        cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
        return cache, self.torch.log_softmax(out.logits[0, -1].float(), dim=-1)

    def _score_packed(self, segments: list["_Segment"]) -> None:
        """Score several prompts' tries in one forward pass, each prompt's tokens followed by its trie's nodes.

        A prompt's rows attend causally to that prompt, its nodes to that prompt and their own ancestors, nothing
        across segments; positions restart with each prompt. So every candidate sees exactly what it would see
        alone (`_score_trie`), and the pass needs neither a prompt pass nor a cache: one forward pass instead of
        two per prompt, and one for all the prompts that fit (a whole pass's per-operation cost each).
        """
        torch, dev = self.torch, self.device
        size = sum(len(s.p_ids) + s.trie.size for s in segments)
        allowed = np.zeros((size, size), dtype=bool)
        tokens, positions, starts, at = [], [], [], 0
        for s in segments:
            p, k = len(s.p_ids), s.trie.size
            q = at + p  # the row (and key column) of the trie's first node
            allowed[at:q, at:q] = np.tri(p, dtype=bool)
            allowed[q:q + k, at:q] = True
            _ancestors(allowed, s.trie, q, q)
            tokens += s.p_ids + s.trie.token
            positions += list(range(p)) + [p + d for d in s.trie.depth]
            starts.append((at, q))
            at = q + k
        mask = self._additive(allowed)
        blocks = []
        if self._blocked():
            for s, (a, q) in zip(segments, starts):
                prompt = torch.arange(a, q, device=dev)
                blocks.append((a, q, prompt, mask[a:q, a:q][None, None]))
                blocks += self._block_inputs(s.trie, mask, prompt, q, q)
        hidden = self._forward(tokens, positions, mask, blocks, None)
        nodes, targets, owner, base = [], [], [], 0  # every (row, next token) a candidate needs, and whose it is
        for s, (_, q) in zip(segments, starts):
            for ri, r in enumerate(s.rows):
                path = [q - 1] + [q + node for node in s.trie.path(r)]  # the prompt's last row, then the nodes
                nodes += path
                targets += r[:len(path)]
                owner += [base + ri] * len(path)
            base += len(s.rows)
        needed = sorted(set(nodes))  # the head runs on these rows only
        local = {row: i for i, row in enumerate(needed)}
        tok_lp = self._token_logprobs(hidden[torch.tensor(needed, device=dev)],
                                      torch.tensor([local[n] for n in nodes], device=dev),
                                      torch.tensor(targets, device=dev))
        total = torch.zeros(base, dtype=torch.float32, device=dev).index_add(0, torch.tensor(owner, device=dev),
                                                                             tok_lp).double().cpu().numpy()
        base = 0
        for s in segments:
            s.sums[s.order] = total[base:base + len(s.rows)]
            base += len(s.rows)

    def _score_trie(self, cache, p_len: int, first, trie: "_Trie", rows: list[list[int]]) -> np.ndarray:
        """Score candidates packed as a token trie after the shared prompt cache (one chunk of several).

        A trie node is a candidate prefix; it sits at position p_len + depth and attends to the prompt and to
        its own ancestors only, so every candidate sees exactly what it would see alone, and candidates that
        begin alike compute their common beginning once. The vocabulary projection runs on the nodes only.
        """
        torch, dev = self.torch, self.device
        total = first[torch.tensor([r[0] for r in rows], device=dev)]  # (R,) first tokens come from the prompt
        if trie.size == 0:
            return total.double().cpu().numpy()
        k = trie.size
        allowed = np.zeros((k, p_len + k), dtype=bool)
        allowed[:, :p_len] = True
        _ancestors(allowed, trie, 0, p_len)
        mask = self._additive(allowed)
        blocks = self._block_inputs(trie, mask, torch.arange(p_len, device=dev), 0, p_len) if self._blocked() else []
        hidden = self._forward(trie.token, [p_len + d for d in trie.depth], mask, blocks, cache)
        nodes, targets, owner = [], [], []  # every (node, next token) a candidate needs, and whose it is
        for ri, r in enumerate(rows):
            for t, node in enumerate(trie.path(r)):
                nodes.append(node)
                targets.append(r[t + 1])
                owner.append(ri)
        tok_lp = self._token_logprobs(hidden, torch.tensor(nodes, device=dev), torch.tensor(targets, device=dev))
        return total.index_add(0, torch.tensor(owner, device=dev), tok_lp).double().cpu().numpy()

    def _additive(self, allowed: np.ndarray):
        """The attention mask in the model's dtype: 0 where a row may attend, the dtype's minimum elsewhere."""
        torch = self.torch
        mask = torch.zeros(allowed.shape, dtype=self.dtype, device=self.device)
        return mask.masked_fill_(~torch.from_numpy(allowed).to(self.device), torch.finfo(self.dtype).min)

    def _blocked(self) -> bool:
        """Whether attention runs per block of first-token subtrees (`_blocks`, `_trie_block_attention`): on CPU,
        where the square of all nodes against all is almost entirely masked and was a quarter of a prompt's time,
        and for an attention function in transformers' registry ("eager", each model's own code, keeps one call)."""
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        return bool(self.block_nodes) and self.model.config._attn_implementation in ALL_ATTENTION_FUNCTIONS

    def _forward(self, tokens: list[int], positions: list[int], mask, blocks: list[tuple], cache):
        """The base model's last hidden states, (len(tokens), H), after a copy of `cache` if there is one, with
        attention by `blocks` where there are several."""
        config, dev = self.model.config, self.device
        inner, extra = config._attn_implementation, {}
        if len(blocks) > 1:
            from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

            config._attn_implementation = TRIE_ATTENTION  # the lock is held: no other forward sees the switch
            extra = {"trie_blocks": blocks, "trie_keys": mask.shape[1], "trie_inner": ALL_ATTENTION_FUNCTIONS[inner]}
        try:
            return self.model.base_model(
                input_ids=self.torch.tensor([tokens], device=dev),
                position_ids=self.torch.tensor([positions], device=dev), attention_mask=mask[None, None],
                cache=copy.deepcopy(cache), use_cache=cache is not None, **extra,
            ).last_hidden_state[0]
        finally:
            config._attn_implementation = inner

    def _block_inputs(self, trie: "_Trie", mask, prompt, row: int, col: int) -> list[tuple]:
        """(first query row, end, key columns, mask) of each attention block of a trie whose nodes are the query
        rows from `row` and the key columns from `col`: the prompt's columns and the block's own."""
        torch, out = self.torch, []
        for a, b in _blocks(trie, self.block_nodes) if trie.size else []:
            cols = torch.cat([prompt, torch.arange(col + a, col + b, device=self.device)])
            out.append((row + a, row + b, cols, mask[row + a:row + b][:, cols][None, None]))
        return out

    def _token_logprobs(self, hidden, nodes, targets):
        """log p(target | node): the head applied in slices of rows, each slice's log-softmax taken (in float32)
        a few rows at a time so that what it writes stays in cache. Converting a whole slice to float32 for a
        logsumexp was a third of a bfloat16 prompt's profile (docs/speed.md, "What makes the engine fast")."""
        torch = self.torch
        head = self.model.get_output_embeddings()
        picked = torch.empty(len(nodes), dtype=torch.float32, device=hidden.device)
        step, rows = self.head_rows, self.lse_rows
        for s in range(0, hidden.shape[0], step):
            logits = head(hidden[s:s + step])
            for r in range(s, s + logits.shape[0], rows):
                part = logits[r - s:r - s + rows].float()
                if self.softcap:
                    part = torch.tanh(part / self.softcap) * self.softcap
                sel = ((nodes >= r) & (nodes < r + rows)).nonzero().squeeze(1)
                picked[sel] = torch.log_softmax(part, dim=-1)[nodes[sel] - r, targets[sel]]
        return picked

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


@dataclass
class _Segment:
    """One prompt's tokens and its candidates' trie; scores land in `sums` (in the caller's order: `order`)."""
    p_ids: list[int]
    trie: "_Trie"
    rows: list[list[int]]  # the candidates' token ids, sorted
    order: list[int]  # rows[j] is the caller's candidate order[j]
    sums: np.ndarray


def _ancestors(allowed: np.ndarray, trie: "_Trie", row: int, col: int) -> None:
    """Let each trie node (query row `row + i`, key column `col + i`) attend to itself and its ancestors."""
    k = trie.size
    for i, parent in enumerate(trie.parent):  # parents precede children: copy the parent's row, add self
        if parent >= 0:
            allowed[row + i, col:col + k] = allowed[row + parent, col:col + k]
        allowed[row + i, col + i] = True


def _passes(segments: list[_Segment], budget: int) -> list[list[_Segment]]:
    """Consecutive segments grouped into passes of at most `budget` tokens (a larger segment runs alone)."""
    out, size = [], 0
    for s in segments:
        tokens = len(s.p_ids) + s.trie.size
        if not out or size + tokens > budget:
            out.append([])
            size = 0
        out[-1].append(s)
        size += tokens
    return out


def _blocks(trie: "_Trie", target: int) -> list[tuple[int, int]]:
    """Ranges of trie nodes that attend to the prompt and within themselves only: whole subtrees of a first token,
    merged up to `target` nodes. A subtree's nodes are contiguous because candidates are added in sorted order;
    if that ever failed, one block (the whole trie) is returned and the result is unchanged."""
    starts = [i for i, d in enumerate(trie.depth) if d == 0] + [trie.size]
    blocks, begin = [], 0
    for a, b in zip(starts, starts[1:]):
        if b - begin > target and a > begin:
            blocks.append((begin, a))
            begin = a
    blocks.append((begin, trie.size))
    owner = [0] * trie.size
    for a, b in blocks:
        owner[a:b] = [a] * (b - a)
    if any(0 <= p < owner[i] for i, p in enumerate(trie.parent)):
        return [(0, trie.size)]
    return blocks


def _trie_block_attention(module, query, key, value, attention_mask, *, trie_blocks, trie_keys, trie_inner,
                          **kwargs):
    """The model's own attention, run block by block over the trie: each block's queries against the prompt's keys
    and the block's own. Nothing a node may see lies outside its block, so the output is what one call over the
    whole (mostly masked) square gives, with about a third of the attention's work (`bench/trie_blocks.py`)."""
    import torch

    if key.shape[2] != trie_keys:  # a cache that keeps fewer keys (a sliding window): one call
        return trie_inner(module, query, key, value, attention_mask, **kwargs)
    out = [trie_inner(module, query[:, :, a:b], key[:, :, cols], value[:, :, cols], block_mask, **kwargs)[0]
           for a, b, cols, block_mask in trie_blocks]
    return torch.cat(out, dim=1), None


def register_trie_attention() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(TRIE_ATTENTION, _trie_block_attention)


class _Trie:
    """The inputs of packed candidates, shared where they begin alike.

    Candidate r = [t0 … t_{L-1}] feeds t0 … t_{L-2}; input j is the node of the prefix r[:j+1] (its token t_j,
    depth j) and predicts t_{j+1}. Two candidates with a common beginning share those nodes.
    """

    def __init__(self):
        self._child: dict[tuple[int, int], int] = {}
        self.token: list[int] = []
        self.parent: list[int] = []
        self.depth: list[int] = []

    @property
    def size(self) -> int:
        return len(self.token)

    def new_nodes(self, ids: list[int]) -> int:
        """How many nodes adding this candidate would create."""
        node = -1
        for j, tok in enumerate(ids[:-1]):
            node = self._child.get((node, tok), -2)
            if node == -2:
                return len(ids) - 1 - j
        return 0

    def add(self, ids: list[int]) -> None:
        node = -1
        for j, tok in enumerate(ids[:-1]):
            nxt = self._child.get((node, tok))
            if nxt is None:
                nxt = self._child[(node, tok)] = len(self.token)
                self.token.append(tok)
                self.parent.append(node)
                self.depth.append(j)
            node = nxt

    def path(self, ids: list[int]) -> list[int]:
        """The node of each input of a candidate already added: path[j] predicts ids[j + 1]."""
        node, out = -1, []
        for tok in ids[:-1]:
            node = self._child[(node, tok)]
            out.append(node)
        return out
