"""Sessions, feedback, labels and judgements in real SQLite; the review summaries on known numbers."""
import math
import threading

import pytest

from recsys import db as dbmod
from recsys.config import ScoringConfig
from recsys.errors import RecsysError
from recsys.store import Store, agreement, cohen_kappa, config_key, precision_at_k, wilson, win_rates


@pytest.fixture
def store(tmp_path):
    return Store(dbmod.connect(tmp_path / "store.db"))


def test_session_is_created_then_updated(store):
    sid = store.save_session(None, ["movies:coco"], {"fusion": "product"}, "smollm2-135m")
    store.save_session(sid, ["movies:coco", "movies:up"], {"fusion": "mixture"}, "gemma3-270m")
    s = store.session(sid)
    assert s["history"] == ["movies:coco", "movies:up"]
    assert s["settings"] == {"fusion": "mixture"} and s["model"] == "gemma3-270m"
    assert [x["id"] for x in store.sessions()] == [sid]
    store.save_session(None, [], {}, "")
    assert len(store.sessions()) == 1 and len(store.sessions(with_history=False)) == 2


def test_feedback_keeps_session_settings_and_model(store):
    sid = store.save_session(None, ["movies:coco"], {}, "m")
    store.add_feedback(sid, "movies:up", "like", {"beta": 2.0}, "smollm2-135m")
    store.add_feedback(sid, "movies:cars", "dislike", {"beta": 2.0}, "smollm2-135m")
    rows = store.feedback(sid)
    assert [(r["item_id"], r["value"]) for r in rows] == [("movies:up", "like"), ("movies:cars", "dislike")]
    assert rows[0]["settings"] == {"beta": 2.0} and rows[0]["model"] == "smollm2-135m"
    with pytest.raises(RecsysError):
        store.add_feedback(sid, "movies:up", "love", {}, "m")


def test_labels_are_per_rater_and_last_write_wins(store):
    store.save_label("ann", "s1", "i1", "relevant", "great")
    store.save_label("bob", "s1", "i1", "not_relevant")
    store.save_label("ann", "s1", "i1", "unsure")
    got = {(r["rater"], r["item_id"]): (r["label"], r["note"]) for r in store.labels(scenario="s1")}
    assert got == {("ann", "i1"): ("unsure", ""), ("bob", "i1"): ("not_relevant", "")}
    store.save_note("ann", "s1", "i1", "on second thought")
    store.save_note("ann", "s1", "i2", "note first")
    labels = {r["item_id"]: r for r in store.labels(rater="ann")}
    assert labels["i1"]["label"] == "unsure" and labels["i1"]["note"] == "on second thought"
    assert labels["i2"]["label"] == "unsure"
    store.save_label("ann", "s1", "i1", None)
    assert [r["item_id"] for r in store.labels(rater="ann")] == ["i2"]
    with pytest.raises(RecsysError):
        store.save_label("", "s1", "i1", "relevant")
    with pytest.raises(RecsysError):
        store.save_label("ann", "s1", "i1", "maybe")


def test_judgement_is_one_row_whichever_side_it_was_made_from(store):
    lm, emb = ("k-lm", "LM + prior"), ("k-emb", "embeddings only")
    store.save_judgement("ann", "s1", emb, lm, shown_as_a="x", choice="x")  # emb shown as A and preferred
    rows = store.judgements()
    assert len(rows) == 1
    r = rows[0]
    assert (r["x_key"], r["y_key"]) == ("k-emb", "k-lm")  # canonical order by key
    assert r["choice"] == "x" and r["shown_as_a"] == "x"
    store.save_judgement("ann", "s1", lm, emb, shown_as_a="y", choice="x")  # now prefers lm, same pair
    rows = store.judgements()
    assert len(rows) == 1 and rows[0]["choice"] == "y" and rows[0]["shown_as_a"] == "x"
    store.save_judgement("ann", "s1", lm, emb, shown_as_a="y", choice=None)
    assert store.judgements() == []


def test_two_raters_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "concurrent.db"
    dbmod.connect(path)

    def rate(rater):
        s = Store(dbmod.connect(path))  # a connection per thread, as in the app
        for k in range(40):
            s.save_label(rater, "s", f"i{k}", "relevant" if k % 2 else "not_relevant")

    threads = [threading.Thread(target=rate, args=(r,)) for r in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(Store(dbmod.connect(path)).labels()) == 80


def test_saved_lists_round_trip_and_key_on_settings(store):
    cfg = ScoringConfig()
    key = store.save_list("s1", "Family night", ["movies:coco"], "LM + prior", cfg, 5, "smollm2-135m", ["a", "b"])
    assert key == config_key(cfg, 5) != config_key(cfg.with_(beta=0.0), 5) != config_key(cfg, 10)
    [row] = store.lists("s1")
    assert row["items"] == ["a", "b"] and row["history"] == ["movies:coco"] and row["config"]["top"] == 5


def test_wilson_interval_known_values():
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(0, 5)
    assert low == 0.0 and 0 < high < 0.5


def test_win_rate_counts_ties_half():
    rows = [{"x_key": "a", "y_key": "b", "x_name": "A", "y_name": "B", "choice": c}
            for c in ("x", "x", "y", "tie")]
    [w] = win_rates(rows)
    assert (w.x_wins, w.y_wins, w.ties, w.n) == (2, 1, 1, 4)
    assert w.rate == pytest.approx(2.5 / 4)
    assert w.low < w.rate < w.high


def test_precision_at_k_from_labels():
    lists = [{"scenario": "s1", "config_key": "c1", "config_name": "LM", "items": ["a", "b", "c", "d"]},
             {"scenario": "s1", "config_key": "c2", "config_name": "Emb", "items": ["d", "c", "b", "a"]}]
    labels = [{"rater": "ann", "scenario": "s1", "item_id": i, "label": lab}
              for i, lab in (("a", "relevant"), ("b", "relevant"), ("c", "not_relevant"), ("d", "unsure"))]
    rows = {r["config"]: r for r in precision_at_k(lists, labels, k=2)}
    assert rows["LM"]["precision"] == 1.0  # a, b both relevant
    assert rows["Emb"]["precision"] == 0.0  # d unsure (left out), c not relevant
    assert rows["Emb"]["unsure_or_unlabelled"] == 1


def test_cohen_kappa_and_pairwise_agreement():
    assert cohen_kappa(["r", "n", "r", "n"], ["r", "n", "r", "n"]) == 1.0
    assert cohen_kappa(["r", "r", "n", "n"], ["r", "n", "r", "n"]) == pytest.approx(0.0)
    assert math.isnan(cohen_kappa([], []))
    rows = [{"rater": "ann", "scenario": "s", "item_id": "a", "label": "relevant"},
            {"rater": "bob", "scenario": "s", "item_id": "a", "label": "relevant"},
            {"rater": "ann", "scenario": "s", "item_id": "b", "label": "relevant"},
            {"rater": "bob", "scenario": "s", "item_id": "b", "label": "not_relevant"},
            {"rater": "cid", "scenario": "t", "item_id": "a", "label": "relevant"}]
    [pair] = agreement(rows, ("scenario", "item_id"), "label")
    assert (pair["rater_1"], pair["rater_2"], pair["shared"], pair["agreement"]) == ("ann", "bob", 2, 0.5)
