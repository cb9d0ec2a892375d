"""The packing of candidates into a token trie and its attention blocks, without a model."""
from recsys.lm import _blocks, _Trie


def trie_of(candidates):
    trie = _Trie()
    for ids in sorted(candidates):
        trie.add(ids)
    return trie


def test_blocks_are_whole_first_token_subtrees_up_to_the_target():
    # inputs are every token but the last: [1,2,3] feeds 1 and 2
    trie = trie_of([[1, 2, 3], [1, 2, 4, 5], [1, 6, 7], [8, 9], [8, 10, 11], [12, 13, 14, 15]])
    # first-token subtrees: 1 -> nodes 0..3 (tokens 1, 2, 4, 6), 8 -> 4..5 (8, 10), 12 -> 6..8 (12, 13, 14)
    assert trie.token == [1, 2, 4, 6, 8, 10, 12, 13, 14] and [trie.depth[i] for i in (0, 4, 6)] == [0, 0, 0]
    assert _blocks(trie, 4) == [(0, 4), (4, 6), (6, 9)]
    assert _blocks(trie, 7) == [(0, 6), (6, 9)]
    assert _blocks(trie, 100) == [(0, 9)]
    for a, b in _blocks(trie, 1):  # a subtree larger than the target is a block of its own, never split
        assert all(p < 0 or a <= p for p in trie.parent[a:b])


def test_a_trie_whose_subtrees_interleave_is_one_block():
    trie = _Trie()
    for ids in ([1, 2, 3], [4, 5, 6], [1, 7, 8]):  # not sorted: the second 1-subtree node comes after the 4s
        trie.add(ids)
    assert _blocks(trie, 1) == [(0, trie.size)]
