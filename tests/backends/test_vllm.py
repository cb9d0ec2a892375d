"""The vLLM backend against a local stand-in server: the request it sends, how it sums the continuation's
prompt log-probabilities, and what it says when the server is missing or answers something else."""
from __future__ import annotations

import numpy as np
import pytest
from tests.backends.vllm_standin import BOS, StandIn, token_logprob

from recsys.backends import make_backend
from recsys.backends.vllm import ServerError, VLLMBackend, continuation_logprob
from recsys.catalog import Catalog
from recsys.errors import ConfigError, ModelLoadError
from recsys.recommend import Models, recommend
from recsys.scoring import PairScorer
from recsys.text import template_for
from recsys.types import Query

T = template_for("movies")


@pytest.fixture
def server():
    with StandIn() as s:
        yield s


def expected(server: StandIn, prefix: str, continuation: str) -> float:
    p = server.tokenize({"prompt": prefix})["tokens"]
    c = server.tokenize({"prompt": continuation, "add_special_tokens": False})["tokens"]
    return sum(token_logprob(tok, len(p) + k) for k, tok in enumerate(c))


def test_sums_exactly_the_continuation_positions_and_sends_token_ids(server):
    backend = VLLMBackend(server.url, "smollm2-135m")
    prefix = T.prompt("Toy Story")
    conts = [T.continuation("Up"), T.continuation("The Exorcist"), T.continuation("Toy Story 2")]
    values, lens = backend.score(prefix, conts)
    np.testing.assert_allclose(values, [expected(server, prefix, c) for c in conts], rtol=0, atol=1e-12)
    assert lens.tolist() == [len(server.tokenize({"prompt": c, "add_special_tokens": False})["tokens"])
                             for c in conts]
    (path, body), = [(p, b) for p, b in server.requests if p == "/v1/completions"]
    p_ids = server.tokenize({"prompt": prefix})["tokens"]
    assert p_ids[0] == BOS  # the prefix carries the model's special tokens, continuations do not
    assert body["model"] == "smollm2-135m"
    assert body["prompt_logprobs"] >= 0 and body["max_tokens"] >= 1 and body["temperature"] == 0.0
    assert all(isinstance(t, int) for prompt in body["prompt"] for t in prompt)
    assert [prompt[:len(p_ids)] for prompt in body["prompt"]] == [p_ids] * 3
    assert "echo" not in body and "logprobs" not in body  # prompt log-probabilities only, nothing sampled


def test_many_candidates_go_in_several_concurrent_requests_and_keep_their_order(server):
    backend = VLLMBackend(server.url, "smollm2-135m", prompts_per_request=4, in_flight=3)
    prefix = T.neutral
    conts = [T.continuation(f"Movie number {i}") for i in range(11)]
    values, _ = backend.score(prefix, conts)
    np.testing.assert_allclose(values, [expected(server, prefix, c) for c in conts], atol=1e-12)
    sizes = sorted(len(b["prompt"]) for p, b in server.requests if p == "/v1/completions")
    assert sizes == [3, 4, 4]


def test_tokenization_is_asked_once_per_text(server):
    backend = VLLMBackend(server.url, "smollm2-135m")
    for _ in range(3):
        backend.score(T.prompt("Up"), [T.continuation("Heat")])
    assert sum(p == "/tokenize" for p, _ in server.requests) == 2


def test_truncate_uses_the_servers_tokenizer(server):
    backend = VLLMBackend(server.url, "smollm2-135m")
    assert backend.truncate("a short title", 8) == "a short title"
    assert backend.truncate("one two three four five six", 3) == "one two three"


def test_through_the_pair_cache_under_its_own_key(server, catalog: Catalog):
    models = Models(backend=f"vllm:{server.url}")
    assert models.lm_cache_key("smollm2-135m") == models.lm("smollm2-135m").cache_key == "smollm2-135m@vllm"
    scorer = PairScorer(lambda: models.lm("smollm2-135m"), models.lm_cache_key("smollm2-135m"), catalog.db)
    ell, neutral = scorer.matrix(T, ["Toy Story", "Up"], ["Heat", "Alien"], neutral=True)
    assert ell[0, 0] == pytest.approx(expected(server, T.prompt("Toy Story"), T.continuation("Heat")), abs=1e-12)
    assert neutral[1] == pytest.approx(expected(server, T.neutral, T.continuation("Alien")), abs=1e-12)
    keys = {r[0] for r in catalog.db.execute("SELECT DISTINCT model FROM pair_scores")}
    assert keys == {"smollm2-135m@vllm"}


@pytest.mark.slow  # the real embedder ranks alongside the server's scores
def test_a_whole_request_can_be_scored_by_the_server(server, catalog: Catalog):
    q = Query(history=("m:toy-story", "m:up"), candidates=("m:shrek", "m:heat", "m:alien"), top=3)
    result = recommend(catalog, q, Models(backend=f"vllm:{server.url}"))
    assert result.model == "smollm2-135m" and result.pairs_computed == 9
    for r in result.recommendations:
        assert sum(c.value for c in r.contributions) == pytest.approx(r.score, abs=1e-9)


def test_a_missing_server_is_a_clear_error():
    with StandIn() as s:
        url = s.url
    with pytest.raises(ModelLoadError, match="cannot reach the vLLM server"):
        VLLMBackend(url, "smollm2-135m", timeout=5)


def test_a_server_serving_another_model_is_a_clear_error(server):
    with pytest.raises(ModelLoadError, match="serves smollm2-135m, not 'gemma3-270m'.*--served-model-name"):
        VLLMBackend(server.url, "gemma3-270m")


def test_a_refused_request_names_the_servers_reason(server):
    server.fail_completions = (400, "This model's maximum context length is 2048 tokens")
    with pytest.raises(ServerError, match="HTTP 400.*maximum context length"):
        VLLMBackend(server.url, "smollm2-135m").score(T.prompt("Up"), [T.continuation("Heat")])


def test_a_server_without_prompt_logprobs_is_a_clear_error(server):
    server.drop_logprobs = True
    with pytest.raises(ServerError, match="prompt_logprobs"):
        VLLMBackend(server.url, "smollm2-135m").score(T.prompt("Up"), [T.continuation("Heat")])


def test_parsing_reads_the_prompt_tokens_own_entry_not_the_top_one():
    entries = [None, {"5": {"logprob": -9.0}, "7": {"logprob": -0.5}}, {"8": {"logprob": -2.0}, "3": {"logprob": -0.1}}]
    assert continuation_logprob(entries, 1, [1, 5, 8]) == -11.0
    with pytest.raises(ServerError, match="token 9"):
        continuation_logprob(entries, 1, [1, 5, 9])


def test_backend_specs():
    with pytest.raises(ConfigError, match="unknown scoring backend"):
        make_backend("tgi:http://x", "smollm2-135m")
    with pytest.raises(ConfigError, match="--device"):
        make_backend("transformers:cuda", "smollm2-135m")


def test_the_plain_reference_sends_one_pair_per_request_and_agrees(server):
    backend = VLLMBackend(server.url, "smollm2-135m")
    conts = [T.continuation("Heat"), T.continuation("Alien")]
    plain, n_plain = backend.score_plain(T.prompt("Up"), conts)
    batched, n_batched = backend.score(T.prompt("Up"), conts)
    np.testing.assert_array_equal(plain, batched)
    assert n_plain.tolist() == n_batched.tolist()
    assert [len(b["prompt"]) for p, b in server.requests if p == "/v1/completions"] == [1, 1, 2]
