"""Sentences from the numbers: the liked item that drives a recommendation, the prior's say, missing terms, and
what feedback changed."""
from __future__ import annotations

from recsys.catalog import Item
from recsys.config import ScoringConfig
from recsys.explain import feedback_changes, sentence
from recsys.types import LM, PRIOR, SIMILARITY, Contribution, Query, Recommendation, Result


def part(title, lm, sim):
    return Contribution(f"history:{title}", title, lm + sim, ((LM, lm), (SIMILARITY, sim)))


def rec(*parts, prior=0.0, title="Pick", rank=1):
    contributions = (*parts, Contribution(PRIOR, "popularity prior", prior))
    return Recommendation(Item(id=title, title=title), rank, sum(c.value for c in contributions), contributions)


def test_the_largest_part_names_the_liked_item_and_its_term():
    r = rec(part("So What", 0.1, 0.2), part("Take Five", 0.1, 2.5), prior=0.9)
    assert sentence(r) == "Mostly because you liked “Take Five” (similar in content); popular overall."
    r = rec(part("So What", 1.2, 0.1), prior=-0.8)
    assert sentence(r, name=lambda t: f"*{t}*") == ("Mostly because you liked *So What* (the language model links "
                                                    "them); though less popular than most candidates.")


def test_two_comparable_items_are_both_named_and_no_liked_item_means_the_prior():
    r = rec(part("A", 0.5, 0.5), part("B", 0.4, 0.5), part("C", 0.0, 0.3))
    assert sentence(r).startswith("Because you liked “A” (similar, and the language model links them) and “B”")
    assert sentence(rec(part("A", -0.2, -0.1), prior=1.0)) == "Mostly because it is popular overall."


def test_a_missing_term_is_said():
    r = rec(part("A", 0.0, 1.0))
    assert sentence(r, degraded=("language model",)).endswith(
        "(without the language-model term: its model was unavailable).")


def _result(recs):
    return Result(query=Query(history=("x",), config=ScoringConfig()), model="m", recommendations=tuple(recs),
                  history=(Item(id="x", title="X"),), weights=(1.0,), conditional=(), conditional_history=(),
                  timings={})


def test_feedback_changes_say_what_entered_moved_and_left():
    a, b, c, d = (rec(title=t, rank=k + 1) for k, t in enumerate("ABCD"))
    new = Recommendation(Item(id="N", title="N"), 1, 2.0, (Contribution("history:L", "L", 1.5),
                                                            Contribution(PRIOR, "p", 0.5)))
    before = _result([a, b, c, d])
    after = _result([new, rec(title="C", rank=2), rec(title="A", rank=3), rec(title="B", rank=4)])
    lines = feedback_changes(before, after, liked="L")
    assert lines[0] == "“N” is new at #1: the item you liked adds +1.50 to its score."
    assert "“C” moved up from #3 to #2." in lines and "Left the list: “D”." in lines
    gone = feedback_changes(before, _result([a, b, c]), disliked="D")
    assert gone == ["“D” is gone and will not come back."]
    assert feedback_changes(before, before) == ["The list did not change."]
