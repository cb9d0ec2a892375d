"""What a rater reviews on the Review page: scenarios (a named history) and the configurations compared.

A scenario id says where its history comes from and is stable across reloads and raters:
`example:<dataset>:<n>` (the n-th named example history), `session:<id>` (a saved Recommend session) or
`user:<dataset>:<user id>` (a user's history in an imported log, last 10 items before the held-out target).
No Streamlit here.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from ..catalog import Catalog, example_histories
from ..config import ScoringConfig
from ..errors import RecsysError
from ..store import Store

USER_HISTORY = 10

PRESETS: dict[str, ScoringConfig] = {
    "LM + prior + similarity (default)": ScoringConfig(),
    "LM only": ScoringConfig(beta=0.0, lam=0.0),
    "Embeddings + prior (no LM)": ScoringConfig(alpha=0.0),
    "Embeddings only": ScoringConfig(alpha=0.0, beta=0.0),
    "Popularity only": ScoringConfig(alpha=0.0, lam=0.0),
    "Gemma 3 270M, LM + prior + similarity": ScoringConfig(model="gemma3-270m"),
}
CURRENT = "The Recommend page's current settings"


@dataclass(frozen=True)
class Scenario:
    id: str
    label: str
    dataset: str
    history: tuple[str, ...]
    target: str | None = None  # the held-out next item of a dataset user (not shown to the rater)


def example_scenarios(catalog: Catalog) -> list[Scenario]:
    out = []
    for d in catalog.datasets():
        for n, ex in enumerate(example_histories(d.name)):
            out.append(Scenario(f"example:{d.name}:{n}", f"{d.name}: {ex['name']}", d.name, tuple(ex["history"])))
    return out


def session_scenarios(catalog: Catalog, store: Store, limit: int = 50) -> list[Scenario]:
    out = []
    for s in store.sessions(limit=limit):
        items = catalog.get_items(s["history"])
        if not items:
            continue
        dataset = s["settings"].get("dataset") or next(iter(items.values())).dataset
        last = items.get(s["history"][-1])
        when = s["created"][:16].replace("T", " ")
        label = f"{when} · {dataset} · {len(s['history'])} items, last “{last.title if last else s['history'][-1]}”"
        out.append(Scenario(f"session:{s['id']}", label, dataset, tuple(s["history"])))
    return out


def log_datasets(catalog: Catalog) -> list[str]:
    """Datasets with users (an interaction log or sequences) to draw scenarios from."""
    return [d.name for d in catalog.datasets() if d.interactions or d.sequences]


def user_scenario(catalog: Catalog, dataset: str, user_id: str | None = None, seed: int | None = None) -> Scenario:
    """A user's test-split history (user_id given), or a random user's (seeded)."""
    from ..datasets import eval_samples

    samples = eval_samples(catalog.db, dataset, max_history=USER_HISTORY)
    if user_id is None:
        pool = list(samples)
        if not pool:
            raise RecsysError(f"dataset {dataset!r} has no user with a history to review")
        sample = random.Random(seed).choice(pool)
    else:
        sample = next((s for s in samples if s.user_id == user_id), None)
        if sample is None:
            raise RecsysError(f"user {user_id!r} has no history in dataset {dataset!r}")
    return Scenario(f"user:{dataset}:{sample.user_id}", f"{dataset}: user {sample.user_id}", dataset,
                    tuple(sample.history), sample.target)


def resolve(catalog: Catalog, store: Store, scenario_id: str) -> Scenario:
    """The scenario an id names; RecsysError when it no longer exists."""
    kind, _, rest = scenario_id.partition(":")
    if kind == "example":
        dataset, _, n = rest.rpartition(":")
        examples = example_histories(dataset)
        if n.isdigit() and int(n) < len(examples):
            ex = examples[int(n)]
            return Scenario(scenario_id, f"{dataset}: {ex['name']}", dataset, tuple(ex["history"]))
    elif kind == "session":
        for s in session_scenarios(catalog, store, limit=10_000):
            if s.id == scenario_id:
                return s
    elif kind == "user":
        dataset, _, user = rest.partition(":")
        return user_scenario(catalog, dataset, user)
    raise RecsysError(f"scenario {scenario_id!r} is not available in this database")


def a_is_x(rater: str, scenario_id: str, x_key: str, y_key: str) -> bool:
    """Which configuration is shown as list A: random per rater and scenario, the same on every reload."""
    first, second = sorted((x_key, y_key))
    flip = random.Random(f"{rater}|{scenario_id}|{first}|{second}").random() < 0.5
    return (x_key == first) != flip


def pair_token(x: str, y: str) -> str:
    """The two configurations of a comparison as an opaque link token (names never appear in the address bar)."""
    return hashlib.sha256(f"{x}\x00{y}".encode()).hexdigest()[:12]


def pair_from_token(token: str, names: list[str]) -> tuple[str, str] | None:
    """The (x, y) pair of configuration names a token stands for, or None."""
    token = str(token or "").strip()
    if not token:
        return None
    return next(((x, y) for x in names for y in names if pair_token(x, y) == token), None)
