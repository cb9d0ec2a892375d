import numpy as np

from recsys.scoring import PairScorer
from recsys.text import template_for

from fakes import FakeBackend

T = template_for("movies")


def _scorer(db, backend):
    return PairScorer(lambda: backend, "fake", db, max_item_tokens=48)


def test_a_repeated_request_is_a_cache_lookup(catalog):
    backend = FakeBackend()
    ell, neutral = _scorer(catalog.db, backend).matrix(T, ["Toy Story", "Up"], ["Shrek", "Heat", "Alien"], neutral=True)
    assert ell.shape == (2, 3) and neutral.shape == (3,)
    assert backend.pairs == 9
    again = FakeBackend()
    ell2, neutral2 = _scorer(catalog.db, again).matrix(T, ["Toy Story", "Up"], ["Shrek", "Heat", "Alien"], neutral=True)
    assert again.pairs == 0 and np.array_equal(ell, ell2) and np.array_equal(neutral, neutral2)


def test_the_model_is_not_loaded_when_everything_is_cached(catalog):
    _scorer(catalog.db, FakeBackend()).matrix(T, ["Toy Story"], ["Shrek"])

    def refuse():
        raise AssertionError("the backend must not be created")

    PairScorer(refuse, "fake", catalog.db).matrix(T, ["Toy Story"], ["Shrek"])


def test_an_edited_title_is_scored_afresh_and_an_overlapping_request_only_scores_what_is_new(catalog):
    _scorer(catalog.db, FakeBackend()).matrix(T, ["Toy Story"], ["Shrek", "Heat"])
    backend = FakeBackend()
    _scorer(catalog.db, backend).matrix(T, ["Toy Story"], ["Shrek", "Heat (1995)", "Up"])
    assert backend.pairs == 2


def test_cache_keys_keep_models_templates_and_budgets_apart(catalog):
    _scorer(catalog.db, FakeBackend()).matrix(T, ["Toy Story"], ["Shrek"])
    for scorer in (PairScorer(FakeBackend, "other-model", catalog.db),
                   PairScorer(FakeBackend, "fake", catalog.db, max_item_tokens=8)):
        scorer.matrix(T, ["Toy Story"], ["Shrek"])
        assert scorer.computed == 1
    s = _scorer(catalog.db, FakeBackend())
    s.matrix(template_for("music"), ["Toy Story"], ["Shrek"])
    assert s.computed == 1


def test_duplicate_candidate_texts_are_scored_once(catalog):
    backend = FakeBackend()
    ell, _ = _scorer(catalog.db, backend).matrix(T, ["Toy Story"], ["Shrek", "Shrek", "Up"])
    assert backend.pairs == 2 and ell[0, 0] == ell[0, 1]


def test_without_a_database_nothing_is_cached():
    backend = FakeBackend()
    s = PairScorer(lambda: backend, "fake", None)
    s.matrix(T, ["a"], ["b"])
    s.matrix(T, ["a"], ["b"])
    assert backend.pairs == 2


def test_a_backend_that_scores_many_prompts_gets_every_row_missing_pairs_in_one_call(catalog):
    class Many(FakeBackend):
        def __init__(self):
            super().__init__()
            self.batches = []

        def score_many(self, requests):
            self.batches.append([(prefix, len(conts)) for prefix, conts in requests])
            return [self.score(prefix, conts) for prefix, conts in requests]

    _scorer(catalog.db, FakeBackend()).matrix(T, ["Toy Story"], ["Shrek"])  # one pair already cached
    backend = Many()
    ell, neutral = _scorer(catalog.db, backend).matrix(T, ["Toy Story", "Up"], ["Shrek", "Heat"], neutral=True)
    assert [[n for _, n in batch] for batch in backend.batches] == [[1, 2, 2]]  # Toy Story lacks Heat only
    assert backend.batches[0][2][0] == T.neutral
    again = FakeBackend()
    assert np.array_equal(_scorer(catalog.db, again).matrix(T, ["Toy Story", "Up"], ["Shrek", "Heat"])[0], ell)
    assert again.pairs == 0  # every row was written
