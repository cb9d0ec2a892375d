import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recsys import fuse as F
from recsys import stages
from recsys.embed import history_vector

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)


unit = st.floats(-1, 1, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw):
    """A history of 1-50 items whose last n_lm the LM read (0: the LM was down), M candidates, 8-d vectors."""
    n_hist = draw(st.integers(1, 50))
    n_lm = draw(st.integers(0, min(n_hist, 8)))
    m = draw(st.integers(1, 12))
    ell = draw(arrays(np.float64, (n_lm, m), elements=finite))
    neutral = draw(arrays(np.float64, (m,), elements=finite))
    pop = draw(arrays(np.float64, (m,), elements=st.floats(0, 1e6)))
    hist_vecs = draw(arrays(np.float64, (n_hist, 8), elements=unit))
    cand_vecs = draw(arrays(np.float64, (m, 8), elements=unit))
    gamma = draw(st.floats(0.05, 1.0))
    return ell, neutral, pop, hist_vecs, cand_vecs, gamma


def _run(ell, neutral, pop, hist_vecs, cand_vecs, gamma, fusion, standardize, calibration="pmi"):
    s = stages.lm_scores(ell, neutral, calibration)
    w = F.history_weights(ell.shape[0], gamma)
    w_all = F.history_weights(len(hist_vecs), gamma)
    prior = F.log_prior(pop, pop.sum(), len(pop))
    sim = stages.similarity(hist_vecs, w_all, cand_vecs)
    return s, w, prior, F.fuse(s, w, fusion, alpha=1.3, prior=prior, beta=0.7, similarity=sim, lam=0.5,
                                standardize=standardize)


@settings(max_examples=300, deadline=None)
@given(problems(), st.sampled_from(["product", "mixture"]), st.booleans())
def test_parts_per_history_item_and_the_prior_sum_exactly_to_the_score(problem, fusion, standardize):
    n_hist = len(problem[3])
    *_, fused = _run(*problem, fusion, standardize)
    per_item = fused.per_item(n_hist)
    assert per_item.shape == (len(fused.scores), n_hist)
    assert np.allclose(per_item.sum(axis=1) + fused.prior, fused.scores, rtol=0, atol=1e-9)
    assert np.allclose(fused.lm.sum(axis=1) + fused.similarity.sum(axis=1) + fused.prior, fused.scores, atol=1e-9)
    # items older than the LM's window get only their similarity share
    old = n_hist - fused.lm.shape[1]
    assert np.array_equal(per_item[:, :old], fused.similarity[:, :old])
    assert np.all(np.isfinite(fused.scores)) and np.all(np.isfinite(per_item))


@settings(max_examples=200, deadline=None)
@given(problems(), st.sampled_from(["product", "mixture"]), st.booleans())
def test_scores_match_the_formula_computed_independently(problem, fusion, standardize):
    ell, neutral, pop, hist_vecs, cand_vecs, gamma = problem
    s, w, prior, fused = _run(*problem, fusion, standardize)
    if s.shape[0]:
        lm = (w[:, None] * s).sum(0) if fusion == "product" else np.log((w[:, None] * np.exp(s)).sum(0))
    else:
        lm = np.zeros(s.shape[1])
    v = (F.history_weights(len(hist_vecs), gamma)[:, None] * hist_vecs).sum(0)
    cos = cand_vecs @ (v / np.linalg.norm(v)) if np.linalg.norm(v) > 0 else np.zeros(len(cand_vecs))

    def z(x):
        constant = x.std() <= 1e-9 * max(1.0, np.abs(x).max())
        return (x - x.mean()) / (1.0 if constant else x.std()) if standardize else x

    expected = 1.3 * z(lm) * (s.shape[0] > 0) + 0.7 * z(prior) + 0.5 * z(cos)
    assert np.allclose(fused.scores, expected, atol=1e-6, rtol=1e-6)


def test_similarity_is_split_exactly_over_the_history_items():
    rng = np.random.default_rng(0)
    hist, cands = rng.normal(size=(4, 16)), rng.normal(size=(7, 16))
    hist /= np.linalg.norm(hist, axis=1, keepdims=True)
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)
    w = F.history_weights(4, 0.8)
    parts = stages.similarity(hist, w, cands)
    h = (w[:, None] * hist).sum(0)
    assert np.allclose(parts.sum(axis=0), cands @ (h / np.linalg.norm(h)), atol=1e-12)
    assert np.allclose(parts[2], w[2] * cands @ hist[2] / np.linalg.norm(h))  # item 2's own share


def test_the_ranking_is_the_one_a_single_similarity_term_gave():
    """Splitting the similarity per item changes the explanation, never the scores (same inputs, same order)."""
    rng = np.random.default_rng(5)
    hist, cands = rng.normal(size=(6, 32)).astype(np.float32), rng.normal(size=(20, 32)).astype(np.float32)
    hist /= np.linalg.norm(hist, axis=1, keepdims=True)
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)
    w = F.history_weights(6, 0.8)
    s = stages.lm_scores(rng.normal(size=(5, 20)), rng.normal(size=20), "pmi")
    prior = F.log_prior(rng.integers(0, 100, 20).astype(float), 1000, 50)
    before = F.fuse(s, w[1:] / w[1:].sum(), "product", 0.25, prior, 1.0, cands @ history_vector(hist, w), 1.0)
    after = F.fuse(s, w[1:] / w[1:].sum(), "product", 0.25, prior, 1.0, stages.similarity(hist, w, cands), 1.0)
    assert np.allclose(before.scores, after.scores, atol=1e-5)
    assert (np.argsort(-before.scores) == np.argsort(-after.scores)).all()


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(0, 5), finite, st.sampled_from(["product", "mixture"]))
def test_a_constant_added_to_one_history_row_changes_nothing(problem, row, const, fusion):
    ell, *rest = problem
    if ell.shape[0] == 0:
        return
    row %= ell.shape[0]
    shifted = ell.copy()
    shifted[row] += const
    a = _run(ell, *rest, fusion, True)[3]
    b = _run(shifted, *rest, fusion, True)[3]
    assert np.allclose(a.scores, b.scores, atol=1e-6)
    assert np.allclose(a.lm, b.lm, atol=1e-6)


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
    assert np.all(fused.prior == 0) and fused.similarity.shape == (3, 0)
    assert np.allclose(fused.lm[:, 0], fused.scores) and np.argmax(fused.scores) == 2


def test_mixture_parts_are_split_by_responsibility():
    s = F.normalise(np.array([[0.0, 5.0], [5.0, 0.0]]))
    fused = F.fuse(s, np.array([0.5, 0.5]), "mixture", standardize=False)
    # candidate 1 is explained mostly by history item 0 (where it scored high)
    assert fused.lm[1, 0] / fused.scores[1] > 0.9


def test_one_candidate_has_a_finite_zero_score_when_standardised():
    fused = F.fuse(np.zeros((2, 1)), np.array([0.5, 0.5]), "product", prior=np.array([-3.0]), beta=1.0)
    assert fused.scores.tolist() == [0.0]


def test_a_term_whose_spread_is_rounding_counts_as_constant():
    """An LM term of 2.08 ± 1e-10 (an old item with weight 1e-9 is the only difference) is noise: z-scoring it
    would magnify float rounding into a full-sized term."""
    lm = np.full(8, -2.0794415416798357)
    lm[0] += 6e-10
    fused = F.fuse(lm[None, :], np.ones(1), "product", alpha=1.3)
    assert np.allclose(fused.scores, 1.3 * (lm - lm.mean()), atol=1e-15)
