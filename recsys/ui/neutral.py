"""ℓ(y|∅) for the app's embedded catalogs, computed in a background thread when the app starts, with progress.

ℓ(y|∅) does not depend on the person, so scoring it once per catalog item means a cold request scores one prompt
fewer. The thread runs `recsys.demo.score_neutral`, what `python -m recsys demo` runs (the same `PairScorer` and
keys as requests; what is cached is skipped, so after `make run`'s demo step it scores nothing and a
restart resumes), on its own SQLite connection, committing each chunk. RECSYS_PRECOMPUTE_NEUTRAL=0 turns it off.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import open_catalog
from ..config import ScoringConfig
from ..demo import score_neutral
from ..errors import RecsysError

log = logging.getLogger(__name__)
CHUNK = 32  # items scored and committed at a time: a request waits at most one chunk for the model


@dataclass
class NeutralJob:
    """Progress of the background scoring, read by the settings panel."""

    total: int = 0
    done: int = 0
    computed: int = 0
    dataset: str = ""
    finished: bool = False
    error: str = ""
    thread: threading.Thread | None = field(default=None, repr=False)

    def line(self) -> str:
        if self.error:
            return f"ℓ(y|∅) for the catalogs stopped: {self.error}"
        if self.finished:
            return f"ℓ(y|∅) ready for all {self.total:,} catalog items ({self.computed:,} scored in this process)"
        return f"Scoring ℓ(y|∅) for the catalogs in the background: {self.done:,} of {self.total:,} items"


def enabled() -> bool:
    return os.environ.get("RECSYS_PRECOMPUTE_NEUTRAL", "1") not in ("0", "false", "no")


def start(db_path: str | Path, models, config: ScoringConfig | None = None,
          only: tuple[str, ...] = ()) -> NeutralJob:
    """Start scoring the embedded catalogs' ℓ(y|∅) (or only those named) under `models` in a daemon thread;
    returns its progress."""
    job = NeutralJob()
    job.thread = threading.Thread(target=run, args=(job, db_path, models, config or ScoringConfig(), only),
                                  name="neutral-scores", daemon=True)
    job.thread.start()
    return job


def run(job: NeutralJob, db_path: str | Path, models, config: ScoringConfig, only: tuple[str, ...] = ()) -> None:
    def progress(dataset: str, done: int, total: int) -> None:
        job.dataset, job.done, job.total = dataset, done, total

    try:
        job.computed = score_neutral(open_catalog(db_path), models, config, progress=progress,
                                     datasets=only or None, chunk=CHUNK)
        job.finished = True
    except RecsysError as e:  # the model failed to load: requests fall back and say so; this only reports it
        job.error = str(e)
    except Exception as e:  # a background thread must not die silently
        log.exception("background ℓ(y|∅) scoring failed")
        job.error = f"{type(e).__name__}: {e}"
