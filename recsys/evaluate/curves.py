"""ROC and PR curves of an evaluation as Plotly figures, saved as HTML (always) and PNG (when Chromium exists).

The figures are built from the `EvalResult` alone (its thinned curves), so the app draws the same ones from a
stored evaluation; with many methods they draw the default set and the tuned ones (the areas of all are in the
metric table). PNG export goes through kaleido, which drives a headless Chromium: `BROWSER_PATH` is pointed
at /usr/bin/chromium when it is unset and that file exists.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import plotly.graph_objects as go

log = logging.getLogger(__name__)
CHROMIUM = "/usr/bin/chromium"


def _area(a: float) -> str:
    return "n/a" if a is None or (isinstance(a, float) and math.isnan(a)) else f"{a:.3f}"


def curve_methods(result, most: int = 14) -> list[str]:
    """The methods a figure draws: all of them when few, else the default set plus tuned (`name/...`) methods."""
    from .methods import DEFAULT_METHODS

    names = list(result.methods)
    if len(names) <= most:
        return names
    return [n for n in names if n in DEFAULT_METHODS or "/" in n][:most]


def roc_figure(result, methods: list[str] | None = None) -> go.Figure:
    fig = go.Figure()
    methods = methods or curve_methods(result)
    for name, m in result.methods.items():
        if name not in methods:
            continue
        fig.add_trace(go.Scatter(x=m.roc.x, y=m.roc.y, mode="lines", name=f"{name} (AUC {_area(m.roc.area)})"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "grey"}))
    fig.update_layout(title=f"ROC: {result.spec.dataset}, {result.spec.protocol}, {result.users} users",
                      xaxis_title="false positive rate", yaxis_title="true positive rate", width=760, height=560,
                      legend={"font": {"size": 10}})
    return fig


def pr_figure(result, methods: list[str] | None = None) -> go.Figure:
    fig = go.Figure()
    methods = methods or curve_methods(result)
    for name, m in result.methods.items():
        if name not in methods:
            continue
        fig.add_trace(go.Scatter(x=m.pr.x, y=m.pr.y, mode="lines", name=f"{name} (AP {_area(m.pr.area)})"))
    fig.update_layout(title=f"Precision-recall: {result.spec.dataset}, {result.spec.protocol}, {result.users} users",
                      xaxis_title="recall", yaxis_title="precision", width=760, height=560,
                      legend={"font": {"size": 10}})
    return fig


def save_curves(result, directory: str | Path, stem: str, png: bool = True) -> list[Path]:
    """Write `{stem}.roc.html`, `{stem}.pr.html` and, if possible, the PNGs; returns the files written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if png and "BROWSER_PATH" not in os.environ and Path(CHROMIUM).exists():
        os.environ["BROWSER_PATH"] = CHROMIUM
    written = []
    for kind, fig in (("roc", roc_figure(result)), ("pr", pr_figure(result))):
        html = directory / f"{stem}.{kind}.html"
        fig.write_html(html, include_plotlyjs="cdn")
        written.append(html)
        if png:
            try:
                fig.write_image(directory / f"{stem}.{kind}.png", scale=1)
                written.append(directory / f"{stem}.{kind}.png")
            except Exception as e:  # kaleido raises several kinds when no browser can be started
                log.warning("PNG export failed (%s); HTML written. Install chromium for PNGs.", e)
                png = False
    return written
