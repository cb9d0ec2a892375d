"""Widgets several pages use: engine errors as messages, the settings panel, a dataset picker, item lines,
and chart display with PNG/HTML export. Catalog text goes through `md()` or `st.text`, never raw Markdown."""
from __future__ import annotations

import logging
import shutil
from contextlib import contextmanager

import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitAPIException

from ..catalog import Catalog, Item
from ..errors import (ConfigError, EmptyCandidatesError, ImportFormatError, ModelLoadError, RecsysError,
                      UnknownItemsError)
from . import state
from .safe import md
from .share import CHOICES, RANGES

log = logging.getLogger(__name__)

WHAT_TO_DO = [
    (UnknownItemsError, "Remove those items from the history (or open a link made for this database)."),
    (EmptyCandidatesError, "Raise the number of candidates, or pick a dataset with more items."),
    (ModelLoadError, "Choose another model in the settings; the embedded ones are installed by `make setup`."),
    (ImportFormatError, "Fix the file at the place named above (or choose the right format), then import again."),
    (ConfigError, "Change that setting and try again."),
]


def show_error(error: BaseException, doing: str) -> None:
    """An engine error as a message with what to do; anything else as a short message, details in the log."""
    if isinstance(error, RecsysError):
        hint = next((h for kind, h in WHAT_TO_DO if isinstance(error, kind)), "")
        st.error(f"Could not {doing}: {md(error)}" + (f"  \n{hint}" if hint else ""), icon=":material/error:")
    else:
        log.exception("unexpected error while trying to %s", doing)
        st.error(f"Could not {doing}: an unexpected {type(error).__name__} ({md(error, 200)}).  \n"
                 "Try again; if it persists, reset the settings. The server log has the details.",
                 icon=":material/error:")


@contextmanager
def guard(doing: str):
    """`with guard("rank the candidates"):` — errors inside become messages on the page, never tracebacks."""
    try:
        yield
    except StreamlitAPIException:  # a bug in the page itself: let Streamlit report it
        raise
    except Exception as e:  # noqa: BLE001 - the edge of the app (st.rerun/st.stop are BaseExceptions, not caught)
        show_error(e, doing)


def dataset_label(catalog: Catalog):
    info = {d.name: d for d in catalog.datasets()}

    def label(name: str) -> str:
        d = info.get(name)
        return f"{name} ({d.domain}, {d.items:,} items)" if d else name

    return label


def dataset_picker(catalog: Catalog, key: str, label: str = "Catalog", help: str | None = None,
                   where=st, on_change=None) -> str | None:
    names = [d.name for d in catalog.datasets()]
    if not names:
        where.warning("This database holds no dataset yet. Import one on the Catalog page.")
        return None
    if state.value(key) not in names:
        st.session_state[key] = names[0]
    return state.kept(where.selectbox, label, names, key=key, format_func=dataset_label(catalog), help=help,
                      on_change=on_change)


def item_caption(item: Item, tags: bool = True) -> str:
    """creator · year · tags, escaped for Markdown."""
    bits = [item.creator, str(item.year) if item.year else "", ", ".join(item.tags[:4]) if tags else ""]
    return " · ".join(md(b, 80) for b in bits if b)


def settings_panel() -> None:
    """The Recommend page's settings (sidebar), with help text and a reset; values live in session state."""
    state.init()
    sb = st.sidebar
    sb.subheader("Settings")
    state.kept(sb.selectbox, "Language model", CHOICES["model"], key="set_model",
               help="The causal LM that judges how likely each candidate follows each liked item. "
                    "smollm2-135m is fast; gemma3-270m is larger and slower.")
    state.kept(sb.slider, "Candidates", *map(int, RANGES["n_candidates"]), step=5, key="set_n_candidates",
               help="How many catalog items are retrieved by embedding similarity to the history (plus a few "
                    "popular ones) and then scored by the language model. More: slower, broader.")
    state.kept(sb.slider, "Recommendations shown", *map(int, RANGES["top"]), key=state.TOP)
    state.kept(sb.radio, "Fusion reading", CHOICES["fusion"], key="set_fusion", horizontal=True,
               help="product: the score is a weighted sum of log-probabilities, every liked item must agree "
                    "(product of experts). mixture: log of a weighted sum of probabilities, one strongly "
                    "matching liked item is enough.")
    state.kept(sb.radio, "Calibration", CHOICES["calibration"], key="set_calibration", horizontal=True,
               help="pmi subtracts how likely a title is in a neutral prompt, so short, common titles are not "
                    "favoured; raw keeps the plain log-probability. PMI ranks much better in our measurements.")
    state.kept(sb.slider, "Recency decay γ", *RANGES["gamma"], step=0.05, key="set_gamma",
               help="Weight of each liked item ∝ γ^(age): 1 treats the history equally, lower values favour "
                    "the most recent items.")
    state.kept(sb.slider, "Prior strength β", *RANGES["beta"], step=0.1, key="set_beta",
               help="Weight of the popularity prior (0 switches it off).")
    state.kept(sb.slider, "Embedding term λ", *RANGES["lam"], step=0.1, key="set_lam",
               help="Weight of the cosine similarity between a candidate and the history (0 switches it off).")
    with sb.expander("More settings"):
        state.kept(st.slider, "Language-model weight α", *RANGES["alpha"], step=0.1, key="set_alpha",
                   help="Weight of the LM term; 0 ranks by embeddings and prior alone.")
        state.kept(st.slider, "History items the LM reads", *map(int, RANGES["max_history"]), key="set_max_history",
                   help="Only the most recent items are scored by the language model (each costs one prompt).")
        state.kept(st.toggle, "Standardise terms", key="set_standardize",
                   help="Put the LM, prior and similarity terms on one scale (z-scores over the candidates) "
                        "before weighting; without it the LM term tends to swamp the others.")
    sb.button("Reset settings", on_click=state.reset_settings, width="stretch",
              help="Back to the defaults (the measured best settings).")


def chart(fig: go.Figure | None, key: str, name: str) -> None:
    """A Plotly figure whose camera icon downloads a PNG named after the chart."""
    if fig is None:
        return
    st.plotly_chart(fig, key=key, config={
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2},
    })


def export_buttons(fig: go.Figure, name: str, key: str) -> None:
    """PNG (rendered on the server through Kaleido and Chromium) and standalone HTML of one figure, made only
    when clicked."""
    left, right = st.columns(2)
    left.download_button("Chart as HTML", data=lambda: fig.to_html(include_plotlyjs=True, full_html=True),
                         file_name=f"{name}.html", mime="text/html", key=f"{key}_html", on_click="ignore",
                         width="stretch")
    if shutil.which("chromium") or shutil.which("google-chrome") or shutil.which("chrome"):
        right.download_button("Chart as PNG", data=lambda: fig.to_image(format="png", width=1200, height=600,
                                                                         scale=2),
                              file_name=f"{name}.png", mime="image/png", key=f"{key}_png", on_click="ignore",
                              width="stretch")
    else:
        right.caption("PNG: use the camera icon on the chart (server-side PNG needs Chromium).")
