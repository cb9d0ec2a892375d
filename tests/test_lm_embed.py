import numpy as np
import pytest

from recsys.models import load_sentence_model

pytestmark = pytest.mark.slow


def test_lm_hidden_state_embeddings_are_unit_vectors_independent_of_the_batch():
    enc = load_sentence_model("lm:smollm2-135m", "cpu")
    both = enc.encode(["Toy Story", "A much longer title that needs padding in its batch"])
    alone = enc.encode(["Toy Story"])
    assert both.shape == (2, 576)
    np.testing.assert_allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(both[0], alone[0], atol=1e-4)
