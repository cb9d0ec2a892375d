"""Every page under `AppTest`: it renders without exception, and its main interactions work. Tests that rank
load the real models and are marked slow; they use few candidates and a short LM history."""
from __future__ import annotations

import json
import re

import pytest
from tests.ui.app_helpers import FAST, HOSTILE, new_app, problems

from recsys import db as dbmod
from recsys import explain
from recsys.store import Store
from recsys.ui.safe import md

PAGES = ["pages/recommend.py", "pages/review.py", "pages/catalog.py", "pages/evaluate.py"]
FAMILY = ["movies:toy-story", "movies:finding-nemo", "movies:the-incredibles", "movies:coco"]


def store(path) -> Store:
    return Store(dbmod.connect(path))


def titles_in(at) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(app_db, page):
    at = new_app(page)
    assert problems(at) == []
    assert at.title[0].value == page.split("/")[1].removesuffix(".py").capitalize()


def test_build_a_history_search_add_reorder_emphasise_remove(app_db):
    at = new_app()
    at.text_input(key="rec_search").input("toy story").run()
    at.button(key="rec_add_movies:toy-story").click().run()
    at.text_input(key="rec_search").input("coco").run()
    at.button(key="rec_add_movies:coco").click().run()
    assert at.session_state["rec_history"] == ["movies:toy-story", "movies:coco"]
    at.button(key="rec_up_1").click().run()
    assert at.session_state["rec_history"] == ["movies:coco", "movies:toy-story"]
    at.button(key="rec_star_0").click().run()
    assert at.session_state["rec_emphasis"] == "movies:coco"
    # the link follows the page
    assert at.query_params["history"] == ["movies:coco,movies:toy-story"] or \
        at.query_params["history"] == "movies:coco,movies:toy-story"
    at.button(key="rec_drop_0").click().run()
    assert at.session_state["rec_history"] == ["movies:toy-story"]
    assert at.session_state["rec_emphasis"] is None
    assert problems(at) == []


def test_settings_reset_and_survive_a_page_switch(app_db):
    at = new_app()
    at.slider(key="set_beta").set_value(2.5).run()
    at.radio(key="set_fusion").set_value("mixture").run()
    at.text_input(key="rec_search").input("coco").run()
    at.button(key="rec_add_movies:coco").click().run()
    for page in ("pages/review.py", "pages/catalog.py", "pages/recommend.py"):
        at.switch_page(page).run()
        assert problems(at) == []
    assert at.slider(key="set_beta").value == 2.5
    assert at.radio(key="set_fusion").value == "mixture"
    assert at.session_state["rec_history"] == ["movies:coco"]
    at.button[[b.label for b in at.button].index("Reset settings")].click().run()
    assert at.slider(key="set_beta").value == 1.0 and at.radio(key="set_fusion").value == "product"


def test_a_link_with_bad_values_warns_and_keeps_the_rest(app_db):
    at = new_app(dataset="movies", fusion="sum", beta="0.5", gamma="many", history="movies:nope")
    warnings = " ".join(w.value for w in at.warning)
    assert "fusion" in warnings and "gamma" in warnings and "not in this catalog" in warnings
    assert at.slider(key="set_beta").value == 0.5
    assert at.radio(key="set_fusion").value == "product"
    assert at.session_state["rec_history"] == []
    assert problems(at) == []


def test_hostile_titles_are_escaped_markdown(app_db):
    at = new_app()
    at.text_input(key="rec_search").input("onerror").run()
    shown = titles_in(at)
    assert md(HOSTILE) in shown  # every punctuation mark backslash-escaped: Markdown shows it literally
    title_line = next(line for line in shown.splitlines() if "onerror" in line)
    assert not re.search(r"(?<!\\)[<>\[\]$]", title_line)  # no markup character left unescaped


@pytest.mark.slow
def test_rank_then_like_reranks_and_stores_feedback(model_db):
    at = new_app(dataset="movies", history=",".join(FAMILY[:2]), n_candidates=str(FAST["set_n_candidates"]),
                 max_history=str(FAST["set_max_history"]))
    assert problems(at) == []
    result = at.session_state["rec_result"]
    first = result.recommendations[0].item.id
    assert len(result.recommendations) == 10 and result.model == "smollm2-135m"
    assert f"**1. {md(result.recommendations[0].item.title)}**" in titles_in(at)  # the title, as text
    # the page's numbers are the engine's: the parts add up to the score, and each item says why in words
    total = sum(c.value for c in result.recommendations[0].contributions)
    assert total == pytest.approx(result.recommendations[0].score)
    assert len(at.get("plotly_chart")) == 1  # the first item's "why" is open; the rest are built when opened
    at.session_state["rec_tab"], at.session_state["rec_why_2"] = "Heatmap", True
    assert len(at.run().get("plotly_chart")) == 3  # and the heatmap and the second item's chart, once opened
    assert problems(at) == []
    assert explain.sentence(result.recommendations[0], result.degraded, name=lambda t: f"*{md(t, 80)}*") \
        in titles_in(at)

    at.button(key=f"rec_like_{first}").click().run()
    assert problems(at) == []
    assert at.session_state["rec_history"] == [*FAMILY[:2], first]
    new = at.session_state["rec_result"]
    assert first not in [r.item.id for r in new.recommendations]  # re-ranked at once, liked item now history
    said = " ".join(s.value for s in at.success)
    assert "What your feedback changed" in said and any(w in said for w in ("is new at", "moved", "Left the list"))
    assert new.query.history == (*FAMILY[:2], first)

    second = new.recommendations[0].item.id
    at.button(key=f"rec_dislike_{second}").click().run()
    assert second not in [r.item.id for r in at.session_state["rec_result"].recommendations]

    session_id = at.session_state["rec_session_id"]
    rows = store(model_db).feedback(session_id)
    assert [(r["item_id"], r["value"]) for r in rows] == [(first, "like"), (second, "dislike")]
    assert rows[0]["model"] == "smollm2-135m" and rows[0]["settings"]["n_candidates"] == FAST["set_n_candidates"]
    assert store(model_db).session(session_id)["history"] == [*FAMILY[:2], first]
    exported = json.loads(json.dumps(at.session_state["rec_result"].to_dict()))  # what the JSON export holds
    assert exported["settings"]["n_candidates"] == FAST["set_n_candidates"]


@pytest.mark.slow
def test_example_history_ranks_and_switching_pages_keeps_the_list(model_db):
    at = new_app()
    at.slider(key="set_n_candidates").set_value(FAST["set_n_candidates"]).run()
    at.slider(key="set_max_history").set_value(FAST["set_max_history"]).run()
    at.selectbox(key="rec_example").set_value(0).run()
    assert at.session_state["rec_history"] == FAMILY
    result = at.session_state["rec_result"]
    assert result.recommendations
    at.switch_page("pages/catalog.py").run()
    at.switch_page("pages/recommend.py").run()
    assert at.session_state["rec_result"] is result
    assert not at.warning  # nothing changed since the list was made
    assert problems(at) == []
    # the ranked session is a scenario on the Review page
    at.switch_page("pages/review.py").run()
    at.radio(key="rev_source").set_value("Saved sessions").run()
    assert at.selectbox(key="rev_scenario").value == f"session:{at.session_state['rec_session_id']}"
    assert problems(at) == []


@pytest.mark.slow
def test_engine_errors_are_messages_not_tracebacks(model_db):
    at = new_app(dataset="tiny", history="tiny:only")  # the only item is in the history: nothing to rank
    assert not at.exception
    [error] = at.error
    assert "no candidates" in error.value and "Raise the number of candidates" in error.value


@pytest.mark.slow
def test_review_labels_and_choice_persist_across_reload_and_raters(model_db):
    scenario = "example:movies:1"
    cfg = {"x": "Embeddings only", "y": "Popularity only"}  # no language model: quick
    at = new_app("pages/review.py", **cfg)  # the configurations from a link, so nothing else gets ranked
    at.selectbox(key="rev_scenario").set_value(scenario).run()
    at.text_input(key="rev_rater").input("ann").run()
    assert problems(at) == []
    labels = [w for w in at.get("segmented_control") if w.key.startswith("rev_label_A_")]
    assert len(labels) == 5
    labels[0].set_value("✓ relevant").run()
    item = labels[0].key.rsplit("_", 1)[1]
    choice = next(w for w in at.get("segmented_control") if w.key.startswith("rev_choice_"))
    choice.set_value("A").run()
    assert problems(at) == []
    s = store(model_db)
    assert [(r["item_id"], r["label"]) for r in s.labels(rater="ann", scenario=scenario)] == [(item, "relevant")]
    [j] = s.judgements(rater="ann", scenario=scenario)

    # a reload: a new session from the link the page wrote
    link = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert link["rater"] == "ann" and link["scenario"] == scenario
    again = new_app("pages/review.py", **link)
    assert again.text_input(key="rev_rater").value == "ann"
    restored = {w.key: w.value for w in again.get("segmented_control")}
    assert restored[f"rev_label_A_{scenario}_{item}"] == "✓ relevant"
    assert next(v for k, v in restored.items() if k.startswith("rev_choice_")) == "A"

    # a second rater at the same time: separate labels, and the summary counts both
    bob = new_app("pages/review.py", rater="bob", scenario=scenario, **cfg)
    assert all(w.value is None for w in bob.get("segmented_control"))
    next(w for w in bob.get("segmented_control") if w.key.startswith("rev_choice_")).set_value("Tie").run()
    assert len(s.judgements(scenario=scenario)) == 2 and j["rater"] == "ann"
    assert "2 rater(s)" not in titles_in(bob)  # the Results tab is built only when opened
    bob.session_state["rev_tab"] = "Results"
    assert "2 rater(s)" in titles_in(bob.run())
    assert problems(bob) == []


def test_catalog_browse_search_and_import_an_upload(app_db):
    at = new_app("pages/catalog.py")
    at.text_input(key="cat_query").input("pixar").run()
    assert problems(at) == []
    assert len(at.dataframe[0].value) >= 5
    at.radio(key="cat_format").set_value("CSV or JSON Lines table").run()
    at.text_input(key="cat_name").input("books")  # form fields: sent together on submit
    at.file_uploader(key="cat_items_upload").upload(
        "items.csv", b"id,title,creator\n1,Dune,Frank Herbert\n2,Emma,Jane Austen\n2,Emma again,x\n", "text/csv")
    at.button[[b.label for b in at.button].index("Import")].click().run()
    assert problems(at) == []
    assert any("Imported 'books'" in s.value for s in at.success)
    assert any("duplicate ids" in w.value for w in at.warning)
    assert "books" in [d["name"] for d in store(app_db).db.query("SELECT name FROM datasets")]


def test_catalog_import_error_is_a_message(app_db):
    at = new_app("pages/catalog.py")
    at.radio(key="cat_format").set_value("MovieLens folder").run()
    at.text_input(key="cat_name").input("ml")
    at.text_input(key="cat_ml_folder").input("/nonexistent/folder")
    at.button[[b.label for b in at.button].index("Import")].click().run()
    assert not at.exception
    [error] = at.error
    assert "Could not import the dataset" in error.value and "server paths are limited to" in error.value


def _import_small_log(path) -> None:
    """A 40-item, 30-user log: enough for LLMRank-20 (19 negatives) without any model."""
    from recsys.datasets import import_table

    folder = path.parent
    items = folder / "items.csv"
    items.write_text("id,title\n" + "".join(f"{i},Item {i}\n" for i in range(40)))
    inter = folder / "inter.csv"
    inter.write_text("user_id,item_id,timestamp\n" + "".join(
        f"u{u},{(u * 7 + k * 3) % 40},{k}\n" for u in range(30) for k in range(6)))
    import_table(dbmod.connect(path), "log", items=items, interactions=inter)


def test_evaluate_runs_baselines_and_reads_them_back(app_db):
    evaluate = pytest.importorskip("recsys.evaluate", reason="the evaluation harness is not installed")
    if not all(hasattr(evaluate, f) for f in ("run_evaluation", "list_evaluations", "load_evaluation")):
        pytest.skip("the evaluation harness lacks run/list/load")
    _import_small_log(app_db)
    at = new_app("pages/evaluate.py")
    assert problems(at) == []
    at.multiselect(key="eval_methods").set_value(["random", "pop"])
    at.number_input(key="eval_users").set_value(0)
    at.button[[b.label for b in at.button].index("Run")].click().run()
    assert problems(at) == []
    assert any("stored" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert list(table["method"]) == ["random", "pop"] and table["ndcg@10"].between(0, 100).all()
    assert len(at.get("plotly_chart")) >= 2  # ROC and PR
    again = new_app("pages/evaluate.py")
    assert problems(again) == []
    assert list(again.dataframe[0].value["method"]) == ["random", "pop"]  # the stored one, read back


@pytest.mark.slow
def test_review_a_random_user_of_an_imported_log(app_db):
    _import_small_log(app_db)
    at = new_app("pages/review.py", rater="cid", x="Embeddings only", y="Popularity only")
    at.radio(key="rev_source").set_value("Users of a dataset").run()
    assert problems(at) == []
    scenario = at.selectbox(key="rev_scenario").value
    assert scenario.startswith("user:log:u")
    assert len([w for w in at.get("segmented_control") if w.key.startswith("rev_label_")]) == 10
    at.button[[b.label for b in at.button].index("Draw a user")].click().run()
    assert problems(at) == [] and at.selectbox(key="rev_scenario").value.startswith("user:log:u")


def test_empty_history_ranks_by_popularity_and_shows_the_engine_note(app_db):
    at = new_app(dataset="music")
    at.button(key="rec_run_button").click().run()
    assert problems(at) == []
    result = at.session_state["rec_result"]
    assert result.model == "" and len(result.recommendations) == 10
    assert any("popularity prior alone" in i.value for i in at.info)  # the engine's note, on the page


# -- a demo audience: no dead ends, no stalls, numbers that agree, a truly blind A/B, plain words -------------------
def test_evaluate_opens_on_a_stored_run_of_the_demo_log(app_db):
    at = new_app("pages/evaluate.py")
    assert problems(at) == []
    assert not any("needs a dataset with users" in i.value for i in at.info)
    table = at.dataframe[0].value
    assert {"random", "pop", "bm25"} <= set(table["method"]) and table["ndcg@10"].between(0, 100).all()
    assert len(at.get("plotly_chart")) >= 2  # ROC and PR of the stored run
    assert "movies-log" in at.selectbox(key="eval_dataset").options  # and it can be run again, with the LM


def test_sidebar_puts_plain_words_first_and_the_symbols_under_advanced(app_db):
    at = new_app()
    shown = [w.label for w in [*at.sidebar.slider, *at.sidebar.radio, *at.sidebar.selectbox]]
    assert not any(sym in label for label in shown for sym in "αβγλ"), shown
    [advanced] = [e for e in at.sidebar.expander if e.label == "Advanced"]
    inside = {w.key for w in [*advanced.slider, *advanced.radio, *advanced.toggle]}
    assert {"set_alpha", "set_beta", "set_lam", "set_gamma", "set_fusion", "set_calibration"} <= inside
    labels = {w.key: w.label for w in advanced.slider}
    assert labels["set_alpha"] == "How much the language model counts" and labels["set_beta"] == "Popularity weight"
    assert "β" in advanced.slider(key="set_beta").help and "α" in advanced.slider(key="set_alpha").help
    fusion = advanced.radio(key="set_fusion")
    assert "product" not in fusion.options and "mixture" not in fusion.options  # plain words on the buttons
    assert "product" in fusion.help
    fusion.set_value("mixture").run()
    assert at.session_state["set_fusion"] == "mixture"  # the values behind the words are unchanged


def test_an_import_error_names_the_uploaded_file_and_shows_the_line(app_db):
    at = new_app("pages/catalog.py")
    at.radio(key="cat_format").set_value("CSV or JSON Lines table").run()
    at.text_input(key="cat_name").input("books")
    at.file_uploader(key="cat_items_upload").upload(
        "my books.csv", b"id,title,creator\n1,Dune,Frank Herbert\n2,\"Emma,Jane\n3,x,y\n", "text/csv")
    at.button[[b.label for b in at.button].index("Import")].click().run()
    assert not at.exception
    [error] = at.error
    assert md("my books.csv") in error.value and "line 3" in error.value and "never closed" in error.value
    assert "/tmp" not in error.value and tempfile_dir() not in error.value and "\\n" not in error.value
    assert [c.value for c in at.code] == ['2,"Emma,Jane']  # the offending line, as it is in the file
    assert "books" not in [d["name"] for d in store(app_db).db.query("SELECT name FROM datasets")]  # nothing stored


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


def test_blind_pairs_travel_as_an_opaque_token():
    from recsys.ui import scenarios

    names = [*scenarios.PRESETS, scenarios.CURRENT]
    token = scenarios.pair_token(names[3], names[4])
    assert scenarios.pair_from_token(token, names) == (names[3], names[4])
    assert re.fullmatch(r"[0-9a-f]{12}", token)  # nothing of the names shows
    assert scenarios.pair_from_token("nonsense", names) is None
    # the side each configuration takes is drawn per scenario (and stays the same on a reload)
    sides = {scenarios.a_is_x("ann", f"example:movies:{k}", "kx", "ky") for k in range(12)}
    assert sides == {True, False}


@pytest.mark.slow
def test_blind_ab_hides_the_names_until_the_rater_chose(model_db):
    from recsys.ui import scenarios

    x, y = "Embeddings only", "Popularity only"  # no language model: quick
    at = new_app("pages/review.py", rater="dee", scenario="example:music:0", ab=scenarios.pair_token(x, y))
    assert problems(at) == []
    page_text = lambda a: "\n".join(str(e.value) for e in [*a.markdown, *a.caption, *a.success, *a.text])  # noqa: E731
    labels = " ".join(s.label for s in at.status)
    assert "Ranking a list" in labels
    for name in (x, y):
        assert name not in page_text(at) and name not in labels
        assert all(name not in str(v) for v in at.query_params.values())
    assert set(at.query_params) == {"rater", "scenario", "ab"}
    choice = next(w for w in at.get("segmented_control") if w.key.startswith("rev_choice_"))
    choice.set_value("B").run()
    assert problems(at) == []
    revealed = " ".join(s.value for s in at.success)
    assert x in revealed and y in revealed and "B" in revealed
    [judgement] = store(model_db).judgements(rater="dee", scenario="example:music:0")
    assert judgement["choice"] in ("x", "y")


@pytest.mark.slow
def test_a_like_rescores_only_its_own_row_and_every_number_agrees(model_db):
    at = new_app()
    at.selectbox(key="rec_dataset").set_value("videos").run()
    at.slider(key="set_n_candidates").set_value(20).run()
    at.selectbox(key="rec_example").set_value(0).run()
    assert problems(at) == []
    before = at.session_state["rec_result"]
    assert len(before.candidate_ids) == before.candidates_considered == 25
    said = titles_in(at)
    seconds = f"{before.timings['total'] / 1000:.2f} s"
    assert f"**{seconds}**" in said and "25 candidates (20 retrieved by similarity + 5 popular)" in said
    statuses = [s.label for s in at.status if "done in" in s.label]
    assert statuses and all(seconds in s for s in statuses)  # the status box says the same time

    liked = before.recommendations[0].item.id
    at.button(key=f"rec_like_{liked}").click().run()
    after = at.session_state["rec_result"]
    assert problems(at) == []
    assert after.candidate_ids == tuple(i for i in before.candidate_ids if i != liked)
    assert after.pairs_computed <= len(after.candidate_ids)  # only the liked item's row was new
    assert "the previous list's" in titles_in(at)
    disliked = after.recommendations[0].item.id
    at.button(key=f"rec_dislike_{disliked}").click().run()
    assert at.session_state["rec_result"].pairs_computed == 0  # a dislike adds no row at all
