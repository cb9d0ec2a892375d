"""Offline evaluation: protocols (LLMRank-20, full ranking), metrics with bootstrap intervals, baselines and LM
variants built from the engine, the evaluation loop and its stored results (protocols and published figures: docs/results.md).

For the app: `run_evaluation(catalog, EvalSpec(...), progress=callback)` returns an `EvalResult`;
`list_evaluations` / `load_evaluation` read stored ones back; `roc_figure` / `pr_figure` draw them.
"""
from .methods import DEFAULT_METHODS, GROUPS, Method, resolve
from .protocols import PROTOCOLS, Case, EvalSet, build
from .run import (ANCHORS, EvalResult, EvalSpec, MethodResult, StoredEvaluation, list_evaluations, load_evaluation,
                  run_evaluation, store)

__all__ = [
    "ANCHORS", "DEFAULT_METHODS", "GROUPS", "PROTOCOLS", "Case", "EvalResult", "EvalSet", "EvalSpec", "Method",
    "MethodResult", "StoredEvaluation", "build", "list_evaluations", "load_evaluation", "resolve", "run_evaluation",
    "store",
]
