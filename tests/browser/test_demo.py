"""What a demo audience meets, in the real app and a real Chromium at 1280×900: an example history that is warm on
the first click, a like that re-ranks in about a second (within a bound when its row is new), single-row history
cards, legible charts with 1 and 20 liked items, an Evaluate page that opens on a stored run, and a blind A/B whose
click registers and updates the win rate. The timings are written to test-artifacts/browser/timings.json (with the
machine's load)."""
from __future__ import annotations

import json
import os
import re
import sys
import time

import pytest

from recsys.config import ROOT, ScoringConfig
from recsys.ui.serve import CHROMIUM_FLAGS, chromium_path, running_app, wait_idle
from tests.ui.app_helpers import build_app_db

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(chromium_path() is None, reason="Chromium not installed (run `make browser`)")]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
TIMINGS = ARTIFACTS / "timings.json"
HEADER = re.compile(r"([\d.]+) s · (\d+) candidates \(([^)]*)\) · (\d+) pairs newly scored")
PAPERS = ["papers:abstract-interpretation-a-unified-lattice-model-for-static",
          "papers:recommendation-as-language-processing-rlp-a-unified",
          "papers:induction-of-pluripotent-stem-cells-from-mouse-embryonic",
          "papers:can-programming-be-liberated-from-the-von-neumann-style-a",
          "papers:observation-of-a-new-particle-in-the-search-for-the",
          "papers:a-general-method-applicable-to-the-search-for-similarities",
          "papers:the-magical-number-seven-plus-or-minus-two-some-limits-on",
          "papers:soft-actor-critic-off-policy-maximum-entropy-deep",
          "papers:polynomial-time-algorithms-for-prime-factorization-and",
          "papers:bert4rec-sequential-recommendation-with-bidirectional",
          "papers:observational-evidence-from-supernovae-for-an-accelerating",
          "papers:resilient-distributed-datasets-a-fault-tolerant-abstraction",
          "papers:batch-normalization-accelerating-deep-network-training-by",
          "papers:controlling-the-false-discovery-rate-a-practical-and",
          "papers:the-information-capacity-of-the-human-motor-system-in",
          "papers:simple-statistical-gradient-following-algorithms-for",
          "papers:potent-and-specific-genetic-interference-by-double-stranded",
          "papers:first-m87-event-horizon-telescope-results-i-the-shadow-of",
          "papers:exokernel-an-operating-system-architecture-for-application",
          "papers:recursive-functions-of-symbolic-expressions-and-their"]
timings: dict = {}
LIKE_BOUND_S = 12.0  # a like whose row is scored now, engine time; 2 s is the target on an idle 2-core machine


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app on a fresh test database: it adds the demo log and its evaluation itself on first start."""
    db = build_app_db(tmp_path_factory.mktemp("demo-browser") / "app.db")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(db, log=ARTIFACTS / "demo-app.log", timeout=180) as url:
        yield url


@pytest.fixture(scope="module")
def warm_app_url(tmp_path_factory):
    """The app on a test database prepared as `python -m recsys demo` prepares the default one: ℓ(y|∅) of every
    demo catalog, so the app's background job finds them all and scores nothing while the tests time the app,
    and (to keep the test short) only the first movie example and its likes; writes the timings the tests record
    when done."""
    from recsys import db as dbmod
    from recsys import demo
    from recsys.catalog import Catalog
    from recsys.recommend import Models

    db = build_app_db(tmp_path_factory.mktemp("demo-warm") / "app.db")
    cat = Catalog(dbmod.connect(db))
    models, config = Models(), ScoringConfig()
    start = time.perf_counter()
    pairs = demo.score_neutral(cat, models, config)
    timings["precompute ℓ(y|∅) of every demo catalog"] = {
        "pairs_scored": pairs, "wall_s": round(time.perf_counter() - start, 1)}
    start = time.perf_counter()
    report = demo.precompute(cat, models, config, datasets=["movies"], examples=1)
    timings["precompute (movies: first example + 3 likes)"] = {
        **report, "wall_s": round(time.perf_counter() - start, 1)}
    cat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cat.db.conn.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(db, log=ARTIFACTS / "demo-warm-app.log", timeout=180) as url:
        yield url
    TIMINGS.write_text(json.dumps({"load_average": os.getloadavg(), "cpus": os.cpu_count(),
                                   "command": " ".join(["python -m pytest", *sys.argv[1:]]), "nice": os.nice(0),
                                   **timings}, indent=2))


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(240_000)
        yield page
        browser.close()


def header(page) -> dict:
    text = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="pairs newly scored").first.inner_text()
    m = HEADER.search(text)
    assert m, text
    return {"seconds": float(m.group(1)), "candidates": int(m.group(2)), "what": m.group(3), "pairs": int(m.group(4))}


def timed(page, action) -> float:
    start = time.perf_counter()
    action()
    wait_idle(page)
    return round(time.perf_counter() - start, 2)


def test_example_is_warm_a_like_reranks_fast_and_numbers_agree(page, warm_app_url):
    page.goto(f"{warm_app_url}/?dataset=movies")
    page.locator(".st-key-rec_example input").wait_for()
    wait_idle(page)

    def pick_example():
        page.get_by_placeholder("Choose a named history…").click()
        page.get_by_role("option", name="Family movie night").click()

    wall = timed(page, pick_example)
    first = header(page)
    timings["example history, first click"] = {**first, "browser_wall_s": wall}
    assert first["pairs"] == 0  # every pair was precomputed with the database
    assert first["what"] == "50 retrieved by similarity + 5 popular" and first["candidates"] == 55
    status = page.locator("[data-testid='stExpander'] summary").filter(has_text="done in").first.inner_text()
    assert f"{first['seconds']:.2f} s" in status  # the status box and the header say the same time

    # single-row history cards: the remove button on the same line as the others, cards short
    for k in range(4):
        card = page.locator(f".st-key-rec_hist_{k}")
        box = card.bounding_box()
        up = page.locator(f".st-key-rec_up_{k} button").first.bounding_box()
        drop = page.locator(f".st-key-rec_drop_{k} button").first.bounding_box()
        assert abs(up["y"] - drop["y"]) < 4 and drop["x"] > up["x"], (up, drop)
        assert box["height"] < 80, box
    page.screenshot(path=str(ARTIFACTS / "demo-example.png"))

    top = ranked_first_id(page)
    wall = timed(page, lambda: page.locator(f".st-key-rec_like_{top} button").first.click())
    page.wait_for_function("() => document.body.innerText.includes('Liked, oldest first (5)')")
    liked = header(page)
    timings["like of the top recommendation (precomputed row)"] = {**liked, "browser_wall_s": wall}
    assert liked["pairs"] == 0 and liked["candidates"] == 54 and "previous list" in liked["what"]
    assert liked["seconds"] <= 2.0

    fifth = ranked_ids(page)[4]
    wall = timed(page, lambda: page.locator(f".st-key-rec_like_{fifth} button").first.click())
    page.wait_for_function("() => document.body.innerText.includes('Liked, oldest first (6)')")
    cold = header(page)
    timings["like of the 5th recommendation (its row not precomputed)"] = {
        **cold, "browser_wall_s": wall, "load_average": os.getloadavg()}
    print(f"\nlike re-rank, one new row: {cold['seconds']:.2f} s in the engine ({cold['pairs']} pairs scored), "
          f"{wall:.2f} s in the browser; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    assert cold["pairs"] <= cold["candidates"] == 53  # only the liked item's row was scored
    # the 2-s target is measured by bench/rerank.py; this bound only catches a re-rank that does far more than one
    # row (all five rows take 5× as long), with room for a loaded CI machine
    assert cold["seconds"] <= LIKE_BOUND_S, cold

    other = ranked_ids(page)[0]
    wall = timed(page, lambda: page.locator(f".st-key-rec_dislike_{other} button").first.click())
    disliked = header(page)
    timings["dislike"] = {**disliked, "browser_wall_s": wall}
    assert disliked["pairs"] == 0 and disliked["seconds"] <= 2.0
    page.screenshot(path=str(ARTIFACTS / "demo-after-feedback.png"))


def ranked_ids(page) -> list[str]:
    keys = page.locator("[class*='st-key-rec_like_']").evaluate_all(
        "els => els.map(e => [...e.classList].find(c => c.startsWith('st-key-rec_like_')))")
    return [k.removeprefix("st-key-rec_like_") for k in keys]


def ranked_first_id(page) -> str:
    return ranked_ids(page)[0]


def tick_boxes(page, chart) -> list[dict]:
    return [t.bounding_box() for t in chart.locator(".yaxislayer-above .ytick text").all()]


def assert_no_overlap(boxes: list[dict]) -> None:
    boxes = sorted(boxes, key=lambda b: b["y"])
    for a, b in zip(boxes, boxes[1:]):
        assert a["y"] + a["height"] <= b["y"] + 1, (a, b)


@pytest.mark.parametrize("n", [1, 20])
def test_contribution_chart_is_legible_with_1_and_20_long_titles(page, app_url, n):
    # no language model (α = 0) keeps the run short; the chart's layout is the same
    page.goto(f"{app_url}/?dataset=papers&alpha=0&history={','.join(PAPERS[:n])}")
    page.get_by_text("Why: contributions to the score").first.wait_for(timeout=600_000)
    wait_idle(page)
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(state="visible")
    boxes = tick_boxes(page, chart)
    assert len(boxes) == n + 1  # a row per liked item and the prior
    assert_no_overlap(boxes)
    plot = chart.locator(".nsewdrag").first.bounding_box()
    frame = chart.bounding_box()
    assert all(b["x"] >= frame["x"] - 1 and b["x"] + b["width"] <= plot["x"] + 1 for b in boxes)  # left of the bars
    # the colours are named in the title's second line, above the bars and inside the card; no legend over them
    assert chart.locator(".legend").count() == 0
    head = chart.locator(".gtitle").first.bounding_box()
    assert head["y"] + head["height"] <= plot["y"] + 1, (head, plot)
    assert head["x"] >= frame["x"] - 1 and head["x"] + head["width"] <= frame["x"] + frame["width"] + 1, (head, frame)
    assert "language model" in chart.locator(".gtitle").first.text_content()
    chart.screenshot(path=str(ARTIFACTS / f"demo-contributions-{n}-chart.png"))
    title = chart.locator(".xtitle").first
    size = float(title.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px"))
    fill = title.evaluate("e => getComputedStyle(e).fill")
    assert size >= 13 and max(int(v) for v in re.findall(r"\d+", fill)[:3]) < 64, (size, fill)
    for k in range(n):  # history cards stay at most three lines high even with the longest titles (was 5-6)
        assert page.locator(f".st-key-rec_hist_{k}").bounding_box()["height"] < 120
    page.screenshot(path=str(ARTIFACTS / f"demo-contributions-{n}.png"), full_page=True)


def test_evaluate_opens_on_a_stored_run_with_legible_curves(page, app_url):
    page.goto(f"{app_url}/evaluate")
    page.get_by_text("Evaluation", exact=True).first.wait_for()
    wait_idle(page)
    charts = page.locator(".js-plotly-plot")
    charts.nth(1).wait_for(state="visible")
    assert "needs a dataset with users" not in page.inner_text("body")
    for k in range(2):
        chart = charts.nth(k)
        plot = chart.locator(".nsewdrag").first.bounding_box()
        legend = chart.locator(".legend").first.bounding_box()
        assert legend["y"] >= plot["y"] + plot["height"], (legend, plot)  # below the curves, never over them
        for axis in (".xtitle", ".ytitle"):
            title = chart.locator(axis).first
            size = float(title.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px"))
            fill = title.evaluate("e => getComputedStyle(e).fill")
            assert size >= 13 and max(int(v) for v in re.findall(r"\d+", fill)[:3]) < 64, (axis, size, fill)
    page.screenshot(path=str(ARTIFACTS / "demo-evaluate.png"), full_page=True)


def test_blind_ab_click_registers_and_the_names_stay_hidden_until_then(page, app_url):
    from recsys.ui import scenarios

    x, y = "Embeddings only", "Popularity only"  # no language model: quick
    page.goto(f"{app_url}/review?rater=eve&scenario=example:music:0&ab={scenarios.pair_token(x, y)}")
    page.get_by_text("Which list is better for this history?").wait_for()
    wait_idle(page)
    body = page.inner_text("body")
    assert x not in body and y not in body and x.replace(" ", "+") not in page.url and "x=" not in page.url
    choice = page.locator("[class*='st-key-rev_choice_'] [role='radiogroup']")
    choice.get_by_role("radio", name="A", exact=True).click()
    page.get_by_text("Choice saved.").wait_for()
    wait_idle(page)
    assert choice.get_by_role("radio", name="A", exact=True).get_attribute("aria-checked") == "true"
    saved = page.locator("[data-testid='stAlert']").filter(has_text="Choice saved.").inner_text()
    assert x in saved and y in saved  # revealed after the choice
    page.get_by_role("tab", name="Results").click()  # built when opened: wait for its run to draw the rates
    page.get_by_text(re.compile(r"win rate (100\.0|0\.0)% over 1 judgement")).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "demo-review.png"), full_page=True)
