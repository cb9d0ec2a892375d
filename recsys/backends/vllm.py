"""ℓ(y|x) from a vLLM OpenAI-compatible server: the scale-out path (many GPUs, tensor/data parallel, one URL).

Each (prefix, continuation) pair is sent as token ids, prefix + continuation, to `/v1/completions` with vLLM's
`prompt_logprobs` extension; the log-probabilities of the continuation's positions are summed. Tokens come from
the server's own `/tokenize`, prefix and continuation tokenized apart exactly as the in-process backend does, so
the boundary between them is the same and the model need not exist on this machine. Many pairs go in one
request (`prompt` as a list of token lists) and several requests are in flight at once, so vLLM's scheduler
batches them across its GPUs.

Scores are cached under `<model>@vllm`, apart from in-process scores (bfloat16 kernels, other batching).
"""
from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import ModelLoadError, RecsysError
from ..lm import MAX_CONTINUATION_TOKENS

log = logging.getLogger(__name__)


class ServerError(RecsysError):
    """The serving engine refused a request or answered in a form this client does not understand."""


class VLLMBackend:
    """A scoring backend that talks to `vllm serve MODEL --served-model-name NAME` at `base_url`."""

    ENGINE = "vLLM"  # in messages and in the cache key (`<model>@vllm`)
    SERVE = "vllm serve MODEL --served-model-name {name}"

    def __init__(self, base_url: str, model_name: str, *, timeout: float = 300.0, prompts_per_request: int = 64,
                 in_flight: int = 4):
        url = base_url.rstrip("/")
        self.base_url = url[: -len("/v1")] if url.endswith("/v1") else url
        self.name = model_name
        self.cache_key = f"{model_name}@{self.ENGINE.lower()}"
        self.timeout = timeout
        self.prompts_per_request = prompts_per_request
        self.in_flight = in_flight
        self._tokens_of: dict[tuple[str, bool], list[int]] = {}
        self._lock = threading.Lock()
        self.max_len = self._check_model()

    # -- HTTP -----------------------------------------------------------------------------------------------
    def _request(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.base_url + path, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:500]
            raise ServerError(f"{self.ENGINE} server {self.base_url}{path} answered HTTP {e.code}: {detail}") from e
        except (urllib.error.URLError, OSError) as e:
            raise ModelLoadError(f"cannot reach the {self.ENGINE} server at {self.base_url} ({e}); start it with "
                                 f"`{self.SERVE.format(name=self.name)}` (see docs/speed.md)") from e
        except ValueError as e:
            raise ServerError(f"{self.ENGINE} server {self.base_url}{path} did not answer JSON: {e}") from e

    def _check_model(self) -> int:
        """The server must serve this model name; its context length bounds the prompts."""
        served = self._request("/v1/models").get("data", [])
        for m in served:
            if m.get("id") == self.name:
                return int(m.get("max_model_len") or 2048)
        names = ", ".join(str(m.get("id")) for m in served) or "nothing"
        raise ModelLoadError(f"the {self.ENGINE} server at {self.base_url} serves {names}, not {self.name!r}; start it "
                             f"with --served-model-name {self.name}")

    # -- tokens ---------------------------------------------------------------------------------------------
    def _tokens(self, text: str, special: bool) -> list[int]:
        key = (text, special)
        with self._lock:
            if key in self._tokens_of:
                return self._tokens_of[key]
        ids = self._request("/tokenize", {"model": self.name, "prompt": text, "add_special_tokens": special})
        tokens = [int(t) for t in ids["tokens"]]
        with self._lock:
            if len(self._tokens_of) > 100_000:
                self._tokens_of.clear()
            self._tokens_of[key] = tokens
        return tokens

    def truncate(self, text: str, max_tokens: int) -> str:
        """Cut text to a token budget of the server's tokenizer (the in-process backend does the same)."""
        ids = self._tokens(text, False)
        if len(ids) <= max_tokens:
            return text
        answer = self._request("/detokenize", {"model": self.name, "tokens": ids[:max_tokens]})
        return str(answer.get("prompt", answer.get("text", ""))).strip()  # vLLM: "prompt"; SGLang: "text"

    # -- scoring --------------------------------------------------------------------------------------------
    def score(self, prefix: str, continuations: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        n = len(continuations)
        sums = np.zeros(n, dtype=np.float64)
        if n == 0:
            return sums, np.zeros(0, dtype=np.int64)
        p_ids = self._tokens(prefix, True)
        keep = self.max_len - MAX_CONTINUATION_TOKENS - 1  # one generated token must fit too
        p_ids = p_ids[-keep:] if len(p_ids) > keep else p_ids
        c_ids = [self._tokens(c, False)[:MAX_CONTINUATION_TOKENS] for c in continuations]
        todo = [i for i in range(n) if c_ids[i]]  # an empty continuation has log-probability 0
        chunks = [todo[s:s + self.prompts_per_request] for s in range(0, len(todo), self.prompts_per_request)]
        if todo:
            self._prepare_prefix(p_ids)

        def run(chunk: list[int]) -> tuple[list[int], list[float]]:
            return chunk, self._score_chunk(p_ids, [c_ids[i] for i in chunk])

        if len(chunks) == 1:
            results = [run(chunks[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(self.in_flight, len(chunks))) as pool:
                results = list(pool.map(run, chunks))
        for chunk, values in results:
            sums[chunk] = values
        return sums, np.array([len(c) for c in c_ids], dtype=np.int64)

    def score_plain(self, prefix: str, continuations: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """One request per pair, one at a time: the unbatched reference the benchmark compares against."""
        out = [self.score(prefix, [c]) for c in continuations]
        return (np.array([v[0] for v, _ in out], dtype=np.float64).reshape(-1),
                np.array([n[0] for _, n in out], dtype=np.int64).reshape(-1))

    def _prepare_prefix(self, p_ids: list[int]) -> None:
        """Nothing on vLLM: a request with prompt log-probabilities skips its prefix cache anyway."""

    def request_body(self, p_ids: list[int], conts: list[list[int]]) -> dict:
        """One completions request scoring every continuation after the prefix (no sampling that matters)."""
        return {
            "model": self.name,
            "prompt": [p_ids + c for c in conts],
            "max_tokens": 1,  # vLLM generates at least one token; it is ignored
            "temperature": 0.0,
            "prompt_logprobs": 1,  # the log-probability of each prompt token (plus the top-1, unused)
        }

    def _score_chunk(self, p_ids: list[int], conts: list[list[int]]) -> list[float]:
        answer = self._request("/v1/completions", self.request_body(p_ids, conts))
        choices = sorted(answer.get("choices") or [], key=lambda c: c.get("index", 0))
        if len(choices) != len(conts):
            raise ServerError(f"vLLM answered {len(choices)} choices for {len(conts)} prompts")
        return [continuation_logprob(ch.get("prompt_logprobs"), len(p_ids), p_ids + c)
                for ch, c in zip(choices, conts)]


def continuation_logprob(prompt_logprobs: list | None, prefix_len: int, ids: list[int]) -> float:
    """Σ log p(ids[t] | ids[:t]) over the continuation's positions t >= prefix_len, read from vLLM's
    `prompt_logprobs`: one entry per prompt token (None for the first), each {token id: {"logprob": …}}."""
    if not isinstance(prompt_logprobs, list) or len(prompt_logprobs) < len(ids):
        raise ServerError("vLLM answered without prompt_logprobs for every prompt token (is this a vLLM server "
                          "with the prompt_logprobs extension?)")
    total = 0.0
    for t in range(prefix_len, len(ids)):
        entry = prompt_logprobs[t] or {}
        found = entry.get(str(ids[t]), entry.get(ids[t]))
        if found is None:
            raise ServerError(f"vLLM's prompt_logprobs lack the prompt token {ids[t]} at position {t}")
        total += float(found["logprob"] if isinstance(found, dict) else found)
    return total
