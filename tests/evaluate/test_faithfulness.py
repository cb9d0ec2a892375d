"""The faithfulness measurement on a tiny log (fake models isolate the bookkeeping; the figures in docs/ come from
the real models): every removal is a real pipeline run, and the per-item attribution predicts them."""
from __future__ import annotations

import json

import pytest

from recsys.config import ScoringConfig
from recsys.evaluate.faithfulness import FaithSpec, markdown, run_faithfulness, summary
from recsys.evaluate.protocols import build


@pytest.fixture
def result(log_catalog, fake_models):
    return run_faithfulness(log_catalog, FaithSpec(dataset="toy", limit_users=8, history=6, top=3, n_boot=200,
                                                   config=ScoringConfig(max_history=3)), fake_models)


def test_every_history_item_is_removed_once_per_user(result, log_catalog):
    lengths = [min(6, len(c.history)) for c in build(log_catalog.db, "toy", limit_users=8).cases]
    assert result["users"] == 8 and result["cost"]["pipeline_runs"] == sum(1 + n for n in lengths)
    assert result["correlation"]["per-item"]["pairs"] == 3 * sum(lengths)
    json.dumps(result)  # a JSON document


def test_the_per_item_attribution_predicts_what_a_removal_does(result):
    d = result["deletion"]["per-item"]
    assert d["largest"]["score_drop"]["mean"] > d["random"]["score_drop"]["mean"] > d["smallest"]["score_drop"]["mean"]
    assert result["correlation"]["per-item"]["pearson"] > result["correlation"]["lm-only"]["pearson"]
    assert result["correlation"]["per-item"]["pearson"] > 0.3


def test_report_and_summary_name_both_attributions(result):
    text = markdown(result)
    assert "| per-item | largest part |" in text and "| lm-only | smallest part |" in text and "Pearson" in text
    table = summary([result, result]).splitlines()
    assert len(table) == 2 + 2 * 2 and table[2].startswith("| toy (8) | per-item |")
