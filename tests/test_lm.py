"""The real SmolLM2-135M (embedded GGUF): the fast path equals the plain computation, and sensible pairs rank
as expected. Marked slow; run in CI."""
import threading
from unittest import mock

import numpy as np
import pytest
from transformers import AttentionInterface

from recsys.config import ScoringConfig
from recsys.errors import ModelLoadError
from recsys.lm import TRIE_ATTENTION, TransformersBackend
from recsys.lm_embed import LMEncoder
from recsys.models import _dequantised_dir, forward_lock, load_causal_lm, resolve
from recsys.recommend import Models, recommend
from recsys.text import template_for
from recsys.types import Query

pytestmark = pytest.mark.slow
T = template_for("movies")


@pytest.fixture(scope="module")
def backend(real_models):
    return real_models.lm("smollm2-135m")


def test_fast_path_equals_the_plain_unbatched_computation(backend):
    titles = ["Toy Story 2", "Up", "The Exorcist", "A Nightmare on Elm Street", "Eternal Sunshine of the Spotless Mind",
              "Saw", "X", "Amélie", "Crouching Tiger, Hidden Dragon"]
    backend_small = TransformersBackend("smollm2-135m", "cpu", batch_tokens=8)  # forces several packed chunks
    backend_blocks = TransformersBackend("smollm2-135m", "cpu")
    backend_blocks.block_nodes = 3  # attention in blocks of a few first-token subtrees each
    attention = AttentionInterface._global_mapping[TRIE_ATTENTION]
    blocks_seen = []

    def spy(*args, trie_blocks, **kwargs):
        blocks_seen.append(len(trie_blocks))
        return attention(*args, trie_blocks=trie_blocks, **kwargs)

    for prefix in (T.prompt("Toy Story"), T.neutral):
        conts = [T.continuation(t) for t in titles]
        fast, n_fast = backend.score(prefix, conts)
        chunked, _ = backend_small.score(prefix, conts)
        with mock.patch.dict(AttentionInterface._global_mapping, {TRIE_ATTENTION: spy}):
            blocked, _ = backend_blocks.score(prefix, conts)
        plain, n_plain = backend.score_plain(prefix, conts)
        assert np.all(np.isfinite(fast)) and np.all(fast < 0)
        np.testing.assert_allclose(fast, plain, atol=2e-3, rtol=1e-4)
        np.testing.assert_allclose(chunked, plain, atol=2e-3, rtol=1e-4)
        np.testing.assert_allclose(blocked, plain, atol=2e-3, rtol=1e-4)
        assert n_fast.tolist() == n_plain.tolist()
    assert blocks_seen and min(blocks_seen) > 1  # every layer of the blocked forwards ran block by block


def test_a_sequel_and_a_family_film_outrank_horror_after_toy_story(backend):
    titles = ["Toy Story 2", "Finding Nemo", "The Exorcist", "The Conjuring"]
    conts = [T.continuation(t) for t in titles]
    pmi = backend.score(T.prompt("Toy Story"), conts)[0] - backend.score(T.neutral, conts)[0]
    assert pmi.argmax() == 0
    assert pmi[1] > pmi[2] and pmi[1] > pmi[3]


def test_text_far_over_the_context_is_truncated_not_a_crash(backend):
    huge = "word " * 20_000
    values, lens = backend.score(T.prompt(huge), [T.continuation(huge), T.continuation("Up")])
    assert np.all(np.isfinite(values)) and lens[0] <= 64
    assert len(backend.tok(backend.truncate(huge, 48), add_special_tokens=False).input_ids) <= 49


def test_everything_that_runs_a_model_object_takes_its_one_lock(backend):
    # the trie's forward pass switches the model's attention function for its duration: no other forward may run
    assert TransformersBackend("smollm2-135m", "cpu")._lock is backend._lock is forward_lock(backend.model)
    encoder = LMEncoder("smollm2-135m", "cpu")
    with forward_lock(encoder.model):
        worker = threading.Thread(target=encoder.encode, args=(["Toy Story"],))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive()  # waiting for the lock
    worker.join(60)
    assert not worker.is_alive()


def test_an_unknown_model_is_a_clear_error():
    with pytest.raises(ModelLoadError, match="no-such-model"):
        load_causal_lm("/nonexistent/no-such-model", "cpu")


def test_the_gguf_is_dequantised_once_and_cached(backend):
    cached = _dequantised_dir(resolve("smollm2-135m"))
    assert (cached / "config.json").exists() and list(cached.glob("*.safetensors"))


def test_full_system_on_the_demo_catalog(demo_catalog, real_models):
    q = Query(history=("movies:toy-story", "movies:finding-nemo"),
              candidates=("movies:coco", "movies:the-shining", "movies:halloween", "movies:up"), top=4)
    result = recommend(demo_catalog, q, real_models)
    ranked = [r.item.id for r in result.recommendations]
    assert set(ranked[:2]) == {"movies:coco", "movies:up"}
    for r in result.recommendations:
        assert np.isfinite(r.score)
        assert sum(c.value for c in r.contributions) == pytest.approx(r.score, abs=1e-9)


def test_catalog_scale_request_with_real_models(demo_catalog, real_models):
    cfg = ScoringConfig(n_candidates=20)
    result = recommend(demo_catalog, Query(history=("music:so-what", "music:take-five"), config=cfg, top=5),
                       real_models)
    assert result.candidates_considered >= 20 and len(result.recommendations) == 5
    top = demo_catalog.require([r.item.id for r in result.recommendations])
    assert "music:so-what" not in [i.id for i in top]
    assert sum(i.tags[0] == "jazz" for i in top) >= 3  # a jazz history leads to mostly jazz
