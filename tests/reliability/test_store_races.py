"""Races in the store that only show with several threads on one file: each must leave exactly one row."""
from __future__ import annotations

import threading

from recsys import db as dbmod
from recsys.store import Store


def hammer(path, n_threads: int, fn) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def run(k: int):
        store = Store(dbmod.connect(path))
        start.wait()
        try:
            fn(store, k)
        except BaseException as e:  # noqa: BLE001 - every error is a failure
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_one_session_saved_from_several_threads_at_once(tmp_path):
    """Two reruns of one browser session saving at the same moment: no UNIQUE error, one row, a valid history.

    (Before the fix, save_session counted the row and then inserted it, so two threads could both insert.)"""
    path = tmp_path / "s.db"
    dbmod.connect(path)
    for trial in range(15):
        sid = f"session-{trial}"
        errors = hammer(path, 8, lambda store, k: store.save_session(sid, [f"m:{k}"], {"k": k}, "m"))
        assert not errors, repr(errors[0])
        store = Store(dbmod.connect(path))
        rows = store.db.execute("SELECT count(*) FROM sessions WHERE id = ?", [sid]).fetchone()[0]
        assert rows == 1
        saved = store.session(sid)
        assert saved["history"] == [f"m:{saved['settings']['k']}"]  # one writer's whole row, not a mix


def test_session_update_keeps_its_creation_time(tmp_path):
    store = Store(dbmod.connect(tmp_path / "s.db"))
    sid = store.save_session(None, ["m:a"], {}, "m")
    created = store.session(sid)["created"]
    store.db.execute("UPDATE sessions SET created = '2000-01-01T00:00:00+00:00' WHERE id = ?", [sid])
    store.save_session(sid, ["m:a", "m:b"], {"x": 1}, "m2", user="ann")
    s = store.session(sid)
    assert s["created"] == "2000-01-01T00:00:00+00:00" != created
    assert (s["history"], s["settings"], s["model"], s["user"]) == (["m:a", "m:b"], {"x": 1}, "m2", "ann")
