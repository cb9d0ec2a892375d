"""ℓ(y|x) from an SGLang server, with the prompt of a history item computed once for all its candidates.

vLLM recomputes the whole prompt of every request that asks for prompt log-probabilities (docs/speed.md). SGLang
serves input log-probabilities from its radix (prefix) cache: a request matches at most
min(len(input) - 1, logprob_start_len) cached tokens (`Req._compute_max_prefix_len` in
python/sglang/srt/managers/schedule_batch.py) and computes only the rest. So per prefix x this backend
1. sends the prefix alone once (`/generate`, no log-probabilities), which leaves its KV in the radix cache;
2. sends the pairs prefix + continuation with `return_logprob` and `logprob_start_len = len(prefix) - 1`: each
   reuses the prefix's first len(prefix) - 1 tokens and computes 1 + len(continuation) positions.
SGLang answers `meta_info.input_token_logprobs` as [logprob, token id, text] from position logprob_start_len on,
the first entry None (its predecessor's logits were not computed); ℓ(y|x) is the sum over the continuation's
positions, each checked against its token id.

Everything else (tokenizing through the server's `/tokenize`, `/v1/models`, batching, requests in flight, errors)
is the vLLM backend's. Scores are cached under `<model>@sglang`.
"""
from __future__ import annotations

from .vllm import ServerError, VLLMBackend


class SGLangBackend(VLLMBackend):
    """A scoring backend for `python -m sglang.launch_server --model-path MODEL --served-model-name NAME`."""

    ENGINE = "SGLang"
    SERVE = "python -m sglang.launch_server --model-path MODEL --served-model-name {name}"

    def __init__(self, base_url: str, model_name: str, **kw):
        super().__init__(base_url, model_name, **kw)
        self.prompt_tokens = 0  # tokens sent in scoring requests
        self.cached_tokens = 0  # of which the server reported served from its prefix cache

    def _prepare_prefix(self, p_ids: list[int]) -> None:
        self._request("/generate", {"input_ids": p_ids, "sampling_params": {"max_new_tokens": 1, "temperature": 0.0}})

    def request_body(self, p_ids: list[int], conts: list[list[int]]) -> dict:
        return {
            "input_ids": [p_ids + c for c in conts],
            "sampling_params": {"max_new_tokens": 1, "temperature": 0.0},  # one token is generated, ignored
            "return_logprob": True,
            "logprob_start_len": len(p_ids) - 1,  # the prefix's last token is recomputed, the rest is reused
        }

    def _score_chunk(self, p_ids: list[int], conts: list[list[int]]) -> list[float]:
        answer = self._request("/generate", self.request_body(p_ids, conts))
        if isinstance(answer, dict):
            answer = [answer]
        if not isinstance(answer, list) or len(answer) != len(conts):
            raise ServerError(f"SGLang answered {len(answer) if isinstance(answer, list) else 'no list of'} "
                              f"results for {len(conts)} prompts")
        out = []
        for result, c in zip(answer, conts):
            meta = (result or {}).get("meta_info") or {}
            self.prompt_tokens += len(p_ids) + len(c)
            self.cached_tokens += int(meta.get("cached_tokens") or 0)
            out.append(input_logprob_sum(meta.get("input_token_logprobs"), len(p_ids) - 1, p_ids + c, len(p_ids)))
        return out


def input_logprob_sum(entries: list | None, start: int, ids: list[int], from_pos: int) -> float:
    """Σ log p(ids[t] | ids[:t]) for t >= from_pos, from SGLang's `input_token_logprobs` (entry k is position
    start + k: [logprob, token id, text])."""
    if not isinstance(entries, list) or len(entries) < len(ids) - start:
        raise ServerError("SGLang answered without input_token_logprobs for every scored token (is this an SGLang "
                          "server, asked with return_logprob?)")
    total = 0.0
    for t in range(from_pos, len(ids)):
        entry = entries[t - start]
        if not entry or entry[0] is None or int(entry[1]) != ids[t]:
            raise ServerError(f"SGLang's input_token_logprobs lack the prompt token {ids[t]} at position {t}")
        total += float(entry[0])
    return total
