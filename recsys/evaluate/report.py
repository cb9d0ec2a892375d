"""An `EvalResult` as Markdown: the metric table with intervals, the seed's metrics, paired differences, settings."""
from __future__ import annotations

import math

from .metrics import KS, SEED_METRICS


def _f(v, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _s(v, digits: int = 1) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:+.{digits}f}"


def _ci(m, key: str) -> str:
    lo, hi = m.ci95.get(key, (float("nan"), float("nan")))
    return f"{_f(m.metrics.get(key))} [{_f(lo, 1)}, {_f(hi, 1)}]"


def metric_table(result) -> list[str]:
    head = ["method", "NDCG@10 [95% CI]", *(f"NDCG@{k}" for k in KS if k != 10), *(f"HR@{k}" for k in KS),
            "MRR [95% CI]", "ROC-AUC", "PR-AUC"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in result.methods.items():
        row = [f"`{name}`", _ci(m, "ndcg@10"), *(_f(m.metrics.get(f"ndcg@{k}")) for k in KS if k != 10),
               *(_f(m.metrics.get(f"hr@{k}")) for k in KS), _ci(m, "mrr"), _f(m.metrics.get("roc_auc"), 3),
               _f(m.metrics.get("pr_auc"), 3)]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def seed_table(result) -> list[str]:
    head = ["method", *(k.replace("precision", "P").replace("recall", "R").replace("f1", "F1") for k in SEED_METRICS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in result.methods.items():
        lines.append("| " + " | ".join([f"`{name}`", *(_f(m.metrics.get(k)) for k in SEED_METRICS)]) + " |")
    return lines


def comparison_table(result) -> list[str]:
    lines = ["| a − b (same users) | ΔNDCG@10 [95% CI] | ΔHR@10 [95% CI] | ΔMRR [95% CI] | NDCG@10 beyond the interval |",
             "|---|---|---|---|---|"]
    for pair, d in result.comparisons.items():
        cells = [f"{_s(v[0], 2)} [{_s(v[1])}, {_s(v[2])}]" for v in (d["ndcg@10"], d["hr@10"], d["mrr"])]
        lo, hi = d["ndcg@10"][1], d["ndcg@10"][2]
        verdict = "–" if lo is None or hi is None else "yes, a better" if lo > 0 else "yes, b better" if hi < 0 else "no"
        lines.append(f"| `{pair}` | " + " | ".join(cells) + f" | {verdict} |")
    return lines


def markdown(result) -> str:
    s, p = result.settings, result.settings.get("protocol", {})
    cfg = s.get("scoring", {})
    out = [f"# Evaluation: {result.spec.dataset}, protocol `{result.spec.protocol}` ({result.spec.split} split)", ""]
    out.append(f"- users: {result.users}; candidates: {p.get('candidates')} (negatives: {p.get('negatives', 'unseen')}; "
               f"a list without its target: {p.get('missing_target', 'inject')}); seed {result.spec.seed}; "
               f"history: last {p.get('history_items')} items (the LM reads the last {s.get('lm_history_items')})")
    unit = s.get("bootstrap", {}).get("unit", "user")
    if unit != "user":
        out.append(f"- intervals resample {p.get('bootstrap_units')} {unit}s, not the {result.users} samples")
    if any(m.startswith("lm") or m == "fused" for m in result.methods):
        out.append(f"- LM: `{cfg.get('model')}` (cache key `{s.get('model_cache_key')}`), template `{s.get('template')}`, "
                   f"calibration {cfg.get('calibration')}, fusion {cfg.get('fusion')}")
    out.append(f"- weights: α {cfg.get('alpha')}, β {cfg.get('beta')}, λ {cfg.get('lam')}, γ {cfg.get('gamma')}, "
               f"standardised terms: {cfg.get('standardize')}; embedder `{cfg.get('embedder')}`")
    out.append(f"- tuned: {s.get('tuned')}")
    out.append(f"- time: {result.timings.get('total_s')} s in all, {result.timings.get('per_user_s')} s per user, "
               f"{result.timings.get('lm_pairs_computed')} LM pairs computed (the rest came from the cache)")
    out += ["", "Metrics in percent (mean over users, bootstrap 95% interval); ROC/PR areas over all candidate scores "
                "pooled across users, the target as the positive.", ""]
    out += metric_table(result)
    out += ["", "## The seed's metrics: precision, recall and F1 at K (percent)", ""]
    out += seed_table(result)
    if result.comparisons:
        out += ["", "## Paired differences (points, paired bootstrap over the same users)", ""]
        out += comparison_table(result)
    out += ["", "## Methods", ""]
    out += [f"- `{n}`: {m.description}" for n, m in result.methods.items()]
    if result.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(out) + "\n"


def summary(results: list, methods: list[str] | None = None, metric: str = "ndcg@10") -> str:
    """One table across runs (e.g. one per dataset): a row per method, a column per run, `metric` [95% CI]."""
    methods = methods or list(dict.fromkeys(m for r in results for m in r.methods))
    models = {r.spec.config.model for r in results}
    heads = [f"{r.spec.dataset}{'' if r.spec.split == 'test' else ' ' + r.spec.split}"
             f"{'' if r.spec.protocol == 'llmrank20' else ' ' + r.spec.protocol} ({r.users} users"
             f"{', ' + r.spec.config.model if len(models) > 1 else ''})" for r in results]
    lines = ["| method | " + " | ".join(heads) + " |", "|---|" + "---|" * len(results)]
    for name in methods:
        cells = [_ci(r.methods[name], metric) if name in r.methods else "–" for r in results]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
