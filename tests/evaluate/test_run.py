"""The evaluation loop end to end on a tiny dataset (fake models isolate the loop): the JSON document, the
Markdown report, storing and reloading, the full protocol's pool, progress, and the curves."""
from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.config import ScoringConfig
from recsys.evaluate import EvalSpec, list_evaluations, load_evaluation, run_evaluation, store
from recsys.evaluate.curves import pr_figure, roc_figure, save_curves

METHODS = ("random", "pop", "bm25", "embed", "embed+pop", "lm-raw-product", "lm-pmi-mixture", "lm+pop", "fused")


@pytest.fixture
def result(log_catalog, fake_models):
    seen = []
    r = run_evaluation(log_catalog, EvalSpec(dataset="toy", methods=METHODS, n_boot=200), fake_models,
                       progress=lambda done, total, s: seen.append((done, total)))
    assert seen[-1] == (30, 30) and len(seen) == 30
    return r


def test_json_document_has_the_promised_shape(result):
    d = json.loads(json.dumps(result.to_dict()))
    assert d["protocol"] == "llmrank20" and d["dataset"] == "toy" and d["users"] == 30
    assert list(d["methods"]) == list(METHODS)
    for m in d["methods"].values():
        for k in ("ndcg@1", "ndcg@5", "ndcg@10", "ndcg@20", "hr@1", "hr@10", "mrr", "precision@5", "f1@10",
                  "roc_auc", "pr_auc"):
            assert isinstance(m[k], float)
        lo, hi = m["ci95"]["ndcg@10"]
        assert 0 <= lo < hi <= 100  # percent, and 30 users' ranks vary
    assert d["settings"]["scoring"] == ScoringConfig().to_dict()
    assert d["settings"]["lm_history_items"] == 5 and d["settings"]["aliases"]["fused"] == "lm-pmi-product+pop+embed"
    assert "fused - embed+pop" in d["comparisons"]


def test_metrics_follow_from_the_ranks(result):
    pop = result.methods["pop"]
    assert pop.ranks.shape == (30,) and pop.ranks.min() >= 1 and pop.ranks.max() <= 20
    ndcg = np.where(pop.ranks <= 10, 1 / np.log2(pop.ranks + 1), 0).mean() * 100
    assert pop.metrics["ndcg@10"] == pytest.approx(ndcg)
    for name, m in result.methods.items():
        assert m.metrics["hr@5"] == pytest.approx(100 * (m.ranks <= 5).mean()), name
        assert m.metrics["mrr"] == pytest.approx(100 * (1 / m.ranks).mean()), name


def test_store_list_and_reload(result, log_catalog):
    rid = store(log_catalog.db, result)
    listed = list_evaluations(log_catalog.db, "toy")
    assert [e.id for e in listed] == [rid] and listed[0].users == 30
    assert listed[0].ndcg10["pop"] == pytest.approx(result.methods["pop"].metrics["ndcg@10"], abs=1e-4)
    back = load_evaluation(log_catalog.db, rid)
    assert back.spec == result.spec and back.user_ids == result.user_ids
    for name, m in result.methods.items():
        assert (back.methods[name].ranks == m.ranks).all()
        assert back.methods[name].metrics["mrr"] == pytest.approx(m.metrics["mrr"], abs=1e-4)
        assert back.methods[name].roc.area == pytest.approx(m.roc.area)
    assert back.markdown().splitlines()[0] == result.markdown().splitlines()[0]


def test_markdown_report(result):
    text = result.markdown()
    assert "| `fused` |" in text and "NDCG@10 [95% CI]" in text and "P@5" in text and "tuned:" in text


def test_full_protocol_reranks_a_pool(log_catalog, fake_models):
    cfg = ScoringConfig(n_candidates=10, n_popular=2)
    r = run_evaluation(log_catalog, EvalSpec(dataset="toy", protocol="full", methods=("pop", "embed", "fused"),
                                             config=cfg, n_boot=100, limit_users=12), fake_models)
    assert r.users == 12
    # `embed` ranks the whole catalog by the same similarity the pool is retrieved by: a target inside the pool
    # ranks the same for both, and a re-ranker never ranks a target outside the pool within the pool's size
    fused, embed = r.methods["fused"].ranks, r.methods["embed"].ranks
    assert ((embed <= 10) <= (fused <= 12)).all()
    assert any("retrieval" in n for n in r.notes)


def test_curves_are_written(result, tmp_path):
    assert len(roc_figure(result).data) == len(METHODS) + 1 and len(pr_figure(result).data) == len(METHODS)
    files = save_curves(result, tmp_path, "toy", png=False)
    assert sorted(f.name for f in files) == ["toy.pr.html", "toy.roc.html"]
    assert "plotly" in (tmp_path / "toy.roc.html").read_text()[:5000].lower()


@pytest.mark.slow
def test_png_curves(result, tmp_path):
    files = save_curves(result, tmp_path, "toy", png=True)
    if not any(f.suffix == ".png" for f in files):
        pytest.skip("no Chromium for kaleido (apt-get install -y chromium)")
    assert (tmp_path / "toy.roc.png").read_bytes()[:4] == b"\x89PNG"


def test_full_protocol_keeps_a_repeated_target_and_does_not_crash(log_catalog, fake_models):
    log_catalog.add_interactions([{"dataset": "toy", "user_id": "1", "item_id": item, "timestamp": 1e9 + k,
                                   "rating": 4.0, "split": None} for k, item in enumerate(["toy:59", "toy:60", "toy:59"])])
    r = run_evaluation(log_catalog, EvalSpec(dataset="toy", protocol="full", methods=("pop", "embed", "fused"),
                                             config=ScoringConfig(n_candidates=10, n_popular=2), n_boot=50),
                       fake_models)
    assert r.users == 30 and all(m.ranks.min() >= 1 for m in r.methods.values())
    assert any("repeat an item of their history" in n for n in r.notes)


def test_a_candidate_list_without_its_target_is_a_miss_for_every_method(log_catalog, fake_models, tmp_path):
    seqs = {}
    for user, item in log_catalog.db.execute("SELECT user_id, item_id FROM interactions ORDER BY rowid"):
        seqs.setdefault(user, []).append(item)
    lines = [f"{u}\t" + " ".join(str(k) for k in range(1, 61) if f"toy:{k}" != seqs[u][-1])[:200] for u in ("1", "2")]
    path = tmp_path / "lists.txt"
    path.write_text("\n".join(lines) + "\n")
    spec = EvalSpec(dataset="toy", methods=("random", "pop", "fused"), candidates=str(path), n_boot=50)
    missed = run_evaluation(log_catalog, spec, fake_models)
    for m in missed.methods.values():
        assert m.metrics["hr@20"] == 0.0 and (m.ranks == 21).all()
    injected = run_evaluation(log_catalog, EvalSpec(**{**spec.__dict__, "missing_target": "inject"}), fake_models)
    assert injected.methods["pop"].metrics["hr@20"] == 100.0
    assert injected.to_dict()["spec"]["missing_target"] == "inject"
