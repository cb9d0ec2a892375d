"""Plotly figures of a `Result`: what the app draws and exports, built from the same numbers `recommend --json`
prints. No Streamlit here.

- `contribution_bars(result, rank)`: one recommendation's score as its parts: a bar per liked item, stacked by
  term (language model, similarity), and the prior; they add up to the score.
- `heatmap(result)`: liked items × recommendations of each item's total part.
- `weights_bar(result)`: the history weights w_i.

Catalog text is data: every label passes through `plain()`, which escapes the few HTML-like tags Plotly would
otherwise render, so a title shows literally. Hover boxes give the exact values.
"""
from __future__ import annotations

import plotly.graph_objects as go

from .types import LM, PRIOR, SIMILARITY, Result, history_key

POSITIVE, NEGATIVE, TOTAL = "#2e7d6b", "#c0504d", "#3b5b92"
FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13)
MAX_LABEL = 30  # characters of a liked item's title on an axis: in a 380-px card, 42 left the bars 60 px
MAX_TITLE = 30  # characters of a recommendation's title in its chart's title: one line in a 380-px card


def plain(text: str, limit: int | None = None) -> str:
    """Text Plotly shows as written: '&', '<', '>' as entities (Plotly decodes them back for display)."""
    text = str(text)
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=15)), height=height, font=FONT,
        margin=dict(l=10, r=20, t=50, b=10), plot_bgcolor="white", paper_bgcolor="white",
        hoverlabel=dict(font=dict(family=FONT["family"], size=12)),
    )
    return fig


LM_COLOR, SIM_COLOR, PRIOR_COLOR = "#3b5b92", "#e08a2c", "#7a8793"
TERM_NAMES = {LM: "language model", SIMILARITY: "similarity"}
# The contribution chart's key, a line under its title instead of a Plotly legend: a legend either sits over the
# bars and axis or, above them, wraps to one entry a row in the plot's width (about 150 px in the Recommend page's
# cards, where the axis labels take the rest). The prior is named on its own row and each sum is written out.
KEY = (f"<span style='font-size:12px'><span style='color:{LM_COLOR}'>■</span> language model\u2003"
       f"<span style='color:{SIM_COLOR}'>■</span> similarity\u2003│ part (sum)</span>")
KEY_ROOM = 22  # px the key's line adds above the plot


def _unique(labels: list[str]) -> list[str]:
    """Labels must be unique on a category axis: two history items can share a title."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def contribution_bars(result: Result, rank: int) -> go.Figure:
    """Recommendation `rank` (1-based): one horizontal bar per liked item, stacked by term (language model,
    similarity), and the prior beside them; the bars add up to the score. Long titles are cut on the axis and
    given whole on hover, so the chart reads the same with 1 or 20 liked items; the colours are named in one short
    line under the title (`KEY`), which cannot overlap the bars in any width."""
    rec = result.recommendations[rank - 1]
    items = [c for c in rec.contributions if c.name != PRIOR]
    prior = next((c for c in rec.contributions if c.name == PRIOR), None)
    labels = _unique([f"{k + 1}. {plain(c.label, MAX_LABEL)}" for k, c in enumerate(items)])
    prior_label = "popularity prior"
    fig = go.Figure()
    for term, color in ((LM, LM_COLOR), (SIMILARITY, SIM_COLOR)):
        values = [c.term(term) for c in items]
        fig.add_bar(
            y=labels, x=values, orientation="h", name=TERM_NAMES[term], marker=dict(color=color),
            customdata=[[plain(c.label), c.value] for c in items],
            hovertemplate=(f"liked: %{{customdata[0]}}<br>{TERM_NAMES[term]}: %{{x:+.6f}}"
                           "<br>this item's part: %{customdata[1]:+.6f}<extra></extra>"))
    if prior is not None:
        fig.add_bar(y=[prior_label], x=[prior.value], orientation="h", name="popularity prior",
                    marker=dict(color=PRIOR_COLOR),
                    hovertemplate="popularity prior (does not depend on the history): %{x:+.6f}<extra></extra>")
    totals = [c.value for c in items] + ([prior.value] if prior is not None else [])
    fig.add_scatter(y=labels + ([prior_label] if prior is not None else []), x=totals, mode="markers+text",
                    marker=dict(symbol="line-ns-open", size=14, color="#1f2933"), name="part (sum)",
                    text=[f"{v:+.2f}" for v in totals], textposition="middle right", textfont=dict(size=11),
                    cliponaxis=False,  # a sum beside the longest bar is drawn in the right margin, not cut
                    hovertemplate="part (the sum of its bars): %{x:+.6f}<extra></extra>")
    fig.update_layout(barmode="relative", showlegend=False)
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=12), automargin=True)
    fig.update_xaxes(title=dict(text="contribution to the score", font=dict(size=13, color="#1f2933")),
                     zeroline=True, zerolinecolor="#9aa5b1", gridcolor="#eef1f4")
    title = f"#{rec.rank} {plain(rec.item.title, MAX_TITLE)}: score {rec.score:+.3f}<br>{KEY}"
    fig = _layout(fig, title, height=KEY_ROOM + 150 + 30 * (len(items) + 1))
    fig.update_layout(margin=dict(t=50 + KEY_ROOM, r=45))
    return fig


def _axis_labels(titles: list[str], prefix: list[str]) -> list[str]:
    return [f"{p}{plain(t, 30)}" for p, t in zip(prefix, titles)]


def heatmap(result: Result) -> go.Figure | None:
    """Liked items (rows, oldest on top) × recommendations (columns, by rank): each liked item's total part of
    each score (language model + similarity). None for an empty history."""
    if not result.history or not result.recommendations:
        return None
    recs = result.recommendations
    parts = [{c.name: c for c in r.contributions} for r in recs]
    keys = [history_key(i.id) for i in result.history]
    y = _unique(_axis_labels([i.title for i in result.history], [f"{k + 1}. " for k in range(len(keys))]))
    x = _axis_labels([r.item.title for r in recs], [f"#{r.rank} " for r in recs])
    z = [[p[k].value if k in p else 0.0 for p in parts] for k in keys]
    custom = [[[plain(h.title), plain(r.item.title), p[k].term(LM) if k in p else 0.0,
                p[k].term(SIMILARITY) if k in p else 0.0] for r, p in zip(recs, parts)]
              for h, k in zip(result.history, keys)]
    bound = max([abs(v) for row in z for v in row] + [1e-9])
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, customdata=custom, colorscale="RdBu", zmid=0, zmin=-bound, zmax=bound,
        colorbar=dict(title=dict(text="part")),
        hovertemplate=("liked: %{customdata[0]}<br>recommended: %{customdata[1]}<br>part of the score: %{z:+.6f}"
                       "<br>language model %{customdata[2]:+.6f} · similarity %{customdata[3]:+.6f}"
                       "<extra></extra>"),
        xgap=1, ygap=1,
    ))
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(tickangle=-35, automargin=True)
    return _layout(fig, "Which liked item drives which recommendation (parts of the scores)",
                   height=max(360, 230 + 28 * len(y)))


def weights_bar(result: Result) -> go.Figure:
    """The weight w_i of each history item in the language-model term (0: older than the LM's history window)."""
    titles = [plain(i.title, MAX_LABEL) for i in result.history]
    labels = [f"{k + 1}. {t}" for k, t in enumerate(titles)]
    fig = go.Figure(go.Bar(
        x=list(result.weights), y=labels, orientation="h", marker=dict(color=TOTAL),
        text=[f"{w:.3f}" for w in result.weights], textposition="outside",
        customdata=[plain(i.title) for i in result.history],
        hovertemplate="%{customdata}<br>w_i = %{x:.6f}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="weight in the language-model term (sums to 1)", gridcolor="#eef1f4",
                     range=[0, max([*result.weights, 0.1]) * 1.2])
    title = "History weights (oldest first; recency decay × emphasis)"
    return _layout(fig, title, height=max(220, 90 + 34 * len(labels)))


def lm_share(contributions) -> float:
    """The language model's share of a score: Σ|LM parts| / Σ|all term parts| (0 when all are 0)."""
    parts = [v for c in contributions for v in ((t for _, t in c.terms) if c.terms else (c.value,))]
    lm = sum(abs(c.term(LM)) for c in contributions)
    total = sum(abs(v) for v in parts)
    return lm / total if total else 0.0
