"""A local stand-in for an SGLang server: the vLLM stand-in's tokenizer and model, plus SGLang's native
`/generate` with `return_logprob` / `logprob_start_len`, its answer shape, and its radix-cache rule — a request
reuses the longest cached prefix of its input, at most min(len(input) - 1, logprob_start_len) tokens, and reports
it as `meta_info.cached_tokens` (schedule_batch.py `_compute_max_prefix_len`)."""
from __future__ import annotations

from tests.backends.vllm_standin import StandIn, token_logprob


class SGLangStandIn(StandIn):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.cache: set[tuple[int, ...]] = set()  # every prefix of every finished request's input
        self.computed_tokens = 0  # positions the stand-in's "model" computed (not served from the cache)

    def handle(self, path: str, body: dict):
        if path != "/generate":
            return None
        if self.fail_completions:
            code, message = self.fail_completions
            return code, {"error": {"message": message}}
        batch = body["input_ids"] and isinstance(body["input_ids"][0], list)
        inputs = body["input_ids"] if batch else [body["input_ids"]]
        out = [self.generate(ids, body) for ids in inputs]
        return 200, (out if batch else out[0])

    def generate(self, ids: list[int], body: dict) -> dict:
        start = body.get("logprob_start_len", -1) if body.get("return_logprob") else -1
        limit = len(ids) - 1 if start < 0 else min(len(ids) - 1, start)
        cached = max((k for k in range(limit + 1) if tuple(ids[:k]) in self.cache), default=0)
        self.computed_tokens += len(ids) - cached
        for k in range(1, len(ids) + 1):
            self.cache.add(tuple(ids[:k]))
        meta = {"id": "standin", "prompt_tokens": len(ids), "completion_tokens": 1, "cached_tokens": cached,
                "finish_reason": {"type": "length", "length": 1}}
        if body.get("return_logprob"):
            s = max(start, 0)
            meta["input_token_logprobs"] = [[None, ids[s], None]] + [
                [token_logprob(tok, t), tok, None] for t, tok in enumerate(ids) if t > s]
            meta["output_token_logprobs"] = [[-0.01, 0, None]]
        return {"text": "!", "output_ids": [0], "meta_info": meta}
