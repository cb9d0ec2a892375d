"""Experimental methods: term normalisations, the `mix:` grammar, the whole-history list prompt and its
exact leave-one-out explanation. Fake models isolate the logic; the real-model numbers are in docs/lm-experiments.md."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recsys import fuse as F
from recsys.config import ScoringConfig
from recsys.errors import ConfigError
from recsys.evaluate.experiments import CONTENT_FREE, parse_mix, rank_normalise, z_normalise
from recsys.evaluate.methods import Context, Env, resolve
from recsys.evaluate.protocols import build
from recsys.evaluate.run import EvalSpec, run_evaluation
from recsys.history_prompt import explain, explain_list, join_history
from recsys.text import TEMPLATES

finite = st.floats(-50, 50, allow_nan=False)


@given(arrays(np.float64, st.integers(1, 30), elements=finite))
def test_rank_normalise_keeps_order_and_ties_and_has_unit_scale(x):
    r = rank_normalise(x)
    assert abs(r.mean()) < 1e-9
    assert abs(r.std() - 1) < 1e-9 or np.allclose(r, 0)
    for i in range(len(x)):
        for j in range(len(x)):
            if x[i] < x[j]:
                assert r[i] < r[j]
            elif x[i] == x[j]:
                assert r[i] == r[j]


def test_z_normalise_matches_fuse_standardising():
    x = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(z_normalise(x), (x - x.mean()) / x.std())
    assert np.allclose(z_normalise(np.ones(4)), 0)


def test_parse_mix():
    assert parse_mix("mix:lm0.5+pop+embed2@rank") == ([("lm", 0.5), ("pop", 1.0), ("embed", 2.0)], "rank")
    assert parse_mix("mix:lmemb") == ([("lmemb", 1.0)], "z")
    for bad in ("mix:nope", "mix:lm@minmax", "mix:", "mix:lm+"):
        with pytest.raises(ConfigError):
            parse_mix(bad)


def test_mix_without_lm_equals_embed_pop(log_catalog, fake_models):
    cfg = ScoringConfig()
    env = Env(log_catalog, "toy", cfg, fake_models)
    mix, base = resolve("mix:pop+embed,embed+pop", cfg)
    assert not mix.uses_lm
    for case in build(log_catalog.db, "toy", seed=0, limit_users=4).cases:
        ctx = Context(env, case.user_id, case.history, env.idx(case.candidates))
        np.testing.assert_allclose(mix.score(ctx), base.score(ctx), atol=1e-12)


def test_every_term_gives_finite_scores_and_the_list_is_one_prompt(log_catalog, fake_models):
    cfg = ScoringConfig()
    env = Env(log_catalog, "toy", cfg, fake_models)
    case = build(log_catalog.db, "toy", seed=0, limit_users=1).cases[0]
    ctx = Context(env, case.user_id, case.history, env.idx(case.candidates))
    (listed,) = resolve("mix:list", cfg)
    assert listed.uses_lm
    calls = fake_models.fake.calls
    listed.score(ctx)
    assert fake_models.fake.calls - calls == 2  # the list prompt and the neutral prompt
    names = "mix:pop,mix:embed,mix:lmemb,mix:lm,mix:lmraw,mix:lmtok,mix:lmcc,mix:list,mix:listraw,mix:bm25," \
            "mix:lm0.5+list0.5+lmemb+pop+embed@rank"
    for m in resolve(names, cfg):
        s = m.score(ctx)
        assert s.shape == (20,) and np.isfinite(s).all(), m.name


def test_contextual_calibration_subtracts_the_mean_over_content_free_histories(log_catalog, fake_models):
    cfg = ScoringConfig()
    env = Env(log_catalog, "toy", cfg, fake_models)
    case = build(log_catalog.db, "toy", seed=0, limit_users=1).cases[0]
    ctx = Context(env, case.user_id, case.history, env.idx(case.candidates))
    (cc,) = resolve("mix:lmcc", cfg)
    got = cc.score(ctx)
    ell, _ = ctx.ell
    ys = [env.items[k].lm_text() for k in ctx.candidates]
    cf, _ = env.scorer.matrix(env.template, list(CONTENT_FREE), ys)
    s = F.normalise(ell - cf.mean(axis=0)[None, :])
    want = F.fuse(s, F.history_weights(len(ctx.lm_history), cfg.gamma), "product", standardize=False).lm_term
    np.testing.assert_allclose(got, z_normalise(want))
    (pmi,) = resolve("mix:lm", cfg)
    assert not np.allclose(got, pmi.score(ctx))  # a different reference than ℓ(y|∅)


def test_mix_methods_run_in_the_harness(log_catalog, fake_models):
    spec = EvalSpec(dataset="toy", methods=("embed+pop", "mix:lm0.5+pop+embed", "mix:list+pop+embed@rank"),
                    limit_users=6, n_boot=50)
    result = run_evaluation(log_catalog, spec, fake_models)
    assert set(result.methods) == set(spec.methods)
    assert all(0 <= m.metrics["ndcg@10"] <= 100 for m in result.methods.values())


def test_list_templates_read_as_a_list():
    t = TEMPLATES["movie-list"]
    assert t.prompt(join_history(["Toy Story (1995)", "Heat (1995)"])) == "Movies like Toy Story (1995), Heat (1995), "
    assert t.continuation("Up") == "Up,"
    assert join_history(["A, B", "C"]) == "A B, C"  # an item's own comma-space cannot split it in two


@settings(max_examples=50)
@given(st.integers(1, 6), st.integers(1, 8), st.data())
def test_list_explanation_sums_to_the_score_exactly(n, m, data):
    full = data.draw(arrays(np.float64, m, elements=finite))
    loo = data.draw(arrays(np.float64, (n, m), elements=finite))
    neutral = data.draw(arrays(np.float64, m, elements=finite))
    for nt in (neutral, None):
        e = explain_list(full, loo, nt)
        np.testing.assert_allclose(e.parts.sum(axis=1) + e.joint, e.scores, rtol=0, atol=1e-9)
        np.testing.assert_allclose(e.parts[:, 0], full - loo[0])


def test_explain_scores_the_list_and_each_leave_one_out(log_catalog, fake_models):
    scorer = fake_models.pair_scorer(log_catalog, ScoringConfig())
    hist, cands = ["Alien", "Heat", "Up"], ["Jaws", "Big", "Fargo"]
    e = explain(scorer, TEMPLATES["movie-list"], hist, cands, 48)
    assert e.parts.shape == (3, 3)
    fake = fake_models.fake
    t = TEMPLATES["movie-list"]
    full = fake.score(t.prompt("Alien, Heat, Up"), [t.continuation(c) for c in cands])[0]
    without_heat = fake.score(t.prompt("Alien, Up"), [t.continuation(c) for c in cands])[0]
    neutral = fake.score(t.neutral, [t.continuation(c) for c in cands])[0]
    np.testing.assert_allclose(e.scores, full - neutral)
    np.testing.assert_allclose(e.parts[:, 1], full - without_heat)


def test_the_tables_command_refuses_a_missing_database_instead_of_creating_it(tmp_path, capsys):
    from recsys.evaluate.experiments import main

    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope.db")])
    assert "no such database" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()
