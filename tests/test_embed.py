import numpy as np
import pytest

from recsys.recommend import Models

TITLES = ["Up", "The Lord of the Rings: The Fellowship of the Ring (extended edition, 2001)", "Coco",
          "So What - Miles Davis", "Attention is all you need", "Star Wars: Episode IV - A New Hope (1977)", "Heat"]


@pytest.mark.slow
def test_titles_are_batched_by_token_length_and_come_back_in_their_own_order():
    emb = Models(device="cpu", precision="float32").embedder("all-minilm-l6-v2")
    batches = emb.length_batches(TITLES, 3)
    assert [len(b) for b in batches] == [3, 3, 1]
    order = np.concatenate(batches)
    assert sorted(order) == list(range(len(TITLES)))
    lengths = [len(emb.encoder.tokenizer(TITLES[k])["input_ids"]) for k in order]
    assert lengths == sorted(lengths, reverse=True)

    together = emb.encode(TITLES, batch_size=3)
    alone = np.stack([emb.encode([t])[0] for t in TITLES])
    assert together.dtype == np.float32 and together.shape == (len(TITLES), 384)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)


def test_an_encoder_without_a_tokenizer_gets_the_texts_in_one_call(fake_models):
    emb = fake_models.embedder("all-minilm-l6-v2")
    [batch] = emb.length_batches(["a b", "c", "d e f"], 2)
    assert list(batch) == [0, 1, 2]
    assert emb.encode(["a b", "c", "d e f"]).shape == (3, 64)
