"""The figures draw the engine's numbers: a waterfall adds up to the score, the heatmap is `conditional`, the
weights bar is `weights`, and a hostile title is shown as text."""
import shutil

import numpy as np
import pytest

from recsys import charts
from recsys import fuse as F
from recsys.catalog import Item
from recsys.config import ScoringConfig
from recsys.types import PRIOR, SIMILARITY, Contribution, Query, Recommendation, Result, history_key

HOSTILE = '<img src=x onerror=alert(1)> & [click](javascript:alert(1))'


def make_result(fusion="product", titles=("Toy Story", HOSTILE, "Coco")) -> Result:
    """A result whose numbers come from the real fusion formula on fixed inputs."""
    history = tuple(Item(id=f"h{k}", title=t, dataset="d") for k, t in enumerate(titles))
    cands = tuple(Item(id=f"c{k}", title=f"Candidate {k}", dataset="d") for k in range(5))
    rng = np.random.default_rng(0)
    s = F.normalise(rng.normal(size=(len(history), len(cands))))
    w = F.history_weights(len(history), 0.8)
    fused = F.fuse(s, w, fusion, prior=rng.normal(size=len(cands)), beta=1.0, similarity=rng.random(len(cands)),
                   lam=1.0)
    order = list(np.argsort(-fused.scores))
    recs = []
    for r, j in enumerate(order):
        parts = [Contribution(history_key(h.id), h.title, float(fused.parts[j, k])) for k, h in enumerate(history)]
        parts += [Contribution(PRIOR, "popularity prior", float(fused.parts[j, -2])),
                  Contribution(SIMILARITY, "similarity to the history", float(fused.parts[j, -1]))]
        recs.append(Recommendation(cands[j], r + 1, float(fused.scores[j]), tuple(parts)))
    return Result(
        query=Query(history=tuple(h.id for h in history), config=ScoringConfig(fusion=fusion)),
        model="test", recommendations=tuple(recs), history=history, weights=tuple(map(float, w)),
        conditional=tuple(tuple(float(s[i, j]) for j in order) for i in range(len(history))),
        conditional_history=tuple(h.id for h in history), timings={"total": 1.0},
    )


@pytest.mark.parametrize("fusion", ["product", "mixture"])
def test_waterfall_adds_up_to_the_score(fusion):
    result = make_result(fusion)
    for rec in result.recommendations:
        fig = charts.waterfall(result, rec.rank)
        trace = fig.data[0]
        assert list(trace.measure) == ["relative"] * len(rec.contributions) + ["total"]
        assert list(trace.y[:-1]) == [c.value for c in rec.contributions]  # the engine's numbers, unrounded
        assert trace.y[-1] == rec.score
        assert sum(trace.y[:-1]) == pytest.approx(rec.score, abs=1e-9)


def test_heatmap_and_weights_are_the_result_numbers():
    result = make_result()
    hm = charts.heatmap(result).data[0]
    assert [list(r) for r in hm.z] == [list(r) for r in result.conditional]
    assert len(hm.x) == len(result.recommendations) and len(hm.y) == len(result.conditional_history)
    bar = charts.weights_bar(result).data[0]
    assert tuple(bar.x) == result.weights and sum(bar.x) == pytest.approx(1.0)


def test_no_heatmap_without_language_model_rows():
    result = make_result()
    no_lm = Result(query=result.query, model="", recommendations=result.recommendations, history=result.history,
                   weights=(0.0,) * 3, conditional=(), conditional_history=(), timings={})
    assert charts.heatmap(no_lm) is None


def test_catalog_text_never_becomes_markup():
    result = make_result()
    figs = [charts.waterfall(result, 1), charts.heatmap(result), charts.weights_bar(result)]
    for fig in figs:
        text = fig.to_json()
        assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt; &amp; [click]" in text
    assert charts.plain("a < b > c & d") == "a &lt; b &gt; c &amp; d"


def test_repeated_titles_stay_separate_bars():
    result = make_result(titles=("Same", "Same", "Other"))
    x = list(charts.waterfall(result, 1).data[0].x)
    assert len(set(x)) == len(x)


def test_lm_share():
    parts = [Contribution("history:a", "a", 1.0), Contribution("history:b", "b", -1.0), Contribution(PRIOR, "p", 2.0)]
    assert charts.lm_share(parts) == pytest.approx(0.5)
    assert charts.lm_share([]) == 0.0


def test_figures_export_as_html():
    html = charts.waterfall(make_result(), 1).to_html(include_plotlyjs=False, full_html=True)
    assert "plotly" in html.lower() and "<img src=x" not in html


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="PNG export needs Chromium (make browser installs it)")
def test_figures_export_as_png():
    png = charts.heatmap(make_result()).to_image(format="png", width=900, height=400)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
