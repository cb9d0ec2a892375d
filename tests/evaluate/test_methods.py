"""The methods: the full system equals the product's `recommend()`, every method honours the scorer contract,
and all LM variants share one ℓ computation per user. Fake models isolate the logic; the slow test repeats the
equivalence with the real models."""
from __future__ import annotations

import numpy as np
import pytest

from recsys.config import ScoringConfig
from recsys.errors import ConfigError
from recsys.evaluate.methods import GROUPS, Context, Env, resolve
from recsys.datasets.streams import split_counts
from recsys.evaluate.protocols import build
from recsys.recommend import recommend
from recsys.types import Query


def _scores_by_recommend(catalog, models, case, cfg):
    result = recommend(catalog, Query(history=case.history, candidates=case.candidates, top=len(case.candidates),
                                      config=cfg, keep_history=True), models)
    by_id = {r.item.id: r.score for r in result.recommendations}
    return np.array([by_id[c] for c in case.candidates])


@pytest.mark.parametrize("cfg", [ScoringConfig(), ScoringConfig(fusion="mixture", calibration="raw", beta=0.5, lam=2.0),
                                 ScoringConfig(standardize=False, max_history=3, gamma=0.5)])
def test_fused_is_what_recommend_computes(log_catalog, fake_models, cfg):
    es = build(log_catalog.db, "toy", seed=0, limit_users=8)
    assert any(set(c.candidates) & set(c.history) for c in es.cases)  # LLMRank negatives: history items too
    env = Env(log_catalog, "toy", cfg, fake_models)
    fused = resolve("fused", cfg)[0]
    for case in es.cases:
        ctx = Context(env, case.user_id, case.history, env.idx(case.candidates))
        evaluated, served = fused.score(ctx), _scores_by_recommend(log_catalog, fake_models, case, cfg)
        np.testing.assert_allclose(evaluated, served, rtol=1e-9, atol=1e-9)
        assert (np.argsort(-evaluated, kind="stable") == np.argsort(-served, kind="stable")).all()


def test_every_method_gives_one_finite_score_per_candidate(log_catalog, seq_catalog, fake_models):
    for catalog, dataset in ((log_catalog, "toy"), (seq_catalog, "seq")):
        cfg = ScoringConfig()
        env = Env(catalog, dataset, cfg, fake_models)
        methods = resolve("all", cfg)
        assert len(methods) == len(GROUPS["all"])
        for case in build(catalog.db, dataset, seed=0, limit_users=4).cases:
            ctx = Context(env, case.user_id, case.history, env.idx(case.candidates))
            for m in methods:
                s = m.score(ctx)
                assert s.shape == (20,) and np.isfinite(s).all(), m.name


def test_lm_variants_share_one_lm_pass_per_user(log_catalog, fake_models):
    cfg = ScoringConfig()
    env = Env(log_catalog, "toy", cfg, fake_models)
    case = build(log_catalog.db, "toy", seed=0, limit_users=1).cases[0]
    ctx = Context(env, case.user_id, case.history, env.idx(case.candidates))
    for m in resolve("lm-all", cfg):
        m.score(ctx)
    assert fake_models.fake.calls == min(len(case.history), cfg.max_history) + 1  # history rows + the neutral row
    # the variants differ: calibration and fusion change the ranking
    scores = {m.name: m.score(ctx) for m in resolve("lm-all", cfg)}
    assert len({tuple(np.argsort(-s)) for s in scores.values()}) > 4


def test_baselines_read_what_they_claim(log_catalog, fake_models):
    cfg = ScoringConfig()
    env = Env(log_catalog, "toy", cfg, fake_models)
    case = build(log_catalog.db, "toy", seed=0, limit_users=1).cases[0]
    ctx = Context(env, case.user_id, case.history, env.idx(case.candidates))
    m = {x.name: x for x in resolve("baselines", cfg)}
    pops = np.array([log_catalog.get_items([c])[c].popularity for c in case.candidates])
    assert (np.argsort(-m["pop"].score(ctx), kind="stable") == np.argsort(-pops, kind="stable")).all()
    # bm25: every candidate of a genre the history holds outscores every candidate of another genre
    genre = {c: log_catalog.get_items([c])[c].tags[0] for c in (*case.history, *case.candidates)}
    liked = {genre[h] for h in case.history}
    bm = m["bm25"].score(ctx)
    shared = [bm[j] for j, c in enumerate(case.candidates) if genre[c] in liked]
    other = [bm[j] for j, c in enumerate(case.candidates) if genre[c] not in liked]
    assert shared and other and min(shared) > max(other)
    r1, r2 = m["random"].score(ctx), m["random"].score(ctx)
    assert (r1 == r2).all()  # seeded per user


def test_method_names(fake_models):
    cfg = ScoringConfig(calibration="raw", fusion="mixture")
    names = [m.name for m in resolve("random,fused,lm,random", cfg)]
    assert names == ["random", "fused", "lm"]
    fused = resolve("fused", cfg)[0]
    assert "lm-raw-mixture+pop+embed" in fused.description
    with pytest.raises(ConfigError):
        resolve("lm-pmi-sum", cfg)
    with pytest.raises(ConfigError):
        resolve("", cfg)


def test_retrieval_pool_matches_the_engine(log_catalog, fake_models):
    cfg = ScoringConfig(n_candidates=8, n_popular=3)
    env = Env(log_catalog, "toy", cfg, fake_models)
    case = build(log_catalog.db, "toy", "full", limit_users=1).cases[0]
    cand = np.array([k for k, i in enumerate(env.items) if i.id not in case.seen])
    ctx = Context(env, case.user_id, case.history, cand)
    pool = ctx.retrieval_pool(cfg.n_candidates, cfg.n_popular)
    ids = [env.items[cand[p]].id for p in pool]
    result = recommend(log_catalog, Query(history=case.history, config=cfg.with_(alpha=0.0), top=100), fake_models)
    engine = {r.item.id for r in result.recommendations}
    # the engine excludes only the history it is given (the last 50 items); the protocol excludes every seen item
    assert len(ids) == 11 and set(ids) == engine


@pytest.mark.slow
def test_fused_equals_recommend_with_the_real_models(log_catalog, real_models):
    cfg = ScoringConfig()
    es = build(log_catalog.db, "toy", seed=0, limit_users=2)
    env = Env(log_catalog, "toy", cfg, real_models)
    fused = resolve("fused", cfg)[0]
    for case in es.cases:
        ctx = Context(env, case.user_id, case.history, env.idx(case.candidates))
        np.testing.assert_allclose(fused.score(ctx), _scores_by_recommend(log_catalog, real_models, case, cfg),
                                   rtol=1e-6, atol=1e-6)


def test_method_overrides_equal_a_run_with_those_settings(log_catalog, fake_models):
    cfg = ScoringConfig()
    case = build(log_catalog.db, "toy", seed=0, limit_users=3).cases[2]
    env = Env(log_catalog, "toy", cfg, fake_models)
    ctx = Context(env, case.user_id, case.history, env.idx(case.candidates))
    resolve("fused", cfg)[0].score(ctx)
    calls = fake_models.fake.calls
    # weights, calibration, fusion and fewer history items reuse the run's ℓ rows: no LM call
    for name in ("fused/max_history=2", "fused/alpha=0.5/calibration=raw", "lm-raw-mixture/max_history=1"):
        resolve(name, cfg)[0].score(ctx)
    assert fake_models.fake.calls == calls
    for changes in ({"alpha": 0.5, "beta": 2.0}, {"max_history": 3, "fusion": "mixture"}, {"gamma": 0.5},
                    {"calibration": "raw", "lam": 0.0, "standardize": False}):
        name = "fused/" + "/".join(f"{k}={v}" for k, v in changes.items())
        got = resolve(name, cfg)[0].score(ctx)
        other = Env(log_catalog, "toy", cfg.with_(**changes), fake_models)
        want = resolve("fused", other.config)[0].score(Context(other, case.user_id, case.history,
                                                               other.idx(case.candidates)))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert resolve("fused/alpha=0", cfg)[0].score(ctx) == pytest.approx(resolve("embed+pop", cfg)[0].score(ctx))
    for bad in ("fused/model=x", "fused/alpha=-1", "fused/alpha", "embed+pop/beta=two", "lm-raw-product/fusion=mixture"):
        with pytest.raises(ConfigError):
            resolve(bad, cfg)


def test_a_validation_run_reads_the_prior_of_the_validation_split(log_catalog, fake_models):
    """Tuning on validation targets must not see them in the prior: each user's last two events are left out."""
    valid = Env(log_catalog, "toy", ScoringConfig(), fake_models, split="valid")
    test = Env(log_catalog, "toy", ScoringConfig(), fake_models, split="test")
    counts = split_counts(log_catalog.db, "toy", "valid")
    for case in build(log_catalog.db, "toy", split="valid", seed=0).cases:
        assert valid.popularity.counts[case.target] == counts.get(case.target, 0)
        assert valid.popularity.counts[case.target] < test.popularity.counts[case.target] + 1
    assert valid.popularity.total == test.popularity.total - 30  # one event fewer per user
