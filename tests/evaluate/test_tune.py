"""Tuning on the validation split: the grid parser, the refusal to tune on test targets, and grid points that
mean what they say (α = 0 is embeddings + prior)."""
from __future__ import annotations

import pytest

from recsys.errors import ConfigError
from recsys.evaluate import EvalSpec
from recsys.evaluate.tune import parse_grid, tune


def test_parse_grid_types_values_like_the_config():
    g = parse_grid("alpha=0,0.5 max_history=3,5; calibration=raw,pmi standardize=true,false")
    assert g == {"alpha": [0.0, 0.5], "max_history": [3, 5], "calibration": ["raw", "pmi"],
                 "standardize": [True, False]}
    for bad in ("", "nope=1", "alpha", "alpha=x"):
        with pytest.raises(ConfigError):
            parse_grid(bad)


def test_tuning_refuses_the_test_split(log_catalog, fake_models):
    with pytest.raises(ConfigError, match="validation"):
        tune(log_catalog, EvalSpec(dataset="toy", split="test"), {"alpha": [1.0]}, fake_models)


def test_grid_points_on_the_validation_split(log_catalog, fake_models):
    spec = EvalSpec(dataset="toy", split="valid", methods=("fused", "embed+pop"))
    points = tune(log_catalog, spec, parse_grid("alpha=0,1 max_history=2,5"), fake_models)
    assert len(points) == 3  # without the LM term the history length changes nothing: one alpha-0 point
    assert sorted(p.changes["alpha"] for p in points) == [0.0, 1.0, 1.0]
    best = [p.metrics["fused"]["ndcg@10"] for p in points]
    assert best == sorted(best, reverse=True)
    for p in points:
        if p.changes["alpha"] == 0:  # no LM term: the full system is embeddings + prior
            assert p.metrics["fused"] == p.metrics["embed+pop"]


def test_tuned_methods_name_the_best_points():
    from recsys.evaluate.tune import tuned_methods

    doc = {"dataset": "toy", "split": "valid", "grid": "alpha=0,1 beta=1,2", "spec": {"limit_users": 9},
           "points": [{"changes": {"alpha": 1.0, "beta": 2.0}, "metrics": {"fused": {"ndcg@10": 50.0}}},
                      {"changes": {"alpha": 0.0, "beta": 1.0}, "metrics": {"fused": {"ndcg@10": 40.0}}},
                      {"changes": {"alpha": 0.0, "beta": 2.0}, "metrics": {"fused": {"ndcg@10": 45.0}}}]}
    names, said = tuned_methods(doc)
    assert names == ["fused/alpha=1.0/beta=2.0", "embed+pop/beta=2.0"]
    assert "toy valid targets (9 users)" in said
