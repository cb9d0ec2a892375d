"""Widgets several pages use: engine errors as messages, the settings panel, a dataset picker, item lines,
and chart display with PNG/HTML export. Catalog text goes through `md()` or `st.text`, never raw Markdown."""
from __future__ import annotations

import logging
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

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
    except ImportErrorShown:  # already on the page, readably
        pass
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


FUSION_TEXT = {"product": "every liked item must agree", "mixture": "one close match is enough"}
CALIBRATION_TEXT = {"pmi": "discount common titles", "raw": "plain likelihood"}


def settings_panel() -> None:
    """The Recommend page's settings (sidebar): plain words first, the formula's symbols in the help, and the
    fine-tuning under Advanced; values live in session state."""
    state.init()
    sb = st.sidebar
    sb.subheader("Settings")
    state.kept(sb.selectbox, "Language model", CHOICES["model"], key="set_model",
               help="The causal LM that judges how likely each candidate follows each liked item. "
                    "smollm2-135m is fast; gemma3-270m is larger and slower.")
    state.kept(sb.slider, "Candidates retrieved by similarity", *map(int, RANGES["n_candidates"]), step=5,
               key="set_n_candidates",
               help="How many catalog items closest in content to your history are retrieved; the 5 most popular "
                    "other items are added, and all of them are scored by the language model. More: slower, "
                    "broader.")
    state.kept(sb.slider, "Recommendations shown", *map(int, RANGES["top"]), key=state.TOP)
    with sb.expander("Advanced", icon=":material/tune:"):
        state.kept(st.slider, "How much the language model counts", *RANGES["alpha"], step=0.05, key="set_alpha",
                   help="α, the weight of the language-model term; 0 ranks by content similarity and popularity "
                        "alone.")
        state.kept(st.slider, "Popularity weight", *RANGES["beta"], step=0.1, key="set_beta",
                   help="β, the weight of the popularity prior log π(y); 0 switches it off.")
        state.kept(st.slider, "Content-similarity weight", *RANGES["lam"], step=0.1, key="set_lam",
                   help="λ, the weight of cos(y, H), the embedding similarity of a candidate to the history; "
                        "0 switches it off.")
        state.kept(st.slider, "Favour recent items", *RANGES["gamma"], step=0.05, key="set_gamma",
                   help="γ, the recency decay: each liked item weighs γ^(its age). 1 treats the history equally; "
                        "lower values favour the most recent items.")
        state.kept(st.radio, "How liked items combine", CHOICES["fusion"], key="set_fusion",
                   format_func=lambda v: FUSION_TEXT.get(v, v),
                   help="Every liked item must agree: a product of experts, Σ_i w_i log p (fusion 'product'). "
                        "One close match is enough: a mixture, log Σ_i w_i p (fusion 'mixture').")
        state.kept(st.radio, "Language-model calibration", CHOICES["calibration"], key="set_calibration",
                   format_func=lambda v: CALIBRATION_TEXT.get(v, v),
                   help="Discount common titles: subtract how likely a title is after a neutral prompt, so short, "
                        "common titles are not favoured (PMI, 'pmi'; ranks much better in our measurements). "
                        "Plain likelihood: the raw log-probability ('raw').")
        state.kept(st.slider, "Liked items the language model reads", *map(int, RANGES["max_history"]),
                   key="set_max_history",
                   help="Only the most recent items are scored by the language model (each costs one prompt).")
        state.kept(st.toggle, "Put the terms on one scale", key="set_standardize",
                   help="z-score the language-model, popularity and similarity terms over the candidates before "
                        "weighting; without it the language-model term tends to swamp the others.")
        precision_setting(st)
    sb.button("Reset settings", on_click=state.reset_settings, width="stretch",
              help="Back to the defaults (the measured best settings).")


def precision_setting(where) -> None:
    """The models' numeric type, what is in use and why, and the background ℓ(y|∅) scoring's progress."""
    from ..precision import PRECISIONS, parse
    from . import loaders

    key = loaders.PRECISION_KEY
    if key not in st.session_state and state._saved(key) not in st.session_state:
        st.session_state[key] = parse(None)  # $RECSYS_PRECISION, else auto
    state.kept(where.selectbox, "Numeric precision", PRECISIONS, key=key,
               help="auto: bfloat16 where this machine runs it natively (AVX-512 BF16, AMX or a CUDA GPU; "
                    "about twice as fast, the ranking measured against float32 in docs/speed.md), float32 "
                    "elsewhere. Scores of each precision are cached apart. A change loads the models again.")
    models = loaders.models()
    cfg = state.config()
    where.caption(f"In use: language model {models.lm_precision(cfg.model).describe()}; embedder "
                  f"{models.embedder_precision(cfg.embedder).describe()}.")
    job = loaders.neutral_job()
    if job is not None:
        where.caption(job.line())


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


def readable_curves(fig: go.Figure) -> go.Figure:
    """An evaluation's ROC or PR figure sized for half the page: the legend below the plot (one line per method,
    so 14 methods do not squeeze it), the title wrapped, axis titles dark and legible."""
    title = fig.layout.title.text or ""
    head, _, rest = title.partition(": ")
    fig.update_layout(
        width=None, height=520, title=dict(text=f"{head}<br><sup>{rest}</sup>" if rest else title, x=0,
                                           xanchor="left", font=dict(size=15)),
        legend=dict(orientation="h", y=-0.22, x=0, yanchor="top", font=dict(size=12)),
        margin=dict(l=10, r=10, t=60, b=10), font=dict(size=13), plot_bgcolor="white",
    )
    axis = dict(title_font=dict(size=14, color="#1f2933"), tickfont=dict(size=12), gridcolor="#eef1f4",
                range=[0, 1.01], automargin=True)
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    return fig


def candidate_counts(result) -> str:
    """What the candidates were, counted from the result: "55 candidates (50 retrieved by similarity + 5 popular)"."""
    n = result.candidates_considered
    q = result.query
    if q.candidates is not None:
        return f"{n} candidates (the previous list's, kept so that only new rows are scored)"
    if not q.history or "embedding model" in result.degraded:
        return f"{n} candidates (the most popular)"
    retrieved = min(q.config.n_candidates, n)
    popular = n - retrieved
    return f"{n} candidates ({retrieved} retrieved by similarity + {popular} popular)"


def result_summary(result) -> str:
    """The line above a list: time, candidates, pairs scored now — every number from the result itself."""
    from .loaders import seconds_of

    model = md(result.model) if result.model else "no language model"
    return (f":material/timer: **{seconds_of(result)}** · {candidate_counts(result)} · "
            f"{result.pairs_computed} pairs newly scored by **{model}** (the rest from the cache)")


def stage_timings(result) -> str:
    return "Time per stage: " + ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings.items() if k != "total") + "."


_QUOTED_LINE = re.compile(r""": (?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")$""", re.S)


def file_line(data: bytes, number: int, limit: int = 300) -> str | None:
    """Line `number` (1-based) of a file's bytes, decoded leniently and cut to `limit` characters."""
    if not number or number < 1:
        return None
    lines = data.splitlines()
    if number > len(lines):
        return None
    text = lines[number - 1].decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_import_error(error: ImportFormatError, uploads: dict[str, tuple[str, bytes]]) -> None:
    """A malformed file as a person reads it: the file's own name (an upload's, never the server's temporary
    path), the line number, what is wrong, and the offending line shown as it is in the file."""
    name, data = uploads.get(error.path, (error.path, None))
    if data is None:
        try:
            with open(error.path, "rb") as f:
                data = f.read(64 << 20)
        except OSError:
            data = b""
    text = str(error)
    where = f"{error.path}, line {error.line}" if error.line else error.path
    what = text[len(where) + 2:] if text.startswith(where) else text
    what = _QUOTED_LINE.sub("", what)
    st.error(f"Could not import **{md(Path(name).name)}**" + (f", line {error.line}" if error.line else "")
             + f": {md(what)}.  \n{WHAT_TO_DO[3][1]}", icon=":material/error:")
    line = file_line(data, error.line)
    if line is not None:
        st.caption(f"Line {error.line} of {md(Path(name).name)}:")
        st.code(line, language=None, wrap_lines=True)


class ImportErrorShown(Exception):
    """Raised after an import error has been shown, to stop the import's block without a second message."""


@contextmanager
def readable_import_errors(uploads: dict[str, tuple[str, bytes]]):
    """`with readable_import_errors(uploads):` an ImportFormatError inside is shown by `show_import_error`."""
    try:
        yield
    except ImportFormatError as e:
        show_import_error(e, uploads)
        raise ImportErrorShown() from None
