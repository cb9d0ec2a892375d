"""A line per script run of the app when RECSYS_RUN_LOG names a file: the page, whose session (its rater's name),
when the run ended and how long the server took over it. The load test reads it to tell the server's part of a
step from the browser's, which on one machine share the cores. No Streamlit here: the app says what it knows."""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "RECSYS_RUN_LOG"
_lock = threading.Lock()  # the server runs each session's script in its own thread


@contextmanager
def timed(page: str, who: str) -> Iterator[None]:
    """Time one script run; nothing is written unless RECSYS_RUN_LOG is set. A run that ends by `st.stop()`, by
    a rerun asked for meanwhile or by an error is written too, its outcome named (the exception passes on).
    `who` is read before the run: once a run is stopped, touching its session state stops it again."""
    path = os.environ.get(ENV)
    if not path:
        yield
        return
    start, outcome = time.perf_counter(), "finished"
    try:
        yield
    except BaseException as e:  # Streamlit's StopException and RerunException are how its runs end early
        outcome = type(e).__name__
        raise
    finally:
        line = json.dumps({"page": page, "who": who, "end": time.time(),
                           "seconds": round(time.perf_counter() - start, 4), "outcome": outcome})
        with _lock, open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def read(path: str | Path) -> list[dict]:
    """The runs written so far (none if the file is not there)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def seconds_within(runs: list[dict], who: str, start: float, end: float) -> float:
    """The server's seconds over `who`'s runs that began between `start` and `end` (wall-clock time): what a
    step set going, including a run that goes on after the step's sign is already on the page."""
    return sum(r["seconds"] for r in runs if r["who"] == who and start <= r["end"] - r["seconds"] <= end)
