"""Scoring backends chosen by configuration: `transformers` (in process, the default) or a serving engine.

`Models(backend=SPEC)` calls `make_backend(SPEC, model)` for anything but the in-process default. A backend
has `name`, `cache_key`, `score(prefix, continuations) -> (log-probability sums, token counts)` and
optionally `score_many([(prefix, continuations), …])` (several prompts at once) and `truncate(text, max_tokens)`;
see `recsys.lm.ScoringBackend`.

Specs:
  transformers               the in-process Hugging Face model (device: --device or $RECSYS_DEVICE)
  vllm:URL                   a vLLM OpenAI-compatible server, e.g. vllm:http://gpu-host:8000
  vllm                       the same, URL from $RECSYS_VLLM_URL (default http://127.0.0.1:8000)
  sglang:URL                 an SGLang server: the prompt of a history item is computed once for its candidates
  sglang                     the same, URL from $RECSYS_SGLANG_URL (default http://127.0.0.1:30000)
"""
from __future__ import annotations

import os

from ..errors import ConfigError

DEFAULT_VLLM_URL = "http://127.0.0.1:8000"
DEFAULT_SGLANG_URL = "http://127.0.0.1:30000"


def make_backend(spec: str, model_name: str):
    kind, _, arg = spec.partition(":")
    if kind == "transformers":
        from ..lm import TransformersBackend

        if arg:
            raise ConfigError("choose the device with --device (or RECSYS_DEVICE), not in the backend name")
        return TransformersBackend(model_name)
    if kind == "vllm":
        from .vllm import VLLMBackend

        return VLLMBackend(arg or os.environ.get("RECSYS_VLLM_URL", DEFAULT_VLLM_URL), model_name)
    if kind == "sglang":
        from .sglang import SGLangBackend

        return SGLangBackend(arg or os.environ.get("RECSYS_SGLANG_URL", DEFAULT_SGLANG_URL), model_name)
    raise ConfigError(f"unknown scoring backend {spec!r}; use 'transformers', 'vllm:URL' or 'sglang:URL' "
                      "(e.g. vllm:http://127.0.0.1:8000)")
