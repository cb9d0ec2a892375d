"""The load test's pure parts, without a browser: percentiles, the step summary, reconciling what the sessions did
with what the database holds, reading the records back through the store, and the named errors of bad input."""
from __future__ import annotations

import math
import socket

import numpy as np
import pytest

from recsys import db as dbmod
from recsys.errors import LoadTestError, RecsysError
from recsys.loadtest import (Plan, check_port, class_key, cpu_used, percentile, reconcile, records_in, summarise,
                             template_path)
from recsys.store import Store


@pytest.mark.parametrize("values", [[1.0], [3.0, 1.0], [5, 1, 4, 2, 3], list(np.random.default_rng(0).random(37))])
@pytest.mark.parametrize("q", [0, 50, 95, 100])
def test_percentile_matches_numpy(values, q):
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing_is_nan_and_q_is_checked():
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarise_orders_steps_and_skips_empty_ones():
    rows = summarise({"like": [1.0, 3.0], "example": [2.0], "open": [], "extra": [4.0]})
    assert [r["step"] for r in rows] == ["example", "like", "extra"]
    like = rows[1]
    assert like == {"step": "like", "n": 2, "median_s": 2.0, "p95_s": pytest.approx(2.9), "max_s": 3.0}


def test_cpu_between_snapshots_counts_live_processes_and_never_goes_down():
    before = {1: ("server", 10.0), 2: ("browsers", 5.0), 3: ("browsers", 40.0)}
    after = {1: ("server", 10.5), 2: ("browsers", 6.0), 4: ("browsers", 0.25)}  # 3 closed, 4 started meanwhile
    assert cpu_used(before, after) == {"server": 0.5, "browsers": 1.25}


def test_each_precision_has_its_own_template(monkeypatch):
    """An app in bfloat16 must not be handed the float32 scores the tests cached: it would score them all again."""
    plan = Plan(sessions=1, examples=1)
    paths = {}
    for precision in ("float32", "bfloat16"):
        monkeypatch.setenv("RECSYS_PRECISION", precision)
        paths[precision] = template_path(plan)
    assert paths["float32"] != paths["bfloat16"]
    assert "smollm2-135m@bf16" in paths["bfloat16"].name and "@" not in paths["float32"].name
    assert "smollm2" not in template_path(Plan(sessions=1, no_lm=True)).name  # no scores, one template


def test_class_key_is_streamlits_key_class():
    assert class_key("movies:toy-story") == "movies-toy-story"
    assert class_key("a b/c_d") == "a-b-c_d"


def test_reconcile_counts_lost_duplicated_and_unexpected():
    a, b, c = ("label", "s0", "x"), ("feedback", "s0", "i", "like"), ("judgement", "s1", "sc", "A")
    ok = reconcile([a, b, c], [c, b, a], owners=["s0", "s1"])
    assert (ok["lost"], ok["duplicated"], ok["unexpected"]) == (0, 0, 0)
    assert ok["by_kind"]["label"] == {"expected": 1, "found": 1, "cut_off": 0}
    bad = reconcile([a, b, b, c], [b, b, b, c, ("label", "s1", "y")], owners=["s0", "s1"])
    assert bad["lost"] == 1  # a
    assert bad["duplicated"] == 1  # a third b where two likes were made
    assert bad["unexpected"] == 1  # nobody made ("label", "s1", "y")
    assert any("lost 1" in d for d in bad["details"])


def test_reconcile_an_action_cut_off_may_be_there_once_or_not_at_all():
    cut = ("feedback", "killed", "i", "like")
    assert reconcile([], [], maybe=[cut])["lost"] == 0
    assert reconcile([], [cut], maybe=[cut])["duplicated"] == 0
    twice = reconcile([], [cut, cut], maybe=[cut])
    assert twice["duplicated"] == 1


def test_records_in_reads_what_the_app_writes_and_flags_half_written_ones():
    db = dbmod.connect(memory=True)
    store = Store(db)
    sid = store.save_session(None, ["movies:a"], {}, "m", user="load-s0")
    store.add_feedback(sid, "movies:toy-story", "like", {"top": 10}, "m")
    store.add_feedback(sid, "movies:coco", "dislike", {"top": 10}, "m")
    other = store.save_session(None, ["movies:a"], {}, "m", user="someone else")
    store.add_feedback(other, "movies:coco", "like", {}, "m")
    store.save_label("load-s0", "example:movies:0", "movies:coco", "relevant")
    store.save_judgement("load-s0", "example:movies:0", ("k1", "X"), ("k2", "Y"), "y", "y")  # chose what was A
    keys, problems = records_in(db, ["load-s0"])
    assert sorted(keys) == sorted([
        ("feedback", "load-s0", "movies-toy-story", "like"), ("feedback", "load-s0", "movies-coco", "dislike"),
        ("label", "load-s0", "example:movies:0", "movies-coco", "relevant"),
        ("judgement", "load-s0", "example:movies:0", "A")])
    assert problems == []
    db.execute("INSERT INTO feedback (id, session_id, item_id, value) VALUES ('z', 'gone', 'movies:x', 'like')")
    db.execute("UPDATE review_labels SET label = NULL")
    _, problems = records_in(db, ["load-s0"])
    assert any("without their session" in p for p in problems)
    assert any("half-written label" in p for p in problems)


@pytest.mark.parametrize("plan, word", [
    (Plan(sessions=0), "--sessions"), (Plan(sessions=-3), "--sessions"), (Plan(sessions=33), "--sessions"),
    (Plan(walks=0), "--walks"), (Plan(timeout=1), "--timeout"), (Plan(examples=5), "--examples"),
    (Plan(port=70000), "--port"), (Plan(db_from="/nonexistent/app.db"), "--db-from"),
])
def test_bad_plans_are_named_errors(plan, word):
    with pytest.raises(LoadTestError, match=word) as e:
        plan.check()
    assert isinstance(e.value, RecsysError)


def test_an_occupied_port_is_a_named_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(LoadTestError, match="cannot be used"):
            check_port(s.getsockname()[1])


def test_the_cli_turns_bad_input_into_one_line(capsys, monkeypatch):
    from recsys import loadtest
    from recsys.cli import main

    assert main(["loadtest", "--sessions", "0"]) == 2
    assert "error: --sessions must be between 1 and 32, not 0" in capsys.readouterr().err
    monkeypatch.setattr("recsys.ui.serve.chromium_path", lambda: None)
    assert main(["loadtest", "--sessions", "2"]) == 2
    assert "Chromium is not installed" in capsys.readouterr().err
    assert "streamlit" not in loadtest.__dict__


def test_the_cli_hands_every_option_to_the_plan(monkeypatch):
    from recsys.cli import main

    seen = []

    def stop(plan, say):
        seen.append(plan)
        raise LoadTestError("stopped here")

    monkeypatch.setattr("recsys.loadtest.run", stop)
    assert main(["loadtest", "--sessions", "3", "--nice-browsers", "--kill-one", "--examples", "2"]) == 2
    assert seen == [Plan(sessions=3, nice_browsers=True, kill_one=True, examples=2)]


# -- the page-side JavaScript, run in Node (no browser): when is a step's run finished? -----------------------------
def _node(script: str) -> str:
    import shutil
    import subprocess

    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("needs Node.js to run the load test's page-side JavaScript")
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_finished_run_is_read_off_the_servers_message():
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from recsys.loadtest import FINISHED_JS

    def frame(**fields) -> list[int]:
        m = ForwardMsg(hash="abc")
        m.metadata.delta_path.extend([0, 300])
        for k, v in fields.items():
            if k == "delta":
                m.delta.new_element.markdown.body = "x" * 200  # a long field: its length is a 2-byte varint
            else:
                setattr(m, k, v)
        return list(m.SerializeToString())

    cases = [frame(script_finished=0), frame(script_finished=3), frame(script_finished=2), frame(delta=1),
             frame(), list(ForwardMsg(script_finished=0).SerializeToString())]
    got = _node(f"const f = {FINISHED_JS};\n"
                f"console.log(JSON.stringify({cases}.map(b => f(new Uint8Array(b).buffer))));")
    assert got == "[true,true,false,false,false,true]"


def _done(state: str, lt: dict, before: list[int], texts: list[str], body: str) -> str:
    import json

    from recsys.loadtest import DONE_JS

    return _node(f"""
        globalThis.performance = {{now: () => 10000}};
        globalThis.window = {{__lt: {json.dumps(lt)}}};
        const app = {{getAttribute: () => {json.dumps(state)}}};
        globalThis.document = {{querySelector: (s) => s.includes('stApp') ? app : null,
                               querySelectorAll: () => [], body: {{innerText: {json.dumps(body)}}}}};
        console.log(({DONE_JS})([{json.dumps(before)}, {json.dumps(texts)}, [], false]));""")


def test_a_run_the_dom_never_showed_running_still_ends_the_step():
    """A quick run under load: React renders its start and its end in one commit, the script state goes from
    'rerunRequested' straight back to 'notRunning', and the DOM's run count stays where it was. The server's
    script_finished message still ends the step (the page showed its result), once the page had time to apply it."""
    body = "You labelled 1 of 10 items here."
    settled = {"runs": 3, "finished": 4, "finishedAt": 9000}
    assert _done("notRunning", settled, [3, 3], ["You labelled 1 of"], body) == "true"
    assert _done("notRunning", dict(settled, finishedAt=9800), [3, 3], ["You labelled 1 of"], body) == "false"
    assert _done("notRunning", dict(settled, finished=3), [3, 3], ["You labelled 1 of"], body) == "false"
    assert _done("running", settled, [3, 3], ["You labelled 1 of"], body) == "false"
    assert _done("notRunning", settled, [3, 3], ["You labelled 2 of"], body) == "false"
    assert _done("notRunning", {"runs": 4, "finished": 3, "finishedAt": 0}, [3, 3], ["You labelled 1 of"],
                 body) == "true"
