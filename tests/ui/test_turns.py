"""The model queue (recsys/ui/turns.py): first come first served, each waiter told how many are ahead, a waiter that
leaves gives its place up, a holder that fails releases the turn, and a holder may take its turn again."""
from __future__ import annotations

import threading
import time

import pytest

from recsys.ui import turns
from recsys.ui.turns import ModelQueue


def test_turns_are_served_in_order_and_waiters_see_their_place(monkeypatch):
    monkeypatch.setattr(turns, "POLL_S", 0.01)
    q = ModelQueue()
    order, places = [], {}
    gate = threading.Event()

    def holder():
        with q.turn():
            gate.wait(5)
            order.append("holder")

    def waiter(name):
        with q.turn(lambda ahead: places.setdefault(name, []).append(ahead)):
            order.append(name)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    while q.length < 1:
        time.sleep(0.001)
    for k, name in enumerate(["w1", "w2", "w3"]):
        t = threading.Thread(target=waiter, args=(name,))
        t.start()
        threads.append(t)
        while q.length < k + 2:
            time.sleep(0.001)
    time.sleep(0.05)
    assert {n: p[0] for n, p in places.items()} == {"w1": 1, "w2": 2, "w3": 3}
    gate.set()
    for t in threads:
        t.join(5)
    assert order == ["holder", "w1", "w2", "w3"]
    assert places["w3"] == sorted(places["w3"], reverse=True)  # its place only ever moved forward
    assert q.length == 0


def test_a_waiter_that_leaves_gives_its_place_up(monkeypatch):
    monkeypatch.setattr(turns, "POLL_S", 0.01)
    q = ModelQueue()
    gate, served = threading.Event(), []

    def holder():
        with q.turn():
            gate.wait(5)

    class Gone(Exception):
        pass

    def leaver():
        def waiting(ahead):
            raise Gone  # as Streamlit stops the script of a closed session at its next page update
        with pytest.raises(Gone):
            with q.turn(waiting):
                served.append("leaver")

    h = threading.Thread(target=holder)
    h.start()
    while q.length < 1:
        time.sleep(0.001)
    t = threading.Thread(target=leaver)
    t.start()
    t.join(5)
    assert q.length == 1 and served == []
    gate.set()
    h.join(5)
    with q.turn():  # nobody is left holding it
        served.append("next")
    assert served == ["next"] and q.length == 0


def test_a_failing_holder_releases_and_a_holder_may_take_its_turn_again():
    q = ModelQueue()
    with pytest.raises(RuntimeError):
        with q.turn():
            assert q.held()
            with q.turn():  # re-entrant: no deadlock
                assert q.length == 1
            raise RuntimeError("the model failed")
    assert not q.held() and q.length == 0


def test_model_turn_reports_to_what_the_thread_shows(monkeypatch):
    monkeypatch.setattr(turns, "POLL_S", 0.01)
    monkeypatch.setattr(turns, "MODEL", ModelQueue())
    seen, gate = [], threading.Event()

    def holder():
        with turns.model_turn():
            gate.wait(5)

    h = threading.Thread(target=holder)
    h.start()
    while turns.MODEL.length < 1:
        time.sleep(0.001)

    def request():
        with turns.showing(seen.append), turns.model_turn():
            pass

    t = threading.Thread(target=request)
    t.start()
    time.sleep(0.05)
    gate.set()
    h.join(5)
    t.join(5)
    assert seen and seen[0] == 1
