"""The load test in its reduced form: 3 Chromium sessions walk the app at once, one walk each, and one more session
is closed abruptly during its re-rank. Every label, judgement and feedback record is in the database exactly once,
no page shows an exception, and the server goes on serving. The database is the load test's cached one with the first
movie example precomputed (built on the first run: a few minutes). The report is written to
test-artifacts/browser/loadtest.json. A second test has two sessions ask for unscored lists at once and sees the one
that waits say so."""
from __future__ import annotations

import re

import pytest

from recsys import loadtest
from recsys.config import ROOT
from recsys.ui.serve import chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(chromium_path() is None, reason="Chromium not installed (run `make browser`)")]
ARTIFACTS = ROOT / "test-artifacts" / "browser"


def test_three_sessions_and_one_killed_lose_and_duplicate_nothing():
    plan = loadtest.Plan(sessions=3, walks=1, examples=1, kill_one=True, timeout=900)
    report = loadtest.run(plan, say=lambda _: None)
    report["command"] = "pytest tests/browser/test_loadtest.py"
    loadtest.write_json(report, ARTIFACTS / "loadtest.json")
    text = loadtest.format_report(report)
    rec = report["records"]
    assert [s["failure"] for s in report["sessions"]] == [""] * 4, text
    assert all(s["walks_done"] == 1 for s in report["sessions"] if not s["killed"]), text
    assert rec["lost"] == 0 and rec["duplicated"] == 0 and rec["unexpected"] == 0, text
    assert rec["half_written"] == [], text
    assert rec["by_kind"]["label"]["found"] == 9 and rec["by_kind"]["judgement"]["found"] == 3, text
    assert rec["by_kind"]["feedback"]["found"] == 3 * 2 + 2, text  # the killed session liked and disliked first
    assert report["errors"]["exceptions"] == 0, text  # console and HTTP errors are listed in the report
    assert report["server_tracebacks"] == 0, text
    assert report["sessions"][-1]["killed_at"], text
    assert "fresh_page_after_s" in report["browser"], text
    # the template holds the walk's scores at the app's precision: the server scores only the re-rank's new pairs
    # (15 on the first example), not the ~900 demo items' ℓ(y|∅) again
    assert 0 < report["database"]["pairs_scored_during_run"] <= 100, text
    # the server's run log names each session's runs: every step has its server time, and a step that waits for
    # its run to finish took at least that long (open, review and reload end when their sign shows)
    steps = {r["step"]: r for r in report["steps"]}
    for step in loadtest.STEPS:
        assert steps[step]["server_run_s_median"] > 0, (step, text)
    for step in ("example", "like", "dislike", "rerank", "label", "judge"):
        assert steps[step]["server_run_s_median"] <= steps[step]["median_s"], (step, text)
    assert report["ok"], text


def test_two_cold_requests_at_once_queue_for_the_model_and_the_page_says_so(tmp_path):
    """Two sessions ask for lists whose pairs nobody has scored, at once: one takes the model, the other's status
    box says it is waiting (and how many are ahead) until its turn; both lists arrive, no error."""
    import time

    from playwright.sync_api import sync_playwright

    from recsys.catalog import example_histories
    from recsys.ui.serve import CHROMIUM_FLAGS, running_app

    db, _ = loadtest.prepare_database(loadtest.Plan(sessions=1, examples=1), tmp_path)  # example 0 precomputed
    names = [e["name"] for e in example_histories(loadtest.DATASET)]
    status = "() => [...document.querySelectorAll('[data-testid=\"stExpander\"] summary')].map(e => e.textContent)"
    with running_app(db, timeout=180) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        pages = [browser.new_page() for _ in range(3)]
        for page in pages:
            page.goto(f"{url}/?dataset={loadtest.DATASET}")
            page.get_by_text("Your history").wait_for(timeout=180_000)

        def pick(page, name):
            page.get_by_placeholder("Choose a named history…").click()
            page.get_by_role("option", name=name, exact=True).click()

        pick(pages[0], names[0])  # loads the models; its pairs are precomputed
        pages[0].get_by_text("pairs newly scored").wait_for(timeout=300_000)
        pick(pages[1], names[1])
        pick(pages[2], names[2])
        seen, deadline = [], time.monotonic() + 120
        while not seen and time.monotonic() < deadline:
            seen = [t for page in pages[1:] for t in page.evaluate(status) if "waiting for the model" in t]
            time.sleep(0.1)
        for page in pages[1:]:
            page.get_by_text("pairs newly scored").wait_for(timeout=300_000)
            assert page.locator("[data-testid='stException'], [data-testid='stAlertContentError']").count() == 0
        browser.close()
    assert seen and re.search(r"waiting for the model \(\d+ ahead\)", seen[0]), seen
