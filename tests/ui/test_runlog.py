"""The run log: a line per script run when RECSYS_RUN_LOG is set, none otherwise, and the load test's sum of a
session's runs inside a step."""
import pytest

from recsys.ui import runlog


def test_nothing_is_written_unless_the_setting_names_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv(runlog.ENV, raising=False)
    with runlog.timed("recommend", "ana"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_each_run_is_a_line_with_its_page_session_and_outcome(tmp_path, monkeypatch):
    path = tmp_path / "runs.jsonl"
    monkeypatch.setenv(runlog.ENV, str(path))
    with runlog.timed("recommend", "ana"):
        pass

    class StopException(Exception):  # how st.stop() ends a run: written, then passed on
        pass

    with pytest.raises(StopException), runlog.timed("review", "bo"):
        raise StopException
    runs = runlog.read(path)
    assert [(r["page"], r["who"], r["outcome"]) for r in runs] == [("recommend", "ana", "finished"),
                                                                   ("review", "bo", "StopException")]
    assert all(r["seconds"] >= 0 and r["end"] > 0 for r in runs)
    assert runlog.read(tmp_path / "absent.jsonl") == []


def test_a_steps_server_time_is_its_sessions_runs_that_began_inside_it():
    runs = [{"who": "ana", "end": 10.0, "seconds": 0.5}, {"who": "ana", "end": 11.0, "seconds": 0.25},
            {"who": "bo", "end": 10.5, "seconds": 1.0}, {"who": "ana", "end": 13.0, "seconds": 1.5}]
    assert runlog.seconds_within(runs, "ana", 9.0, 12.0) == 2.25  # the last began at 11.5: in, though it ends later
    assert runlog.seconds_within(runs, "ana", 9.6, 12.0) == 1.75  # the first began at 9.5, before the step
    assert runlog.seconds_within(runs, "cy", 0.0, 99.0) == 0
