"""Turns at the process's one model: requests that must score take it one at a time, first come first served,
and a waiting request can say how many are ahead of it. No Streamlit here.

Why a queue and not only the backend's own lock: that lock covers one forward pass, so two sessions that both need
new scores interleave their prompts (each finishes late), tokenise at the same time, and score the same missing
pairs twice. A request holds its turn for the whole of its scoring, and looks the cache up again once it has it
(`loaders.QueuedPairScorer`), so what the request ahead of it just scored is a lookup. A request whose pairs are
all cached never takes a turn and never waits.

A waiter that leaves (its session closed, or a rerun) gives its place up; a holder that fails releases its turn.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

POLL_S = 0.25  # how often a waiter re-reads its place
REPEAT_S = 2.0  # a waiter reports its place at least this often, so a closed session's script is stopped

Waiting = Callable[[int], None]  # called with the number of requests ahead while waiting


class ModelQueue:
    """A FIFO lock with visible places; re-entrant per thread (a holder taking its turn again just continues)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._line: list[object] = []  # tokens in order; the first holds the turn
        self._owner: dict[int, object] = {}  # thread id -> its token while it holds the turn

    def ahead(self, token: object) -> int:
        with self._cond:
            return self._line.index(token) if token in self._line else 0

    @property
    def length(self) -> int:
        """Requests holding or waiting for the turn."""
        with self._cond:
            return len(self._line)

    def held(self) -> bool:
        """Whether the calling thread holds the turn."""
        return threading.get_ident() in self._owner

    @contextmanager
    def turn(self, waiting: Waiting | None = None) -> Iterator[None]:
        """Hold the model's turn for the block; `waiting(ahead)` is called while queued, when the count changes
        (and may raise, e.g. Streamlit stopping a closed session's script: the place is then given up)."""
        me = threading.get_ident()
        if me in self._owner:  # already this thread's turn
            yield
            return
        token = object()
        with self._cond:
            self._line.append(token)
        try:
            said, when = None, 0.0
            while True:
                with self._cond:
                    place = self._line.index(token)
                    if place == 0:
                        self._owner[me] = token
                        break
                    if place == said and time.monotonic() - when < REPEAT_S:
                        self._cond.wait(POLL_S)
                        continue
                said, when = place, time.monotonic()
                if waiting is not None:
                    waiting(place)  # outside the condition: it may draw on a page (and raise if the page is gone)
        except BaseException:
            self._leave(token, me)
            raise
        try:
            yield
        finally:
            self._leave(token, me)

    def _leave(self, token: object, me: int) -> None:
        with self._cond:
            if token in self._line:
                self._line.remove(token)
            if self._owner.get(me) is token:
                del self._owner[me]
            self._cond.notify_all()


MODEL = ModelQueue()  # the process's queue: every session and the background ℓ(y|∅) job share it
_waiting = threading.local()  # per thread: how the request running in it shows that it waits


@contextmanager
def showing(waiting: Waiting) -> Iterator[None]:
    """Within the block, a turn this thread waits for is reported to `waiting`."""
    previous = getattr(_waiting, "callback", None)
    _waiting.callback = waiting
    try:
        yield
    finally:
        _waiting.callback = previous


def model_turn():
    """The process's model turn, reported to whatever the calling thread's request shows (if anything)."""
    return MODEL.turn(getattr(_waiting, "callback", None))
