"""Metric functions against cases computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from recsys.evaluate import metrics as M


def test_target_rank_counts_higher_scores_and_breaks_ties_by_position():
    assert M.target_rank(np.array([0.1, 0.5, 0.3]), 2) == 2
    assert M.target_rank(np.array([0.1, 0.5, 0.3]), 1) == 1
    ties = np.array([1.0, 1.0, 1.0])
    assert [M.target_rank(ties, t) for t in range(3)] == [1, 2, 3]
    assert M.target_rank(np.array([np.nan, 0.0, -1.0]), 0) == 3  # NaN ranks last
    assert M.target_rank(np.array([-np.inf, 2.0, 1.0]), 0) == 3  # outside a retrieved pool: behind all


def test_ndcg_hr_mrr_by_hand():
    ranks = np.array([1, 2, 3, 11])
    np.testing.assert_allclose(M.ndcg_at(ranks, 10), [1.0, 1 / math.log2(3), 0.5, 0.0])
    np.testing.assert_allclose(M.ndcg_at(ranks, 1), [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(M.hr_at(ranks, 2), [1, 1, 0, 0])
    np.testing.assert_allclose(M.reciprocal_rank(ranks), [1, 0.5, 1 / 3, 1 / 11])
    per = M.per_user(ranks)
    assert per["ndcg@10"].mean() == pytest.approx((1 + 1 / math.log2(3) + 0.5) / 4)
    assert per["hr@20"].mean() == 1.0 and per["hr@5"].mean() == 0.75


def test_precision_recall_f1_with_one_relevant_item():
    p, r, f1 = M.precision_recall_f1_at(np.array([3, 6]), 5)
    np.testing.assert_allclose(p, [0.2, 0.0])
    np.testing.assert_allclose(r, [1.0, 0.0])
    np.testing.assert_allclose(f1, [2 * 0.2 * 1 / 1.2, 0.0])  # 1/3


def test_roc_auc_is_the_fraction_of_correctly_ordered_pairs():
    scores, labels = np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0])
    # positives 0.9 and 0.7 against negatives 0.8 and 0.6: 3 of 4 pairs in order
    assert M.roc_curve(scores, labels).area == pytest.approx(0.75)
    assert M.roc_curve(np.array([1.0, 1.0]), np.array([1, 0])).area == pytest.approx(0.5)  # a tie counts half
    assert M.roc_curve(np.array([2.0, 1.0]), np.array([1, 0])).area == pytest.approx(1.0)
    assert math.isnan(M.roc_curve(np.array([1.0, 2.0]), np.array([1, 1])).area)  # no negatives: undefined


def test_pr_auc_is_average_precision():
    scores, labels = np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0])
    assert M.pr_curve(scores, labels).area == pytest.approx((1 + 2 / 3) / 2)
    assert M.pr_curve(np.array([1.0, 1.0]), np.array([1, 0])).area == pytest.approx(0.5)
    curve = M.pr_curve(np.array([-np.inf, 1.0, 0.5]), np.array([1, 0, 0]))  # -inf: last, still counted
    assert curve.area == pytest.approx(1 / 3)


def test_bootstrap_interval_has_the_width_of_the_standard_error_and_is_seeded():
    v = np.random.default_rng(0).random(300)
    lo, hi = M.bootstrap_ci(v, 2000, seed=3)
    expected = 2 * 1.96 * v.std() / np.sqrt(v.size)  # the normal interval of the mean
    assert hi - lo == pytest.approx(expected, rel=0.15)
    assert abs((lo + hi) / 2 - v.mean()) < 0.1 * expected
    assert M.bootstrap_ci(v, 2000, seed=3) == (lo, hi)
    assert M.bootstrap_ci(np.full(10, 0.4), 200) == pytest.approx((0.4, 0.4))


def test_grouped_bootstrap_resamples_whole_streams():
    """30 streams of 10 identical windows carry the information of 30 samples, not 300: the interval says so."""
    streams = np.random.default_rng(4).random(30)
    v, groups = np.repeat(streams, 10), np.repeat(np.arange(30), 10)
    naive = np.subtract(*M.bootstrap_ci(v, 2000, seed=1)[::-1])
    grouped = np.subtract(*M.bootstrap_ci(v, 2000, seed=1, groups=groups)[::-1])
    per_stream = np.subtract(*M.bootstrap_ci(streams, 2000, seed=1)[::-1])
    assert grouped == pytest.approx(per_stream, rel=0.15) and grouped > 2.5 * naive
    _, lo, hi = M.paired_difference(v, np.zeros_like(v), 2000, seed=1, groups=groups)
    assert hi - lo == pytest.approx(grouped, rel=0.15)


def test_paired_difference_of_identical_methods_is_zero_and_a_clear_gain_excludes_zero():
    a = np.random.default_rng(1).random(200)
    assert M.paired_difference(a, a) == (0.0, 0.0, 0.0)
    mean, lo, hi = M.paired_difference(a + 0.1, a)
    assert mean == pytest.approx(0.1) and lo > 0


def test_thin_keeps_ends_and_area():
    c = M.roc_curve(np.random.default_rng(2).random(5000), np.random.default_rng(3).random(5000) < 0.1)
    t = M.thin(c, 50)
    assert t.x.size <= 51 and t.x[0] == c.x[0] and t.x[-1] == c.x[-1] and t.area == c.area
