"""Which numeric type the models compute in: asked for (`--precision`, RECSYS_PRECISION, the app's setting) or
chosen per machine (`auto`), with the reason, so that health checks and the app can say why.

`auto` takes bfloat16 where it is natively fast and float32 elsewhere: on CUDA when the GPU supports it; on a CPU
when it lists AVX-512 BF16 or AMX (/proc/cpuinfo), or, where the flags say nothing, when a short matrix product
probe runs faster in bfloat16 than in float32 (measured once per CPU and torch version, remembered on disk).
bfloat16 asked for on hardware without native support still runs (torch emulates it, slowly) and says so.
The ranking cost of bfloat16 was measured against float32 on the same users: docs/speed.md.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .config import CACHE_DIR
from .errors import UnknownPrecisionError

log = logging.getLogger(__name__)

AUTO, FLOAT32, BFLOAT16 = "auto", "float32", "bfloat16"
PRECISIONS = (AUTO, FLOAT32, BFLOAT16)
ALIASES = {"fp32": FLOAT32, "f32": FLOAT32, "bf16": BFLOAT16}
CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # instructions that make bfloat16 matrix products native on x86
PROBE_SPEEDUP = 1.3  # bfloat16 must beat float32 by this much in the probe to count as native
PROBE_FILE = "precision-probe.json"


@dataclass(frozen=True)
class Precision:
    """The numeric type in use and why (shown by `health` and the app's settings)."""

    name: str  # float32 or bfloat16
    requested: str  # auto, float32 or bfloat16
    reason: str

    @property
    def suffix(self) -> str:
        """What the pair cache appends to a model's key: scores of each precision are kept apart."""
        return "@bf16" if self.name == BFLOAT16 else ""

    def torch_dtype(self):
        import torch

        return torch.bfloat16 if self.name == BFLOAT16 else torch.float32

    def describe(self) -> str:
        return f"{self.name} ({self.reason})"


def parse(name: str | None) -> str:
    """auto, float32 or bfloat16 from an argument, else RECSYS_PRECISION, else auto; anything else is refused."""
    raw = name if name is not None else os.environ.get("RECSYS_PRECISION", AUTO)
    value = ALIASES.get(raw.strip().lower(), raw.strip().lower())
    if value not in PRECISIONS:
        raise UnknownPrecisionError(raw, PRECISIONS)
    return value


def choose(requested: str | None, device: str, allow_bf16: bool = True) -> Precision:
    """The precision for a model on a device. `allow_bf16=False` keeps `auto` at float32 (a model whose
    bfloat16 output was measured to move too far from float32's)."""
    req = parse(requested)
    native, why = bf16_native(device)
    if req == FLOAT32:
        return Precision(FLOAT32, req, "asked for")
    if req == BFLOAT16:
        if native:
            return Precision(BFLOAT16, req, f"asked for; {why}")
        log.warning("bfloat16 asked for on %s, which does not run it natively (%s): it will be slow", device, why)
        return Precision(BFLOAT16, req, f"asked for, but not native here ({why}): emulated, slow")
    if not allow_bf16:
        return Precision(FLOAT32, req, "auto: this model's bfloat16 output differs too much from float32")
    if native:
        return Precision(BFLOAT16, req, f"auto: {why}")
    return Precision(FLOAT32, req, f"auto: {why}")


def bf16_native(device: str) -> tuple[bool, str]:
    """Whether bfloat16 is natively fast on the device, and the evidence."""
    if device.startswith("cuda"):
        import torch

        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
        return ok, "the GPU supports bfloat16" if ok else "the GPU has no native bfloat16"
    if device.startswith("cpu"):
        return _cpu_bf16()
    return False, f"bfloat16 is not used on {device}"


@functools.lru_cache(maxsize=1)
def _cpu_bf16() -> tuple[bool, str]:
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    flags = cpu_flags()
    found = [f for f in CPU_FLAGS if f in flags]
    if found:
        return True, f"the CPU has {', '.join(found)} (torch CPU capability {capability})"
    if flags and "avx512f" not in flags and platform.machine() in ("x86_64", "AMD64"):
        return False, f"the CPU lacks {' and '.join(CPU_FLAGS)} (torch CPU capability {capability})"
    speedup = remembered_probe()
    verdict = speedup >= PROBE_SPEEDUP
    return verdict, (f"a bfloat16 matrix product ran {speedup:.2f}× the speed of float32 on this CPU "
                     f"({'native' if verdict else 'not native'}; probe threshold {PROBE_SPEEDUP}×)")


def cpu_flags() -> set[str]:
    try:
        m = re.search(r"^flags\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M)
    except OSError:
        return set()
    return set(m.group(1).split()) if m else set()


def cpu_name() -> str:
    try:
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        if m:
            return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def remembered_probe(path: Path | None = None) -> float:
    """probe()'s speed-up, measured once per CPU and torch version and kept in CACHE_DIR."""
    import torch

    path = path or CACHE_DIR / PROBE_FILE
    key = f"{cpu_name()} | torch {torch.__version__}"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return float(known[key])
    speedup = probe()
    known[key] = round(speedup, 3)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1))
    except OSError as e:  # a read-only cache only means measuring again next time
        log.warning("could not remember the precision probe in %s: %s", path, e)
    return speedup


def probe(rows: int = 256, width: int = 576, out: int = 1536, repeats: int = 5) -> float:
    """float32 time ÷ bfloat16 time of a matrix product shaped like a small LM's layer (~0.1 s in all)."""
    import torch

    a, b = torch.randn(rows, width), torch.randn(width, out)
    best = {}
    with torch.inference_mode():
        for dtype in (torch.float32, torch.bfloat16):
            x, y = a.to(dtype), b.to(dtype)
            x @ y
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                for _ in range(4):
                    x @ y
                times.append(time.perf_counter() - start)
            best[dtype] = min(times)
    return best[torch.float32] / max(best[torch.bfloat16], 1e-9)


# Embedders whose bfloat16 vectors were measured against float32 (bench/embed_precision.py): the worst cosine
# over 3,000 microlens titles. `auto` runs an embedder in bfloat16 only if it is listed here at >= 0.99.
EMBEDDER_BF16_COSINE = {"all-minilm-l6-v2": 0.9999}
MIN_EMBEDDER_COSINE = 0.99


def embedder_bf16_ok(name: str) -> bool:
    from .models import ALIASES

    return EMBEDDER_BF16_COSINE.get(ALIASES.get(name, name), 0.0) >= MIN_EMBEDDER_COSINE
