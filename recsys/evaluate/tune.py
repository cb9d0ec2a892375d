"""Tuning the fusion on a validation split: a grid over `ScoringConfig` fields, every point scored on the same
validation users and candidates. Refuses the test split, so reported test numbers never chose their own settings.

The LM pairs come from the cache after the first grid point; points that differ only in weights, calibration,
fusion, γ or fewer history items cost no LM work at all.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, fields

from ..catalog import Catalog
from ..config import ScoringConfig
from ..errors import ConfigError

from .run import EvalSpec, build_eval_set, run_evaluation

TUNABLE = {f.name: f.type for f in fields(ScoringConfig)}

def parse_grid(text: str) -> dict[str, list]:
    """'alpha=0.5,1 beta=0,1,2; calibration=raw,pmi' -> {'alpha': [0.5, 1.0], ...}, typed like ScoringConfig."""
    defaults = ScoringConfig()
    grid: dict[str, list] = {}
    for part in text.replace(";", " ").split():
        name, _, values = part.partition("=")
        if name not in TUNABLE or not values:
            raise ConfigError(f"grid entries are field=v1,v2 with a ScoringConfig field; got {part!r} "
                              f"(fields: {', '.join(TUNABLE)})")
        kind = type(getattr(defaults, name))
        try:
            grid[name] = [(v.lower() in ("1", "true", "yes")) if kind is bool else kind(v) for v in values.split(",")]
        except ValueError as e:
            raise ConfigError(f"bad value in {part!r}: {e}") from None
    if not grid:
        raise ConfigError("an empty grid")
    return grid

@dataclass(frozen=True)
class GridPoint:
    changes: dict
    metrics: dict[str, dict[str, float]]  # method -> {"ndcg@10": ..., "hr@10": ..., "mrr": ...}

def tune(catalog: Catalog, spec: EvalSpec, grid: dict[str, list], models=None, metric: str = "ndcg@10",
         show_progress: bool = False) -> list[GridPoint]:
    """Every grid point on the validation users, best first by `metric` of the spec's first method."""
    if spec.split != "valid":
        raise ConfigError("tuning runs on the validation split only (--split valid): test targets never choose "
                          "the settings they are reported with")
    eval_set = build_eval_set(catalog, spec)
    names = list(grid)
    points = []
    memo: dict = {}
    # the costliest point first (most history items): every later point finds its LM pairs in the cache
    combos = sorted(itertools.product(*(grid[n] for n in names)),
                    key=lambda c: -dict(zip(names, c)).get("max_history", 0))
    # without the LM term (alpha 0) calibration, fusion and history items change nothing: one point is enough
    seen, unique = set(), []
    for combo in combos:
        changes = dict(zip(names, combo))
        if changes.get("alpha", spec.config.alpha) == 0:
            changes.update({n: grid[n][0] for n in ("calibration", "fusion", "max_history") if n in grid})
        key = tuple(changes.items())
        if key not in seen:
            seen.add(key)
            unique.append(tuple(changes.values()))
    combos = unique
    for k, combo in enumerate(combos):
        changes = dict(zip(names, combo))
        config = spec.config.with_(**changes)
        result = run_evaluation(catalog, EvalSpec(**{**spec.__dict__, "config": config, "n_boot": 0}), models,
                                show_progress=show_progress and k == 0, eval_set=eval_set, ell_memo=memo)
        points.append(GridPoint(changes, {n: {m: round(r.metrics[m], 3) for m in ("ndcg@10", "hr@10", "mrr")}
                                          for n, r in result.methods.items()}))
    first = next(iter(points[0].metrics)) if points else None
    return sorted(points, key=lambda p: -p.metrics[first][metric])

def tuned_methods(grid_doc: dict) -> tuple[list[str], str]:
    """From a saved grid (`--grid ... --json`): the best point of its first method and the best point without the
    LM term, as method names with their settings (`fused/alpha=.../...`, `embed+pop/beta=.../lam=...`), and a
    sentence saying where they were chosen."""
    points = grid_doc["points"]
    if not points:
        raise ConfigError("the grid file holds no points")
    first = next(iter(points[0]["metrics"]))

    def name(base: str, changes: dict, keep=None) -> str:
        return base + "".join(f"/{k}={v}" for k, v in changes.items() if keep is None or k in keep)

    best = max(points, key=lambda p: p["metrics"][first]["ndcg@10"])
    out = [name(first, best["changes"])]
    without = [p for p in points if p["changes"].get("alpha", 1) == 0]
    if without:
        b = max(without, key=lambda p: p["metrics"][first]["ndcg@10"])
        out.append(name("embed+pop", b["changes"], keep=("beta", "lam", "gamma", "standardize")))
    spec = grid_doc.get("spec", {})
    users = spec.get("limit_users") or spec.get("sample_users") or "all"
    return out, (f"{', '.join(out)}: the best grid points (NDCG@10) on {grid_doc['dataset']} {grid_doc['split']} "
                 f"targets ({users} users), grid `{grid_doc['grid']}`")
