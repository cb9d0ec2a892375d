"""The real app in a real browser: `streamlit run app.py` headless on a free port, driven by Debian's Chromium.

Builds a history by searching and adding, ranks, checks the list and a chart, likes the top item and sees the
list change, and checks that a hostile catalog title is shown as text and injects nothing. A screenshot is saved
under test-artifacts/browser/. `make test` installs Chromium where it is missing (`make browser`).
"""
from __future__ import annotations

import re
import pytest

from recsys.config import ROOT
from recsys.ui.serve import CHROMIUM_FLAGS, chromium_path, running_app, wait_idle
from tests.ui.app_helpers import HOSTILE, build_app_db

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(chromium_path() is None, reason="Chromium not installed (run `make browser`)")]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
RANK = re.compile(r"^(\d+)\. (.+)$")


def ranked_titles(page) -> list[str]:
    """Titles of the ranked list, in order ("1. Title" in bold in each recommendation)."""
    out = []
    for text in page.locator("[data-testid='stMarkdownContainer'] strong").all_inner_texts():
        m = RANK.match(text.strip())
        if m:
            out.append(m.group(2))
    return out


def add(page, query: str, title: str) -> None:
    box = page.get_by_placeholder("title, creator or tag")
    box.fill(query)
    box.press("Enter")
    wait_idle(page)
    row = page.locator("[data-testid='stHorizontalBlock']").filter(has_text=title).filter(
        has=page.get_by_role("button", name="Add"))
    row.get_by_role("button", name="Add").first.click()
    wait_idle(page)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    db = build_app_db(folder / "app.db")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_app(db, log=ARTIFACTS / "app.log", timeout=180) as url:
        yield url


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(300_000)  # a cold model load and first scoring on a busy CPU
        page.alerts = []
        page.on("dialog", lambda d: (page.alerts.append(d.message), d.dismiss()))
        yield page
        browser.close()


def test_build_history_rank_like_and_see_the_list_change(page, app_url):
    # small settings through the link, the history through the page itself
    page.goto(f"{app_url}/?dataset=movies&n_candidates=10&max_history=2")
    page.get_by_text("Your history").wait_for()
    wait_idle(page)
    add(page, "toy story", "Toy Story")
    add(page, "coco", "Coco")
    page.get_by_text("Liked, oldest first").wait_for()
    assert "(2)" in page.get_by_text("Liked, oldest first").inner_text() or \
        page.get_by_text(re.compile(r"Liked, oldest first.*2")).count()

    page.get_by_role("button", name="Recommend").click()
    page.get_by_text("Why: contributions to the score").first.wait_for()
    wait_idle(page)
    page.locator(".js-plotly-plot").first.wait_for(state="visible")
    before = ranked_titles(page)
    assert len(before) == 10 and "Toy Story" not in before and "Coco" not in before
    assert page.locator(".js-plotly-plot .barlayer path").count() >= 3  # the contribution bars were drawn
    page.screenshot(path=str(ARTIFACTS / "recommend.png"))

    page.locator("[class*='st-key-rec_like_']").first.get_by_role("button").click()
    page.get_by_text(re.compile(r"Liked, oldest first")).wait_for()
    wait_idle(page)
    page.wait_for_function("() => document.body.innerText.includes('Liked, oldest first (3)')")
    after = ranked_titles(page)
    assert after and after != before and before[0] not in after  # the liked item joined the history
    assert f"?dataset=movies" in page.url and "history=" in page.url  # the link follows the page
    page.screenshot(path=str(ARTIFACTS / "after-like.png"))
    assert page.alerts == []


def test_hostile_title_shows_literally_and_injects_nothing(page, app_url):
    page.goto(f"{app_url}/?dataset=movies")
    page.get_by_text("Your history").wait_for()
    wait_idle(page)
    box = page.get_by_placeholder("title, creator or tag")
    box.fill("onerror")
    box.press("Enter")
    wait_idle(page)
    page.get_by_text("onerror=alert(1)", exact=False).first.wait_for()
    shown = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="onerror").first.inner_text()
    assert HOSTILE.split(" [")[0] in shown  # the <img …> tag as text
    assert "[click](javascript:alert(1))" in shown and "**bold**" in shown and "$x^2$" in shown
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator("[data-testid='stMarkdownContainer'] b").count() == 0  # creator's <b> stayed text
    page.screenshot(path=str(ARTIFACTS / "hostile-title.png"))
    assert page.alerts == []
