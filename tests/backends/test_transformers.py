"""The in-process backend's fast path: candidates packed as a token trie after one shared prompt cache must give
what one plain forward pass per pair gives, whatever the chunking, sharing and duplicates."""
from __future__ import annotations

import numpy as np
import pytest

from recsys.lm import TransformersBackend, _Trie
from recsys.text import template_for

T = template_for("movies")


def test_trie_shares_common_beginnings_and_maps_every_input_to_its_node():
    trie = _Trie()
    a, b, c = [5, 6, 7, 8], [5, 6, 9], [5, 6, 7, 8]
    assert trie.new_nodes(a) == 3
    trie.add(a)
    assert trie.new_nodes(b) == 0  # b feeds 5, 6: both already there
    assert trie.new_nodes([5, 6, 9, 1]) == 1
    trie.add(b)
    trie.add(c)
    assert trie.size == 3
    assert trie.path(a) == trie.path(c) == [0, 1, 2] and trie.path(b) == [0, 1]
    assert trie.parent == [-1, 0, 1] and trie.depth == [0, 1, 2] and trie.token == [5, 6, 7]
    trie.add([4])  # a one-token candidate feeds nothing
    assert trie.size == 3 and trie.path([4]) == []


@pytest.mark.slow
@pytest.mark.parametrize("batch_tokens", [3, 16, 512])
def test_shared_beginnings_duplicates_and_chunking_equal_the_plain_computation(real_models, batch_tokens):
    fast = real_models.lm("smollm2-135m")
    backend = TransformersBackend("smollm2-135m", "cpu", batch_tokens=batch_tokens)
    titles = ["The Matrix (1999)", "The Matrix Reloaded (2003)", "The Matrix Revolutions (2003)", "The Mask",
              "Up", "Up", "X", "Star Wars: Episode IV - A New Hope (1977)", "Star Wars: Episode V (1980)", "Heat"]
    conts = [T.continuation(t) for t in titles] + ["a", "x"]  # one-token continuations too
    for prefix in (T.prompt("Toy Story (1995)"), T.neutral):
        got, n_got = backend.score(prefix, conts)
        plain, n_plain = fast.score_plain(prefix, conts)
        np.testing.assert_allclose(got, plain, atol=2e-3, rtol=1e-4)
        assert n_got.tolist() == n_plain.tolist()
        assert got[4] == got[5]  # the same text scores the same


@pytest.mark.slow
def test_order_of_candidates_does_not_change_their_scores(real_models):
    backend = real_models.lm("smollm2-135m")
    conts = [T.continuation(t) for t in ["Heat", "The Matrix", "Alien", "The Mask", "Amélie"]]
    forward, _ = backend.score(T.prompt("Up"), conts)
    backward, _ = backend.score(T.prompt("Up"), conts[::-1])
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-4)


@pytest.mark.slow
def test_out_of_memory_scores_chunk_by_chunk_and_halves_the_chunk_instead_of_crashing(real_models, caplog):
    import torch

    backend = TransformersBackend("smollm2-135m", "cpu", batch_tokens=256)
    packed, chunk, sizes = backend._score_packed, backend._score_trie, []

    def tight_packed(segments):  # a device that fits at most 100 tokens a pass
        if sum(len(s.p_ids) + s.trie.size for s in segments) > 100:
            raise torch.OutOfMemoryError("simulated")
        return packed(segments)

    def tight_chunk(cache, p_len, first, trie, rows):
        if trie.size > 100:
            raise torch.OutOfMemoryError("simulated")
        sizes.append(trie.size)
        return chunk(cache, p_len, first, trie, rows)

    backend._score_packed, backend._score_trie = tight_packed, tight_chunk
    conts = [T.continuation(f"Movie number {i} (19{i:02d})") for i in range(30)]
    [(got, _), (short, _)] = backend.score_many([(T.neutral, conts), (T.prompt("Up"), conts[:2])])
    fast = real_models.lm("smollm2-135m")
    np.testing.assert_allclose(got, fast.score_plain(T.neutral, conts)[0], atol=2e-3, rtol=1e-4)
    np.testing.assert_allclose(short, fast.score_plain(T.prompt("Up"), conts[:2])[0], atol=2e-3, rtol=1e-4)
    assert sizes and max(sizes) <= 100 and "chunk by chunk" in caplog.text and "retrying with" in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize("batch_tokens", [512, 4])
def test_candidates_that_fit_one_pass_share_it_with_their_prompt(batch_tokens):
    backend = TransformersBackend("smollm2-135m", "cpu", batch_tokens=batch_tokens)
    prefix = T.prompt("Toy Story (1995)")
    conts = [T.continuation(t) for t in ["The Matrix (1999)", "The Mask (1994)", "Heat (1995)"]]
    passes = []  # the tokens of each forward pass
    hook = backend.model.base_model.register_forward_pre_hook(
        lambda module, args, kwargs: passes.append(kwargs["input_ids"].shape[1]), with_kwargs=True)
    try:
        backend.score(prefix, conts)
    finally:
        hook.remove()
    p_len = len(backend._prefix_ids(prefix))
    if batch_tokens == 512:
        assert len(passes) == 1 and passes[0] > p_len  # the prompt and the trie's nodes together
    else:
        assert passes[0] == p_len and len(passes) >= 3  # the prompt's own pass, then the chunks after its cache


@pytest.mark.slow
def test_several_prompts_share_one_pass_and_score_as_each_would_alone(real_models):
    backend = TransformersBackend("smollm2-135m", "cpu")
    conts = [T.continuation(t) for t in ["The Matrix (1999)", "The Mask", "Up", "Up", "Heat", "x"]]
    requests = [(T.prompt("Toy Story (1995)"), conts), (T.neutral, conts[:3]), (T.prompt("Alien"), []),
                (T.prompt("Up"), conts[::-1])]
    passes = []
    hook = backend.model.base_model.register_forward_pre_hook(lambda *_: passes.append(1))
    try:
        got = backend.score_many(requests)
    finally:
        hook.remove()
    assert len(passes) == 1
    fast = real_models.lm("smollm2-135m")
    for (prefix, cs), (sums, lens) in zip(requests, got):
        plain, n_plain = fast.score_plain(prefix, cs)
        np.testing.assert_allclose(sums, plain, atol=2e-3, rtol=1e-4)
        assert lens.tolist() == n_plain.tolist()
