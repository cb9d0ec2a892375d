"""Shareable links: the page state survives a round trip through query parameters, and no link crashes."""
from urllib.parse import parse_qsl, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.config import ScoringConfig
from recsys.ui.share import (CHOICES, RANGES, PageState, join_ids, parse_params, split_ids, to_params)

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).map(
    str.strip).filter(bool)
id_lists = st.lists(ids, max_size=8, unique=True).map(tuple)


def _in(name, kind=float):
    low, high = RANGES[name]
    if kind is int:
        return st.integers(int(low), int(high))
    return st.floats(low, high, allow_nan=False)


configs = st.builds(
    lambda model, fusion, calibration, gamma, alpha, beta, lam, n, h, std: ScoringConfig(
        model=model, fusion=fusion, calibration=calibration, gamma=gamma, alpha=alpha, beta=beta, lam=lam,
        n_candidates=n, max_history=h, standardize=std),
    st.sampled_from(CHOICES["model"]), st.sampled_from(CHOICES["fusion"]), st.sampled_from(CHOICES["calibration"]),
    _in("gamma").filter(lambda g: g > 0), _in("alpha"), _in("beta"), _in("lam"), _in("n_candidates", int),
    _in("max_history", int), st.booleans(),
)


@st.composite
def states(draw):
    history = draw(id_lists)
    emphasis = draw(st.sampled_from(history)) if history and draw(st.booleans()) else None
    return PageState(
        dataset=draw(st.none() | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)),
        history=history, emphasis=emphasis,
        emphasis_weight=draw(_in("emphasis_weight")) if emphasis else 2.0,
        exclude=draw(id_lists), top=draw(_in("top", int)), config=draw(configs),
    )


@given(id_lists)
def test_id_lists_round_trip_even_with_commas_and_backslashes(values):
    assert tuple(split_ids(join_ids(values))) == values


@settings(max_examples=200, deadline=None)  # correctness, not speed: a loaded CI machine misses a 200-ms deadline
@given(states())
def test_state_round_trips_through_a_real_query_string(state):
    # through urlencode/parse_qsl, as a browser and Streamlit would carry it
    query = urlencode(to_params(state))
    parsed, warnings = parse_params(dict(parse_qsl(query, keep_blank_values=True)))
    assert warnings == []
    assert parsed == state


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["dataset", "domain", "history", "exclude", "emphasis", "emphasis_weight",
                                        "top", "model", "fusion", "calibration", "gamma", "alpha", "beta", "lam",
                                        "n_candidates", "max_history", "standardize", "other"]),
                       st.text(max_size=40) | st.lists(st.text(max_size=10), max_size=3)))
def test_any_link_parses_to_a_usable_state_or_warns(params):
    state, warnings = parse_params(params)
    assert isinstance(state.config, ScoringConfig)  # valid by construction (its checks ran)
    assert all(isinstance(w, str) and w for w in warnings)
    for name in ("gamma", "alpha", "beta", "lam", "n_candidates", "max_history"):
        low, high = RANGES[name]
        assert low <= getattr(state.config, name) <= high
    assert 1 <= state.top <= 50
    assert state.emphasis is None or state.emphasis in state.history


def test_defaults_make_an_empty_link():
    assert to_params(PageState()) == {}


def test_readable_warnings_for_bad_values_and_defaults_kept():
    state, warnings = parse_params({"fusion": "sum", "gamma": "abc", "beta": "1e9", "n_candidates": "2.5",
                                    "model": "https://evil.example/model", "dataset": "../etc", "top": "5"})
    assert state.config == ScoringConfig() and state.dataset is None and state.top == 5
    text = " ".join(warnings)
    for word in ("fusion", "gamma", "beta", "n_candidates", "model", "dataset"):
        assert word in text
    assert len(warnings) == 6


def test_brief_example_link():
    state, warnings = parse_params({"domain": "movies", "history": "movies:toy-story,movies:coco",
                                    "fusion": "product"})
    assert warnings == [] and state.dataset == "movies"
    assert state.history == ("movies:toy-story", "movies:coco")
