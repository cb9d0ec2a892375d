"""The figures draw the engine's numbers: the bars add up to the score, the heatmap holds each liked item's part,
the weights bar is `weights`, and a hostile title is shown as text."""
import shutil

import numpy as np
import pytest

from recsys import charts
from recsys import fuse as F
from recsys import stages
from recsys.catalog import Item
from recsys.config import ScoringConfig
from recsys.types import LM, PRIOR, SIMILARITY, Query, Recommendation, Result

HOSTILE = '<img src=x onerror=alert(1)> & [click](javascript:alert(1))'


def make_result(fusion="product", titles=("Toy Story", HOSTILE, "Coco")) -> Result:
    """A result whose numbers come from the real fusion formula on fixed inputs."""
    history = tuple(Item(id=f"h{k}", title=t, dataset="d") for k, t in enumerate(titles))
    cands = tuple(Item(id=f"c{k}", title=f"Candidate {k}", dataset="d") for k in range(5))
    rng = np.random.default_rng(0)
    s = F.normalise(rng.normal(size=(len(history), len(cands))))
    w = F.history_weights(len(history), 0.8)
    vecs = rng.normal(size=(len(history) + len(cands), 8))
    sim = stages.similarity(vecs[:len(history)], w, vecs[len(history):])
    fused = F.fuse(s, w, fusion, prior=rng.normal(size=len(cands)), beta=1.0, similarity=sim, lam=1.0)
    order = list(np.argsort(-fused.scores))
    recs = [Recommendation(cands[j], r + 1, float(fused.scores[j]), stages.explain(fused, j, history))
            for r, j in enumerate(order)]
    return Result(
        query=Query(history=tuple(h.id for h in history), config=ScoringConfig(fusion=fusion)),
        model="test", recommendations=tuple(recs), history=history, weights=tuple(map(float, w)),
        conditional=tuple(tuple(float(s[i, j]) for j in order) for i in range(len(history))),
        conditional_history=tuple(h.id for h in history), timings={"total": 1.0},
    )


@pytest.mark.parametrize("fusion", ["product", "mixture"])
def test_bars_are_the_engine_parts_and_add_up_to_the_score(fusion):
    result = make_result(fusion)
    for rec in result.recommendations:
        lm, sim, prior, marks = charts.contribution_bars(result, rec.rank).data
        items = rec.contributions[:-1]
        assert list(lm.x) == [c.term(LM) for c in items] and list(sim.x) == [c.term(SIMILARITY) for c in items]
        assert list(prior.x) == [rec.contributions[-1].value]  # the engine's numbers, unrounded
        assert sum(lm.x) + sum(sim.x) + sum(prior.x) == pytest.approx(rec.score, abs=1e-9)
        assert list(marks.x) == [c.value for c in rec.contributions]


def test_the_heatmap_holds_each_liked_items_total_part_and_weights_are_the_result_numbers():
    result = make_result()
    hm = charts.heatmap(result).data[0]
    for col, rec in enumerate(result.recommendations):
        assert [row[col] for row in hm.z] == [c.value for c in rec.contributions[:-1]]
    assert len(hm.x) == len(result.recommendations) and len(hm.y) == len(result.history)
    bar = charts.weights_bar(result).data[0]
    assert tuple(bar.x) == result.weights and sum(bar.x) == pytest.approx(1.0)


def test_no_heatmap_for_an_empty_history():
    result = make_result()
    empty = Result(query=result.query, model="", recommendations=result.recommendations, history=(),
                   weights=(), conditional=(), conditional_history=(), timings={})
    assert charts.heatmap(empty) is None


def test_catalog_text_never_becomes_markup():
    result = make_result()
    figs = [charts.contribution_bars(result, 1), charts.heatmap(result), charts.weights_bar(result)]
    for fig in figs:
        text = fig.to_json()
        assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt; &amp; [click]" in text
    assert charts.plain("a < b > c & d") == "a &lt; b &gt; c &amp; d"


@pytest.mark.parametrize("n", [1, 20])
def test_bars_stay_legible_with_one_and_twenty_liked_items(n):
    long = "A Very Long Title About Graph Neural Networks for Sequential Recommendation at Scale"
    result = make_result(titles=tuple(f"{long} {k}" for k in range(n)))
    fig = charts.contribution_bars(result, 1)
    labels = list(fig.data[0].y)
    assert len(set(labels)) == n and all(len(label) <= charts.MAX_LABEL + 4 for label in labels)  # cut, unique
    assert fig.data[0].orientation == "h" and fig.layout.height >= 150 + 30 * n  # a row per item, never crowded
    assert long in fig.data[0].customdata[0][0]  # the whole title on hover


def test_repeated_titles_stay_separate_bars():
    result = make_result(titles=("Same", "Same", "Other"))
    y = list(charts.contribution_bars(result, 1).data[0].y)
    assert len(set(y)) == len(y)


def test_lm_share_counts_the_language_model_term_of_every_part():
    parts = stages.explain(F.Fused(np.zeros(1), np.array([[1.0, -1.0]]), np.array([[2.0, 0.0]]), np.array([0.0]),
                                   np.zeros(1)), 0, (Item(id="a", title="a"), Item(id="b", title="b")))
    assert charts.lm_share(parts) == pytest.approx(0.5)  # |1| + |-1| of |1| + |-1| + |2|
    assert charts.lm_share([]) == 0.0


def test_figures_export_as_html():
    html = charts.contribution_bars(make_result(), 1).to_html(include_plotlyjs=False, full_html=True)
    assert "plotly" in html.lower() and "<img src=x" not in html


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="PNG export needs Chromium (make browser installs it)")
def test_figures_export_as_png():
    png = charts.heatmap(make_result()).to_image(format="png", width=900, height=400)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("n", [1, 20])
def test_the_colours_are_named_in_one_line_above_the_bars_not_in_a_legend_over_them(n):
    fig = charts.contribution_bars(make_result(titles=tuple(f"Liked {k}" for k in range(n))), 1)
    # a Plotly legend in a 400-px card either overlaps the bars and axis or wraps an entry a row: none is drawn
    assert fig.layout.showlegend is False
    head, key = fig.layout.title.text.split("<br>")
    for trace in fig.data[:2]:  # the stacked terms: each colour is named in the key under the title
        assert f"color:{trace.marker.color}'>■</span> {trace.name}" in key
    assert fig.layout.margin.t >= 50 + charts.KEY_ROOM  # the key's line has its room between title and bars
    assert len(head) <= len("#1 : score +0.000") + charts.MAX_TITLE  # one line in the narrow column
