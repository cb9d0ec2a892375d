"""Session state shared by the pages: one place that names every key, its default, and how the Recommend page's
state becomes a `PageState` (and a link) and back.

Streamlit forgets a widget's value when its page is not shown; widgets drawn through `kept()` keep theirs, so
settings and a rater's name survive switching pages.
"""
from __future__ import annotations

import streamlit as st

from ..config import ScoringConfig
from .share import DEFAULT_EMPHASIS, DEFAULT_TOP, PageState

# widget key -> ScoringConfig field (the Recommend page's settings)
SETTINGS = {
    "set_model": "model",
    "set_n_candidates": "n_candidates",
    "set_fusion": "fusion",
    "set_calibration": "calibration",
    "set_gamma": "gamma",
    "set_alpha": "alpha",
    "set_beta": "beta",
    "set_lam": "lam",
    "set_standardize": "standardize",
    "set_max_history": "max_history",
}
TOP, DATASET, EMPHASIS_WEIGHT = "set_top", "rec_dataset", "rec_emphasis_weight"
HISTORY, EMPHASIS, EXCLUDE = "rec_history", "rec_emphasis", "rec_exclude"
RESULT, RESULT_INPUTS, SESSION_ID, RUN = "rec_result", "rec_result_inputs", "rec_session_id", "rec_run"
LINK_READ, NOTICES = "rec_link_read", "rec_notices"
KEEP_CANDIDATES = "rec_keep_candidates"  # (config, dataset, candidate ids) a re-rank after feedback keeps
FEEDBACK = "rec_feedback"  # (the list before a like or dislike, liked id, disliked id): what the re-rank changed
RATER = "rev_rater"


def _saved(key: str) -> str:
    return f"_kept_{key}"


def kept(widget, *args, key: str, **kwargs):
    """Draw `widget(*args, key=key, **kwargs)` so that its value outlives page switches and the browser's own
    copy of it.

    Streamlit drops the state of a widget that a run does not draw, so the value is copied aside after drawing.
    And it is handed to the widget through the session state on every run, not only the first: a run's element
    carries the value then, so a browser that has lost its copy of the widget's state shows and sends the kept
    value, not the widget's default ("" or the minimum: what the Review page showed under load, docs/load.md).
    """
    ss = st.session_state
    current = value(key)
    if current is not None:
        ss[key] = current
    drawn = widget(*args, key=key, **kwargs)
    ss[_saved(key)] = drawn
    return drawn


def setting_defaults() -> dict:
    d = ScoringConfig()
    out = {key: getattr(d, name) for key, name in SETTINGS.items()}
    out[TOP] = DEFAULT_TOP
    return out


def value(key: str, default=None):
    """A kept widget's value, also while its page is not shown."""
    ss = st.session_state
    return ss[key] if key in ss else ss.get(_saved(key), default)


def init() -> None:
    """Defaults for every key the Recommend page reads (never overwriting a value, shown or kept aside)."""
    ss = st.session_state
    for key, default in setting_defaults().items():
        if value(key) is None:
            ss[key] = default
    ss.setdefault(HISTORY, [])
    ss.setdefault(EMPHASIS, None)
    if value(EMPHASIS_WEIGHT) is None:
        ss[EMPHASIS_WEIGHT] = DEFAULT_EMPHASIS
    ss.setdefault(EXCLUDE, [])


def reset_settings() -> None:
    """The settings' Reset button (a callback: it runs before the widgets are drawn)."""
    for key, default in setting_defaults().items():
        st.session_state[key] = default


def config() -> ScoringConfig:
    return ScoringConfig().with_(**{name: value(key) for key, name in SETTINGS.items() if value(key) is not None})


def page_state() -> PageState:
    ss = st.session_state
    emphasis = ss.get(EMPHASIS)
    return PageState(
        dataset=value(DATASET), history=tuple(ss.get(HISTORY, ())), emphasis=emphasis,
        emphasis_weight=float(value(EMPHASIS_WEIGHT, DEFAULT_EMPHASIS)) if emphasis else DEFAULT_EMPHASIS,
        exclude=tuple(ss.get(EXCLUDE, ())), top=int(value(TOP, DEFAULT_TOP)), config=config(),
    )


def apply(state: PageState) -> None:
    """Put a PageState (from a link) into the session; the caller has checked its ids and dataset."""
    ss = st.session_state
    for key, name in SETTINGS.items():
        ss[key] = getattr(state.config, name)
    ss[TOP] = state.top
    if state.dataset:
        ss[DATASET] = state.dataset
    ss[HISTORY] = list(state.history)
    ss[EMPHASIS] = state.emphasis
    ss[EMPHASIS_WEIGHT] = state.emphasis_weight
    ss[EXCLUDE] = list(state.exclude)


def emphasis_map(state: PageState) -> dict[str, float]:
    return {state.emphasis: state.emphasis_weight} if state.emphasis else {}
