"""The load test in its reduced form: 3 Chromium sessions walk the app at once, one walk each, and one more session
is closed abruptly during its re-rank. Every label, judgement and feedback record is in the database exactly once,
no page shows an exception, and the server goes on serving. The database is the load test's cached one with the first
movie example precomputed (built on the first run: a few minutes). The report is written to
test-artifacts/browser/loadtest.json."""
from __future__ import annotations

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
    assert report["ok"], text
