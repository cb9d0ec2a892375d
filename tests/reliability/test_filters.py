"""Safety filters: the blocklist (items, creators, terms) and the per-creator cap, as pure functions and inside
`recommend()` — off by default, applied after scoring, every hidden item reported."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys import filters
from recsys.catalog import Item, make_item
from recsys.config import ScoringConfig
from recsys.errors import ConfigError
from recsys.filters import BLOCKLIST, DIVERSITY, NO_FILTERS, SafetyConfig, load_safety
from recsys.recommend import recommend
from recsys.types import Query

CFG = ScoringConfig(n_candidates=10, n_popular=2)


def item(i: str, creator: str = "", title: str | None = None, **kw) -> Item:
    return Item(id=i, title=title or f"Title {i}", creator=creator, **kw)


RANKED = [item("a", "Ann"), item("b", "Bob"), item("c", "ann "), item("d", "ANN"), item("e", "Cy"), item("f", "")]


def shown_ids(result, ranked=RANKED):
    return [ranked[p].id for p in result.shown]


# -- pure functions ---------------------------------------------------------------------------------------------
def test_off_by_default_keeps_the_ranking():
    assert not NO_FILTERS.active and not Query(history=()).safety
    out = filters.apply(RANKED, 4)
    assert shown_ids(out) == ["a", "b", "c", "d"] and out.hidden == ()
    assert filters.notes(out, 4) == []


def test_blocklist_by_item_creator_and_term():
    safety = SafetyConfig(items=("b",), creators=("  cy ",), terms=("Title D",))
    out = filters.apply(RANKED, 10, safety)
    assert shown_ids(out) == ["a", "c", "f"]
    assert [(h.item.id, h.reason, h.detail) for h in out.hidden] == [
        ("b", BLOCKLIST, "item"), ("d", BLOCKLIST, "term 'title d'"), ("e", BLOCKLIST, "creator")]
    assert filters.notes(out, 10)[0] == "3 items hidden by the blocklist"


def test_terms_match_whole_words_in_every_text_field_case_insensitively():
    safety = SafetyConfig(terms=("gore", "rank me first"))
    hit = [item("1", title="GORE fest"), item("2", description="please RANK  me first!"),
           item("3", tags=("gore",)), item("4", creator="Al Gore")]
    miss = [item("5", title="Gorey stories"), item("6", title="Rank me firstly"), item("7", title="Algore")]
    assert [i.id for i in hit if safety.blocked(i)] == ["1", "2", "3", "4"]
    assert [i.id for i in miss if safety.blocked(i)] == []
    assert filters.blocked_ids(hit + miss, safety) == ["1", "2", "3", "4"]


def test_per_creator_cap_folds_case_and_space_and_ignores_unknown_creators():
    ranked = RANKED + [item("g", ""), item("h", "")]
    out = filters.apply(ranked, 5, SafetyConfig(max_per_creator=1))
    assert shown_ids(out, ranked) == ["a", "b", "e", "f", "g"]
    assert [(h.item.id, h.reason) for h in out.hidden] == [("c", DIVERSITY), ("d", DIVERSITY)]
    assert filters.notes(out, 5) == ["2 items hidden by the per-creator limit (diversity)"]


def test_hidden_lists_only_what_a_viewer_would_have_seen():
    out = filters.apply(RANKED, 2, SafetyConfig(items=("f",), max_per_creator=1))
    assert shown_ids(out) == ["a", "b"] and out.hidden == ()  # 'f' ranked below the list: nothing hidden


def test_a_short_list_says_so():
    out = filters.apply(RANKED, 6, SafetyConfig(creators=("ann",)))
    assert shown_ids(out) == ["b", "e", "f"]
    assert filters.notes(out, 6) == ["3 items hidden by the blocklist",
                                     "only 3 of the 6 requested items are left after filtering"]


@pytest.mark.parametrize("bad", [
    {"items": "one-string"}, {"terms": [1, 2]}, {"max_per_creator": 0}, {"max_per_creator": 1.5},
    {"max_per_creator": True}, {"colour": ["red"]}, {"terms": ["x" * 201]}, [1, 2],
])
def test_bad_safety_settings_are_named(bad):
    with pytest.raises(ConfigError):
        SafetyConfig.from_dict(bad)


names = st.sampled_from(["", "Ann", "ann", "Bob", "Cy", "Dee"])
items_st = st.lists(st.tuples(st.sampled_from("abcdefghij"), names, st.sampled_from(["x", "bad word", "fine"])),
                    max_size=30, unique_by=lambda t: t[0])
configs = st.builds(SafetyConfig, items=st.lists(st.sampled_from("abcdefghij"), max_size=3).map(tuple),
                    creators=st.lists(names, max_size=2).map(tuple),
                    terms=st.lists(st.sampled_from(["bad", "bad word", "nothing"]), max_size=2).map(tuple),
                    max_per_creator=st.none() | st.integers(1, 3))


@settings(max_examples=200, deadline=None)
@given(items_st, configs, st.integers(0, 12))
def test_filter_invariants(rows, safety, top):
    ranked = [item(i, creator=c, title=t) for i, c, t in rows]
    out = filters.apply(ranked, top, safety)
    shown = [ranked[p] for p in out.shown]
    assert list(out.shown) == sorted(out.shown) and len(shown) <= top  # a subsequence, best first
    assert not any(safety.blocked(i) for i in shown)
    if safety.max_per_creator:
        counts: dict = {}
        for i in shown:
            if i.creator:
                key = " ".join(i.creator.casefold().split())
                counts[key] = counts.get(key, 0) + 1
        assert max(counts.values(), default=0) <= safety.max_per_creator
    hidden = {h.item.id for h in out.hidden}
    assert not hidden & {i.id for i in shown}
    # nothing is lost silently: every item ranked above the last shown one is either shown or hidden
    last = out.shown[-1] if out.shown else -1
    assert {i.id for i in ranked[: last + 1]} <= hidden | {i.id for i in shown}
    # and the list is only short when the filters ran out of items
    if len(shown) < top:
        assert len(shown) + len(out.hidden) == len(ranked)


# -- inside recommend() -----------------------------------------------------------------------------------------
def test_recommend_hides_blocked_items_and_explains(catalog, fake_models):
    q = Query(history=("m:up", "m:shrek"), config=CFG, top=5)
    plain = recommend(catalog, q, fake_models)
    top_two = [r.item.id for r in plain.recommendations[:2]]
    blocked = Query(history=q.history, config=CFG, top=5, safety=SafetyConfig(items=tuple(top_two)))
    result = recommend(catalog, blocked, fake_models)
    ids = [r.item.id for r in result.recommendations]
    assert not set(ids) & set(top_two) and len(ids) == 5
    assert ids[:3] == [r.item.id for r in plain.recommendations[2:5]]  # the rest moves up, in score order
    assert [r.rank for r in result.recommendations] == [1, 2, 3, 4, 5]
    assert result.hidden == tuple(top_two)
    assert "2 items hidden by the blocklist" in result.notes
    assert result.to_dict()["hidden"] == top_two
    # scores are untouched by filtering, and still decompose exactly
    by_id = {r.item.id: r for r in plain.recommendations}
    for r in result.recommendations:
        assert sum(c.value for c in r.contributions) == pytest.approx(r.score)
        if r.item.id in by_id:
            assert r.score == pytest.approx(by_id[r.item.id].score)
    # the conditional matrix follows the shown items
    assert np.array(result.conditional).shape == (2, 5)


def test_recommend_caps_one_creator(demo_catalog, fake_models):
    music = demo_catalog.dataset_items("music")
    by = {c: [i.id for i in music if i.creator == c] for c in ("Bob Marley & The Wailers", "John Coltrane")}
    other = next(i.id for i in music if i.creator not in by)
    history = tuple(i.id for i in music if i.creator not in by and i.id != other)[:2]
    candidates = (*by["Bob Marley & The Wailers"], *by["John Coltrane"], other)
    q = Query(history=history, config=CFG, top=8, candidates=candidates, safety=SafetyConfig(max_per_creator=1))
    result = recommend(demo_catalog, q, fake_models)
    creators = [r.item.creator for r in result.recommendations]
    assert sorted(creators) == sorted(["Bob Marley & The Wailers", "John Coltrane",
                                       next(i.creator for i in music if i.id == other)])
    assert len(result.hidden) == len(candidates) - 3 == 5
    assert result.notes[-2:] == ("5 items hidden by the per-creator limit (diversity)",
                                 "only 3 of the 8 requested items are left after filtering")
    # each creator keeps its best-scored item
    plain = recommend(demo_catalog, Query(history=history, config=CFG, top=8, candidates=candidates), fake_models)
    firsts = {}
    for r in plain.recommendations:
        firsts.setdefault(r.item.creator, r.item.id)
    assert {r.item.id for r in result.recommendations} == set(firsts.values())


def test_the_deployment_default_comes_from_RECSYS_SAFETY(catalog, fake_models, tmp_path, monkeypatch):
    path = tmp_path / "safety.toml"
    path.write_text('items = ["m:toy-story", "m:finding-nemo"]\nterms = ["heat"]\n', encoding="utf-8")
    monkeypatch.setenv(filters.SAFETY_ENV, str(path))
    q = Query(history=("m:up",), config=CFG, top=10)
    result = recommend(catalog, q, fake_models)
    assert not {"m:toy-story", "m:finding-nemo", "m:heat"} & {r.item.id for r in result.recommendations}
    assert "3 items hidden by the blocklist" in result.notes
    # an explicit setting on the query wins (e.g. an admin view with the filters off)
    off = recommend(catalog, Query(history=("m:up",), config=CFG, top=10, safety=NO_FILTERS), fake_models)
    assert off.hidden == () and len(off.recommendations) == 9
    # the file is re-read when it changes
    path.write_text("max_per_creator = 2\n", encoding="utf-8")
    import os
    os.utime(path, (1, 1))
    assert recommend(catalog, q, fake_models).hidden == ()


@pytest.mark.parametrize("name,content,match", [
    ("s.toml", "items = [", "not valid UTF-8 TOML"),
    ("s.json", "{items: 1}", "not valid UTF-8 JSON"),
    ("s.toml", b"\xff\xfe\x00i", "not valid UTF-8"),
    ("s.toml", "items = 3", "must be a list"),
    ("s.json", '{"max_per_creator": -1}', "max_per_creator"),
])
def test_a_bad_safety_file_is_a_clear_error(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError, match=match):
        load_safety(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_safety(tmp_path / "missing.toml")


def test_hostile_blocklist_terms_are_literal(catalog):
    """Terms are text, not regular expressions: '.*' blocks only the literal characters."""
    safety = SafetyConfig(terms=(".*", "(a|b)", "\\"))
    assert filters.blocked_ids(catalog.dataset_items("m"), safety) == []
    assert safety.blocked(make_item({"id": "x", "title": "say .* now"}, "m", "movies")) == "term '.*'"
