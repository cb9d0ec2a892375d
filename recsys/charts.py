"""Plotly figures of a `Result`: what the app draws and exports, built from the same numbers `recommend --json`
prints. No Streamlit here.

- `waterfall(result, rank)`: one recommendation's score as the sum of its parts (each history item, the prior,
  the similarity term), ending in a total bar equal to the score.
- `heatmap(result)`: history items × recommendations of the per-item normalised conditional s_ij.
- `weights_bar(result)`: the history weights w_i.

Catalog text is data: every label passes through `plain()`, which escapes the few HTML-like tags Plotly would
otherwise render, so a title shows literally. Hover boxes give the exact values.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go

from .types import PRIOR, SIMILARITY, Result

POSITIVE, NEGATIVE, TOTAL = "#2e7d6b", "#c0504d", "#3b5b92"
FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13)
MAX_LABEL = 42


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


def _part_label(name: str, label: str) -> str:
    if name == PRIOR:
        return "popularity prior"
    if name == SIMILARITY:
        return "similarity to history"
    return label


def waterfall(result: Result, rank: int) -> go.Figure:
    """The score of recommendation `rank` (1-based) as a waterfall of its contributions and their total."""
    rec = result.recommendations[rank - 1]
    parts = list(rec.contributions)
    names = [plain(_part_label(c.name, c.label), MAX_LABEL) for c in parts]
    kinds = ["history item" if c.name.startswith("history:") else "term" for c in parts]
    values = [c.value for c in parts]
    # Labels must be unique on a category axis: two history items could share a title.
    seen: dict[str, int] = {}
    for k, n in enumerate(names):
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[k] = f"{n} ({seen[n]})"
    x = [*names, "score"]
    full = [plain(_part_label(c.name, c.label)) for c in parts] + [plain(rec.item.title)]
    fig = go.Figure(go.Waterfall(
        orientation="v",
        measure=["relative"] * len(parts) + ["total"],
        x=x,
        y=[*values, rec.score],
        text=[f"{v:+.3f}" for v in values] + [f"{rec.score:.3f}"],
        textposition="outside",
        customdata=[[f, k] for f, k in zip(full, kinds + ["sum of the parts"])],
        hovertemplate="%{customdata[0]}<br>%{customdata[1]}: %{y:+.6f}<extra></extra>",
        increasing=dict(marker=dict(color=POSITIVE)),
        decreasing=dict(marker=dict(color=NEGATIVE)),
        totals=dict(marker=dict(color=TOTAL)),
        connector=dict(line=dict(color="#9aa5b1", width=1, dash="dot")),
    ))
    fig.update_yaxes(title_text="contribution to the score", zeroline=True, zerolinecolor="#9aa5b1",
                     gridcolor="#eef1f4")
    fig.update_xaxes(tickangle=-25 if len(x) > 4 else 0)
    title = f"#{rec.rank} {plain(rec.item.title, 60)}: score {rec.score:+.3f}"
    return _layout(fig, title, height=360)


def _axis_labels(titles: list[str], prefix: list[str]) -> list[str]:
    return [f"{p}{plain(t, 30)}" for p, t in zip(prefix, titles)]


def heatmap(result: Result) -> go.Figure | None:
    """History items (rows, oldest on top) × recommendations (columns, by rank) of s_ij; None without an LM."""
    if not result.conditional:
        return None
    by_id = {i.id: i for i in result.history}
    rows = [by_id[i] for i in result.conditional_history]
    recs = result.recommendations
    weight = dict(zip((i.id for i in result.history), result.weights))
    y = _axis_labels([r.title for r in rows], [f"{k + 1}. " for k in range(len(rows))])
    x = _axis_labels([r.item.title for r in recs], [f"#{r.rank} " for r in recs])
    z = [list(row) for row in result.conditional]
    custom = [[[plain(h.title), plain(r.item.title), math.exp(v), weight.get(h.id, 0.0)]
               for r, v in zip(recs, zrow)] for h, zrow in zip(rows, z)]
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, customdata=custom, colorscale="Viridis", colorbar=dict(title=dict(text="s_ij")),
        hovertemplate=("liked: %{customdata[0]}<br>recommended: %{customdata[1]}<br>"
                       "s_ij = log p(y|x) = %{z:.6f}<br>p(y|x) = %{customdata[2]:.6f}"
                       "<br>history weight w_i = %{customdata[3]:.6f}<extra></extra>"),
        xgap=1, ygap=1,
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-35)
    return _layout(fig, "Liked item × recommendation: s_ij", height=max(400, 230 + 40 * len(rows)))


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
    """The language model's share of a score's parts: Σ|history parts| / Σ|all parts| (0 when all are 0)."""
    total = sum(abs(c.value) for c in contributions)
    lm = sum(abs(c.value) for c in contributions if c.name.startswith("history:"))
    return lm / total if total else 0.0
