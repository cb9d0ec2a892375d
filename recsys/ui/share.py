"""The Recommend page's state as URL query parameters, and back: a shared link reproduces the page.

Pure functions, no Streamlit: `to_params(state)` writes only what differs from the defaults;
`parse_params(params)` never raises — a malformed or unknown value becomes a readable warning and is ignored
(the default is kept). Values outside the ranges the page's widgets offer are refused the same way, and the model
must be one of the embedded ones, so a link can never make the server fetch a model.

    ?dataset=movies&history=movies:toy-story,movies:coco&fusion=mixture&beta=0.5
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config import ScoringConfig

LANGUAGE_MODELS = ("smollm2-135m", "gemma3-270m")
MAX_HISTORY_ITEMS = 50
MAX_ID_CHARS = 300
DEFAULT_TOP = 10
DEFAULT_EMPHASIS = 2.0

# (low, high) of every number the page lets a person set; the widgets use the same ranges.
RANGES: dict[str, tuple[float, float]] = {
    "gamma": (0.05, 1.0),
    "alpha": (0.0, 5.0),
    "beta": (0.0, 5.0),
    "lam": (0.0, 5.0),
    "n_candidates": (5, 200),
    "max_history": (1, 20),
    "top": (1, 50),
    "emphasis_weight": (1.0, 10.0),
}
FLOATS = ("gamma", "alpha", "beta", "lam")
INTS = ("n_candidates", "max_history")
CHOICES = {"fusion": ("product", "mixture"), "calibration": ("pmi", "raw"), "model": LANGUAGE_MODELS}
_DATASET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class PageState:
    """What the Recommend page shows: where from, the liked items (oldest first), and the settings."""

    dataset: str | None = None
    history: tuple[str, ...] = ()
    emphasis: str | None = None  # one history item weighted `emphasis_weight` times
    emphasis_weight: float = DEFAULT_EMPHASIS
    exclude: tuple[str, ...] = ()  # disliked items, never recommended again
    top: int = DEFAULT_TOP
    config: ScoringConfig = field(default_factory=ScoringConfig)


# -- id lists: comma-separated, with '\' escaping a comma or a backslash inside an id -----------------------------
def join_ids(ids) -> str:
    return ",".join(i.replace("\\", "\\\\").replace(",", "\\,") for i in ids)


def split_ids(text: str) -> list[str]:
    out, cur, escaped = [], [], False
    for ch in text:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [i.strip() for i in out if i.strip()]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def to_params(state: PageState) -> dict[str, str]:
    """The query parameters that reproduce `state` (defaults left out, so links stay short)."""
    out: dict[str, str] = {}
    if state.dataset:
        out["dataset"] = state.dataset
    if state.history:
        out["history"] = join_ids(state.history)
    if state.emphasis:
        out["emphasis"] = state.emphasis
        if state.emphasis_weight != DEFAULT_EMPHASIS:
            out["emphasis_weight"] = _number(state.emphasis_weight)
    if state.exclude:
        out["exclude"] = join_ids(state.exclude)
    if state.top != DEFAULT_TOP:
        out["top"] = str(state.top)
    default = ScoringConfig()
    for name in ("model", "fusion", "calibration", *FLOATS, *INTS):
        value = getattr(state.config, name)
        if value != getattr(default, name):
            out[name] = value if isinstance(value, str) else _number(value)
    if state.config.standardize != default.standardize:
        out["standardize"] = "1" if state.config.standardize else "0"
    return out


def _first(value) -> str:
    if isinstance(value, (list, tuple)):
        return str(value[-1]) if value else ""
    return str(value)


def parse_params(params: Mapping[str, object]) -> tuple[PageState, list[str]]:
    """(the page state a link describes, warnings about what in it was ignored). Unknown keys are left alone:
    they may belong to another page."""
    warnings: list[str] = []
    get = {k: _first(v) for k, v in params.items()}
    state: dict = {}

    dataset = get.get("dataset", get.get("domain"))
    if dataset is not None:
        if _DATASET.fullmatch(dataset):
            state["dataset"] = dataset
        else:
            warnings.append(f"the link's dataset {_clip(dataset)!r} is not a valid dataset name; ignored")

    for key in ("history", "exclude"):
        if key in get:
            ids = split_ids(get[key])
            long = [i for i in ids if len(i) > MAX_ID_CHARS]
            if long:
                warnings.append(f"{len(long)} item id(s) in the link's {key} are too long to be ids; ignored")
                ids = [i for i in ids if len(i) <= MAX_ID_CHARS]
            ids = list(dict.fromkeys(ids))
            if key == "history" and len(ids) > MAX_HISTORY_ITEMS:
                warnings.append(f"the link's history has {len(ids)} items; only the last {MAX_HISTORY_ITEMS} are kept")
                ids = ids[-MAX_HISTORY_ITEMS:]
            state[key] = tuple(ids)

    if "emphasis" in get:
        emphasis = get["emphasis"].strip()
        if emphasis and emphasis in state.get("history", ()):
            state["emphasis"] = emphasis
        elif emphasis:
            warnings.append(f"the emphasised item {_clip(emphasis)!r} is not in the link's history; ignored")
    for key, kind in (("emphasis_weight", float), ("top", int)):
        if key in get:
            value = _parse_number(key, get[key], kind, warnings)
            if value is not None:
                state[key] = value

    changes: dict = {}
    for name, allowed in CHOICES.items():
        if name in get:
            if get[name] in allowed:
                changes[name] = get[name]
            else:
                warnings.append(f"{name} {_clip(get[name])!r} is not one of {', '.join(allowed)}; the default is used")
    for name in FLOATS:
        if name in get:
            value = _parse_number(name, get[name], float, warnings)
            if value is not None:
                changes[name] = value
    for name in INTS:
        if name in get:
            value = _parse_number(name, get[name], int, warnings)
            if value is not None:
                changes[name] = value
    if "standardize" in get:
        flag = get["standardize"].strip().lower()
        if flag in _TRUE + _FALSE:
            changes["standardize"] = flag in _TRUE
        else:
            warnings.append(f"standardize {_clip(get['standardize'])!r} is not 1 or 0; the default is used")
    return PageState(config=ScoringConfig().with_(**changes), **state), warnings


def _parse_number(name: str, text: str, kind: type, warnings: list[str]):
    try:
        value = float(text.strip())
    except ValueError:
        warnings.append(f"{name} {_clip(text)!r} is not a number; the default is used")
        return None
    low, high = RANGES[name]
    if not math.isfinite(value) or not low <= value <= high:
        warnings.append(f"{name} {_clip(text)!r} is outside {_number(low)}–{_number(high)}; the default is used")
        return None
    if kind is int:
        if not value.is_integer():
            warnings.append(f"{name} {_clip(text)!r} is not a whole number; the default is used")
            return None
        return int(value)
    return value


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
