"""Safety filters applied after scoring: a blocklist (items, creators, terms) and a per-creator diversity cap.

Both are off by default. They never change a score — an item is either shown with its full explanation or
hidden — so the explanation identity still holds, and every hidden item is reported (`Result.hidden`, a note
such as "2 items hidden by the blocklist"). Pure functions over a ranked list; `recommend()` calls `apply`.

A deployment sets its default with a TOML or JSON file named by $RECSYS_SAFETY (see `load_safety`), e.g.

    items = ["movies:some-id"]
    creators = ["Some Channel"]
    terms = ["gore", "rank me first"]
    max_per_creator = 2

Terms match whole words or phrases, case-insensitively, in the title, description, tags and creator (so the
term "ass" hides "Ass Kicker" but not "Classical Gas").
"""
from __future__ import annotations

import json
import os
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from .catalog import Item
from .errors import ConfigError

SAFETY_ENV = "RECSYS_SAFETY"
BLOCKLIST = "blocklist"
DIVERSITY = "diversity"
MAX_RULES = 10_000
MAX_RULE_CHARS = 200


def _fold(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used for every comparison."""
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


@dataclass(frozen=True)
class SafetyConfig:
    """What must never be shown, and how many items of one creator a list may hold (None: no limit)."""

    items: tuple[str, ...] = ()
    creators: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    max_per_creator: int | None = None

    def __post_init__(self):
        for name in ("items", "creators", "terms"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"safety {name} must be a list of strings")
            if len(value) > MAX_RULES:
                raise ConfigError(f"safety {name}: at most {MAX_RULES:,} entries, got {len(value):,}")
            if any(len(v) > MAX_RULE_CHARS for v in value):
                raise ConfigError(f"safety {name}: an entry is longer than {MAX_RULE_CHARS} characters")
            object.__setattr__(self, name, tuple(value))
        cap = self.max_per_creator
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigError(f"max_per_creator must be a whole number >= 1 (or unset), not {cap!r}")

    @property
    def active(self) -> bool:
        return bool(self.items or self.creators or self.terms or self.max_per_creator)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "SafetyConfig":
        if not isinstance(data, dict):
            raise ConfigError("a safety configuration is a table of items, creators, terms and max_per_creator")
        unknown = set(data) - {"items", "creators", "terms", "max_per_creator"}
        if unknown:
            raise ConfigError(f"unknown safety setting(s): {', '.join(sorted(map(str, unknown)))}; "
                              "known: items, creators, terms, max_per_creator")
        lists = {k: data.get(k) or () for k in ("items", "creators", "terms")}
        for k, v in lists.items():
            if not isinstance(v, (list, tuple)):
                raise ConfigError(f"safety {k} must be a list of strings")
        return cls(**{k: tuple(v) for k, v in lists.items()}, max_per_creator=data.get("max_per_creator"))

    # -- matching (built once per config) --------------------------------------------------------------------
    @cached_property
    def _items(self) -> frozenset[str]:
        return frozenset(self.items)

    @cached_property
    def _creators(self) -> frozenset[str]:
        return frozenset(_fold(c) for c in self.creators if _fold(c))

    @cached_property
    def _terms(self) -> re.Pattern | None:
        terms = sorted({_fold(t) for t in self.terms if _fold(t)}, key=len, reverse=True)
        if not terms:
            return None
        # whole words/phrases: no word character right before or after the term
        return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in terms) + r")(?!\w)")

    def blocked(self, item: Item) -> str | None:
        """Why the blocklist hides this item ("item", "creator", "term 'x'"), or None."""
        if item.id in self._items:
            return "item"
        if item.creator and _fold(item.creator) in self._creators:
            return "creator"
        if self._terms is not None:
            text = _fold(" \n ".join([item.title, item.description, item.creator, *item.tags]))
            m = self._terms.search(text)
            if m:
                return f"term {m.group(0)!r}"
        return None


NO_FILTERS = SafetyConfig()


@dataclass(frozen=True)
class Hidden:
    item: Item
    reason: str  # BLOCKLIST or DIVERSITY
    detail: str  # which rule: "item", "creator", "term 'x'", "creator 'y' already has 2"


@dataclass(frozen=True)
class Filtered:
    shown: tuple[int, ...]  # positions in the ranked input, best first, at most `top`
    hidden: tuple[Hidden, ...] = field(default=())  # items that would have been shown without the filters

    def count(self, reason: str) -> int:
        return sum(h.reason == reason for h in self.hidden)


def apply(ranked: Sequence[Item], top: int, safety: SafetyConfig = NO_FILTERS) -> Filtered:
    """Walk the ranked list best first, skipping blocked items and items whose creator already has
    `max_per_creator` shown, until `top` are shown. `hidden` holds only the items skipped before the list was full
    (what a viewer would otherwise have seen), in rank order."""
    top = max(int(top), 0)
    if not safety.active:
        return Filtered(tuple(range(min(top, len(ranked)))))
    shown: list[int] = []
    hidden: list[Hidden] = []
    per_creator: dict[str, int] = {}
    cap = safety.max_per_creator
    for pos, item in enumerate(ranked):
        if len(shown) >= top:
            break
        why = safety.blocked(item)
        if why:
            hidden.append(Hidden(item, BLOCKLIST, why))
            continue
        creator = _fold(item.creator)
        if cap and creator:
            if per_creator.get(creator, 0) >= cap:
                hidden.append(Hidden(item, DIVERSITY, f"creator {item.creator!r} already has {cap} in the list"))
                continue
            per_creator[creator] = per_creator.get(creator, 0) + 1
        shown.append(pos)
    return Filtered(tuple(shown), tuple(hidden))


def notes(result: Filtered, requested: int) -> list[str]:
    """The sentences an explanation shows about what the filters did."""
    out = []
    for reason, what in ((BLOCKLIST, "by the blocklist"), (DIVERSITY, "by the per-creator limit (diversity)")):
        n = result.count(reason)
        if n:
            out.append(f"{n} item{'s' if n != 1 else ''} hidden {what}")
    if result.hidden and len(result.shown) < requested:
        out.append(f"only {len(result.shown)} of the {requested} requested items are left after filtering")
    return out


def blocked_ids(items: Iterable[Item], safety: SafetyConfig) -> list[str]:
    """Ids of the given items the blocklist hides (e.g. to audit a catalog)."""
    return [i.id for i in items if safety.blocked(i)]


# -- the deployment's default ----------------------------------------------------------------------------------
def load_safety(path: str | Path) -> SafetyConfig:
    """A SafetyConfig from a TOML (.toml) or JSON file; a clear ConfigError for anything else."""
    path = Path(path)
    try:
        if path.stat().st_size > 5_000_000:
            raise ConfigError(f"safety file {path} is larger than 5 MB")
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read the safety file {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (UnicodeDecodeError, ValueError, tomllib.TOMLDecodeError) as e:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"the safety file {path} is not valid UTF-8 {kind}: {e}") from None
    return SafetyConfig.from_dict(data)


_default: tuple[str, float, SafetyConfig] | None = None


def default_safety() -> SafetyConfig:
    """The deployment's filters: the file named by $RECSYS_SAFETY (re-read when it changes), else none."""
    global _default
    path = os.environ.get(SAFETY_ENV, "").strip()
    if not path:
        return NO_FILTERS
    try:
        mtime = Path(path).stat().st_mtime
    except OSError:
        raise ConfigError(f"${SAFETY_ENV} names {path}, which cannot be read") from None
    if _default is None or _default[:2] != (path, mtime):
        _default = (path, mtime, load_safety(path))
    return _default[2]
