import math

import numpy as np
import pytest

from recsys.config import ScoringConfig
from recsys.errors import ConfigError, EmptyCandidatesError, ModelLoadError, RecsysError, UnknownItemsError
from recsys.recommend import recommend
from recsys.types import LM, PRIOR, SIMILARITY, Query, history_key

CFG = ScoringConfig(n_candidates=5, n_popular=2)


def test_recommendations_explain_themselves_exactly(catalog, fake_models):
    result = recommend(catalog, Query(history=("m:toy-story", "m:shrek"), config=CFG, top=10), fake_models)
    assert result.recommendations and result.model == CFG.model
    for r in result.recommendations:
        names = [c.name for c in r.contributions]
        assert names == [history_key("m:toy-story"), history_key("m:shrek"), PRIOR]
        assert math.isclose(sum(c.value for c in r.contributions), r.score, abs_tol=1e-9)
        for c in r.contributions[:2]:  # each history item's part is its LM part plus its similarity part
            assert [t for t, _ in c.terms] == [LM, SIMILARITY] and c.term(SIMILARITY) != 0
            assert math.isclose(c.term(LM) + c.term(SIMILARITY), c.value, abs_tol=1e-12)
    scores = [r.score for r in result.recommendations]
    assert scores == sorted(scores, reverse=True)
    assert sum(result.weights) == pytest.approx(1.0) and result.weights[1] > result.weights[0]


def test_history_items_never_appear(catalog, fake_models):
    hist = ("m:toy-story", "m:up")
    for candidates in (None, ("m:toy-story", "m:heat", "m:up", "m:alien")):
        result = recommend(catalog, Query(history=hist, config=CFG, candidates=candidates, top=20), fake_models)
        assert not {r.item.id for r in result.recommendations} & set(hist)


def test_retrieval_adds_popular_items_and_respects_exclusions(catalog, fake_models):
    cfg = ScoringConfig(n_candidates=2, n_popular=2)
    result = recommend(catalog, Query(history=("m:heat",), config=cfg, top=20, exclude=("m:toy-story",)), fake_models)
    ids = {r.item.id for r in result.recommendations}
    assert result.candidates_considered == 4 and "m:toy-story" not in ids
    assert "m:finding-nemo" in ids  # the most popular item left


def test_unknown_ids_are_named(catalog, fake_models):
    with pytest.raises(UnknownItemsError, match="m:nope"):
        recommend(catalog, Query(history=("m:up", "m:nope")), fake_models)
    with pytest.raises(UnknownItemsError, match="zzz"):
        recommend(catalog, Query(history=("m:up",), candidates=("m:heat", "zzz")), fake_models)


def test_empty_history_falls_back_to_the_prior_and_says_so(catalog, fake_models):
    result = recommend(catalog, Query(history=(), dataset="m", config=CFG, top=3), fake_models)
    assert [r.item.id for r in result.recommendations] == ["m:toy-story", "m:finding-nemo", "m:shrek"]
    assert any("empty history" in n for n in result.notes)
    assert all([c.name for c in r.contributions] == [PRIOR] for r in result.recommendations)
    assert fake_models.fake.calls == 0
    with pytest.raises(RecsysError, match="dataset"):
        recommend(catalog, Query(history=()), fake_models)


def test_empty_and_one_item_candidate_sets(catalog, fake_models):
    with pytest.raises(EmptyCandidatesError):
        recommend(catalog, Query(history=("m:up",), candidates=("m:up",)), fake_models)
    with pytest.raises(EmptyCandidatesError):
        recommend(catalog, Query(history=("m:up",), candidates=()), fake_models)
    one = recommend(catalog, Query(history=("m:up",), candidates=("m:heat",)), fake_models)
    assert [r.item.id for r in one.recommendations] == ["m:heat"] and math.isfinite(one.recommendations[0].score)
    assert any("one candidate" in n for n in one.notes)


def test_duplicate_candidates_are_ranked_once(catalog, fake_models):
    result = recommend(catalog, Query(history=("m:up",), candidates=("m:heat", "m:heat", "m:alien")), fake_models)
    assert [r.item.id for r in result.recommendations].count("m:heat") == 1
    assert any("duplicate" in n for n in result.notes)


def test_a_repeated_request_skips_the_model(catalog, fake_models):
    q = Query(history=("m:up", "m:alien"), config=CFG)
    first = recommend(catalog, q, fake_models)
    calls = fake_models.fake.calls
    second = recommend(catalog, q, fake_models)
    assert fake_models.fake.calls == calls and second.pairs_computed == 0 and first.pairs_computed > 0
    assert [r.score for r in first.recommendations] == [r.score for r in second.recommendations]


def test_the_lm_uses_only_the_most_recent_items(catalog, fake_models):
    cfg = CFG.with_(max_history=2)
    result = recommend(catalog, Query(history=("m:up", "m:heat", "m:alien"), config=cfg), fake_models)
    assert result.conditional_history == ("m:heat", "m:alien")
    assert result.weights[0] == 0 and len(result.conditional) == 2
    assert len(result.conditional[0]) == len(result.recommendations)


def test_emphasis_raises_an_items_weight(catalog, fake_models):
    result = recommend(catalog, Query(history=("m:up", "m:heat"), config=CFG, emphasis={"m:up": 5.0}), fake_models)
    assert result.weights[0] > result.weights[1]


def test_alpha_zero_means_no_language_model(catalog, fake_models):
    result = recommend(catalog, Query(history=("m:up",), config=CFG.with_(alpha=0)), fake_models)
    assert fake_models.fake.calls == 0 and result.model == ""


def test_a_model_that_fails_to_load_raises_or_falls_back(catalog, fake_models, monkeypatch):
    def broken(name):
        raise ModelLoadError(f"could not load language model {name!r}")

    monkeypatch.setattr(fake_models, "lm", broken)
    q = Query(history=("m:up",), config=CFG)
    with pytest.raises(ModelLoadError):
        recommend(catalog, q, fake_models)
    result = recommend(catalog, q, fake_models, fallback=True)
    assert result.recommendations and result.model == ""
    assert any("language model unavailable" in n for n in result.notes)
    assert all(c.term(LM) == 0 for r in result.recommendations for c in r.contributions)


def test_mixed_datasets_are_refused(catalog, fake_models):
    from recsys.catalog import make_item

    catalog.add_items([make_item({"id": "o:1", "title": "Other"}, "o", "music")])
    with pytest.raises(RecsysError, match="mixes datasets"):
        recommend(catalog, Query(history=("m:up", "o:1")), fake_models)


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="fusion"):
        ScoringConfig(fusion="sum")
    with pytest.raises(ConfigError, match="gamma"):
        ScoringConfig(gamma=0)


def test_result_json_shape(catalog, fake_models):
    d = recommend(catalog, Query(history=("m:up",), config=CFG, top=3), fake_models).to_dict()
    assert set(d) >= {"model", "items", "timings"}
    for item in d["items"]:
        assert set(item) >= {"item_id", "title", "score", "contributions", "breakdown"}
        assert sum(item["contributions"].values()) == pytest.approx(item["score"])
        assert set(item["breakdown"]) == {"history:m:up"} and set(item["breakdown"]["history:m:up"]) == {LM, SIMILARITY}
        assert sum(item["breakdown"]["history:m:up"].values()) == pytest.approx(item["contributions"]["history:m:up"])
    assert d["timings"]["total"] >= d["timings"]["lm"]
    np.testing.assert_equal(len(d["conditional"]["values"]), 1)


@pytest.mark.parametrize("field, value", [("alpha", float("nan")), ("beta", float("inf")), ("lam", -1.0),
                                          ("gamma", float("nan"))])
def test_non_finite_weights_are_refused_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        ScoringConfig(**{field: value})


def test_a_model_name_that_is_no_folder_and_no_hub_id_fails_at_once():
    import time

    from recsys.models import resolve

    start = time.perf_counter()
    for name in ("no-such-model", "./missing/folder", "a/b/c"):
        with pytest.raises(ModelLoadError, match="unknown model"):
            resolve(name)
    assert time.perf_counter() - start < 1.0
