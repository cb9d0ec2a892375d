import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recsys import fuse as F

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw):
    n = draw(st.integers(0, 6))
    m = draw(st.integers(1, 12))
    ell = draw(arrays(np.float64, (n, m), elements=finite))
    neutral = draw(arrays(np.float64, (m,), elements=finite))
    pop = draw(arrays(np.float64, (m,), elements=st.floats(0, 1e6)))
    sim = draw(arrays(np.float64, (m,), elements=st.floats(-1, 1)))
    gamma = draw(st.floats(0.05, 1.0))
    return ell, neutral, pop, sim, gamma


def _run(ell, neutral, pop, sim, gamma, fusion, standardize, calibration="pmi"):
    s = F.normalise(F.calibrate(ell, neutral, calibration))
    w = F.history_weights(ell.shape[0], gamma)
    prior = F.log_prior(pop, pop.sum(), len(pop))
    return s, w, prior, F.fuse(s, w, fusion, alpha=1.3, prior=prior, beta=0.7, similarity=sim, lam=0.5,
                                standardize=standardize)


@settings(max_examples=200, deadline=None)
@given(problems(), st.sampled_from(["product", "mixture"]), st.booleans())
def test_parts_sum_exactly_to_the_score(problem, fusion, standardize):
    *_, fused = _run(*problem, fusion, standardize)
    assert np.allclose(fused.parts.sum(axis=1), fused.scores, atol=1e-9)
    assert np.all(np.isfinite(fused.scores))


@settings(max_examples=200, deadline=None)
@given(problems(), st.sampled_from(["product", "mixture"]), st.booleans())
def test_scores_match_the_formula_computed_independently(problem, fusion, standardize):
    ell, neutral, pop, sim, gamma = problem
    s, w, prior, fused = _run(*problem, fusion, standardize)
    if s.shape[0]:
        lm = (w[:, None] * s).sum(0) if fusion == "product" else np.log((w[:, None] * np.exp(s)).sum(0))
    else:
        lm = np.zeros(s.shape[1])

    def z(x):
        return (x - x.mean()) / (x.std() if x.std() > 1e-12 else 1.0) if standardize else x

    expected = 1.3 * z(lm) * (s.shape[0] > 0) + 0.7 * z(prior) + 0.5 * z(sim)
    assert np.allclose(fused.scores, expected, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(0, 5), finite, st.sampled_from(["product", "mixture"]))
def test_a_constant_added_to_one_history_row_changes_nothing(problem, row, const, fusion):
    ell, neutral, pop, sim, gamma = problem
    if ell.shape[0] == 0:
        return
    row %= ell.shape[0]
    shifted = ell.copy()
    shifted[row] += const
    a = _run(ell, neutral, pop, sim, gamma, fusion, True)[3]
    b = _run(shifted, neutral, pop, sim, gamma, fusion, True)[3]
    assert np.allclose(a.scores, b.scores, atol=1e-6)
    assert np.allclose(a.parts, b.parts, atol=1e-6)


@given(st.integers(0, 30), st.floats(0.01, 1.0))
def test_history_weights_sum_to_one_and_favour_recent_items(n, gamma):
    w = F.history_weights(n, gamma)
    assert len(w) == n
    if n:
        assert w.sum() == pytest.approx(1.0)
        assert np.all(np.diff(w) >= -1e-15)  # oldest first, newest weighs most


def test_emphasis_multiplies_a_weight_and_zero_emphasis_everywhere_falls_back_to_uniform():
    w = F.history_weights(3, 1.0, np.array([1.0, 3.0, 1.0]))
    assert w == pytest.approx([0.2, 0.6, 0.2])
    assert F.history_weights(2, 0.5, np.array([0.0, 0.0])) == pytest.approx([0.5, 0.5])


def test_normalise_gives_a_distribution_over_candidates():
    s = F.normalise(np.array([[1.0, 2.0, 3.0], [-1000.0, -1001.0, -999.0]]))
    assert np.exp(s).sum(axis=1) == pytest.approx([1.0, 1.0])


def test_pmi_subtracts_the_neutral_score_and_raw_keeps_ell():
    ell, neutral = np.array([[-5.0, -6.0]]), np.array([-4.0, -8.0])
    assert F.calibrate(ell, neutral, "pmi").tolist() == [[-1.0, 2.0]]
    assert F.calibrate(ell, None, "raw") is ell
    with pytest.raises(ValueError):
        F.calibrate(ell, None, "pmi")


def test_prior_is_smoothed_and_ignores_nan_and_inf():
    lp = F.log_prior(np.array([0.0, 9.0, np.nan, np.inf]), total=9.0, n_items=4)
    assert np.all(np.isfinite(lp))
    assert lp[1] > lp[0] == lp[2] == lp[3]


def test_empty_prior_and_no_similarity_leave_only_the_lm_parts():
    s = F.normalise(np.array([[0.0, 1.0, 2.0]]))
    fused = F.fuse(s, np.array([1.0]), "product", prior=None, similarity=None, beta=1, lam=1)
    assert np.all(fused.parts[:, 1:] == 0)
    assert np.argmax(fused.scores) == 2


def test_mixture_parts_are_split_by_responsibility():
    s = F.normalise(np.array([[0.0, 5.0], [5.0, 0.0]]))
    fused = F.fuse(s, np.array([0.5, 0.5]), "mixture", standardize=False)
    # candidate 1 is explained mostly by history item 0 (where it scored high)
    assert fused.parts[1, 0] / fused.scores[1] > 0.9


def test_one_candidate_has_a_finite_zero_score_when_standardised():
    fused = F.fuse(np.zeros((2, 1)), np.array([0.5, 0.5]), "product", prior=np.array([-3.0]), beta=1.0)
    assert fused.scores.tolist() == [0.0]
