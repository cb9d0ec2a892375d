"""The SGLang backend against a local stand-in server: the same ℓ(y|x) as the vLLM backend on the same model,
the request layout that lets the radix cache serve each history item's prompt, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest
from tests.backends.sglang_standin import SGLangStandIn
from tests.backends.vllm_standin import StandIn, token_logprob

from recsys.backends import make_backend
from recsys.backends.sglang import SGLangBackend, input_logprob_sum
from recsys.backends.vllm import ServerError, VLLMBackend
from recsys.catalog import Catalog
from recsys.errors import ModelLoadError
from recsys.recommend import Models
from recsys.scoring import PairScorer
from recsys.text import template_for

T = template_for("movies")
CONTS = [T.continuation(t) for t in ("Up", "The Exorcist", "Toy Story 2", "Heat", "Alien")]


@pytest.fixture
def server():
    with SGLangStandIn() as s:
        yield s


def test_scores_equal_the_vllm_backends_on_the_same_model(server):
    with StandIn() as vllm:
        want, want_lens = VLLMBackend(vllm.url, "smollm2-135m").score(T.prompt("Toy Story"), CONTS)
    got, lens = SGLangBackend(server.url, "smollm2-135m").score(T.prompt("Toy Story"), CONTS)
    # the two stand-ins hand out token ids in order of first sight: compare through a shared tokenization
    p = server.tokenize({"prompt": T.prompt("Toy Story")})["tokens"]
    expected = [sum(token_logprob(tok, len(p) + k) for k, tok in
                    enumerate(server.tokenize({"prompt": c, "add_special_tokens": False})["tokens"])) for c in CONTS]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert lens.tolist() == want_lens.tolist() and len(want) == len(got)


def test_the_prefix_is_computed_once_and_every_pair_reuses_it(server):
    backend = SGLangBackend(server.url, "smollm2-135m", prompts_per_request=2, in_flight=2)
    prefix = T.prompt("Toy Story")
    backend.score(prefix, CONTS)
    p_ids = server.tokenize({"prompt": prefix})["tokens"]
    gens = [b for path, b in server.requests if path == "/generate"]
    assert gens[0] == {"input_ids": p_ids, "sampling_params": {"max_new_tokens": 1, "temperature": 0.0}}
    scoring = gens[1:]
    assert sorted(len(b["input_ids"]) for b in scoring) == [1, 2, 2]  # two in flight: any arrival order
    for body in scoring:
        assert body["return_logprob"] is True and body["logprob_start_len"] == len(p_ids) - 1
        assert all(ids[:len(p_ids)] == p_ids for ids in body["input_ids"])
        assert "text" not in body  # token ids only: the boundary is the one the in-process backend uses
    assert backend.cached_tokens == 5 * (len(p_ids) - 1)  # every pair: the whole prefix but its last token
    c_tokens = sum(len(server.tokenize({"prompt": c, "add_special_tokens": False})["tokens"]) for c in CONTS)
    assert server.computed_tokens == len(p_ids) + 5 + c_tokens  # the prefix once; per pair its last token + y


def test_through_the_pair_cache_under_its_own_key(server, catalog: Catalog):
    models = Models(backend=f"sglang:{server.url}")
    assert models.lm_cache_key("smollm2-135m") == models.lm("smollm2-135m").cache_key == "smollm2-135m@sglang"
    scorer = PairScorer(lambda: models.lm("smollm2-135m"), models.lm_cache_key("smollm2-135m"), catalog.db)
    ell, neutral = scorer.matrix(T, ["Toy Story", "Up"], ["Heat", "Alien"], neutral=True)
    assert np.isfinite(ell).all() and np.isfinite(neutral).all()
    assert {r[0] for r in catalog.db.execute("SELECT DISTINCT model FROM pair_scores")} == {"smollm2-135m@sglang"}


def test_an_unreachable_server_is_named():
    with SGLangStandIn() as s:
        url = s.url
    with pytest.raises(ModelLoadError, match=f"cannot reach the SGLang server at {url}.*sglang.launch_server"):
        make_backend(f"sglang:{url}", "smollm2-135m")


def test_a_refused_request_names_the_servers_reason(server):
    server.fail_completions = (400, "The input is longer than the context length")
    with pytest.raises(ServerError, match="SGLang server .*/generate answered HTTP 400.*context length"):
        SGLangBackend(server.url, "smollm2-135m").score(T.prompt("Up"), [T.continuation("Heat")])


def test_parsing_checks_each_tokens_id_and_refuses_a_missing_entry():
    entries = [[None, 4, None], [-0.5, 5, None], [-2.0, 8, None]]
    assert input_logprob_sum(entries, 2, [1, 3, 4, 5, 8], 3) == -2.5
    with pytest.raises(ServerError, match="token 9 at position 4"):
        input_logprob_sum(entries, 2, [1, 3, 4, 5, 9], 3)
    with pytest.raises(ServerError, match="input_token_logprobs"):
        input_logprob_sum(None, 2, [1, 3, 4, 5, 8], 3)
