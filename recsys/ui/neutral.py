"""ℓ(y|∅) for the app's embedded catalogs, computed in a background thread when the app starts, with progress.

ℓ(y|∅) does not depend on the person, so scoring it once per catalog item means a cold request scores one prompt
fewer. The thread goes through the same `PairScorer` and keys as requests (what is cached is skipped, so a
restart resumes), opens its own SQLite connection, and commits each chunk. RECSYS_PRECOMPUTE_NEUTRAL=0 turns
it off.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import open_catalog
from ..config import ScoringConfig
from ..errors import RecsysError
from ..text import template_for

log = logging.getLogger(__name__)
CHUNK = 32  # items scored and committed at a time: a request waits at most one chunk for the model
DEMO_SOURCE = "embedded demo catalog"


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
    try:
        catalog = open_catalog(db_path)
        datasets = [d for d in catalog.datasets() if d.source.startswith(DEMO_SOURCE) and (not only or d.name in only)]
        work = [(d, catalog.dataset_items(d.name)) for d in datasets]
        job.total = sum(len(items) for _, items in work)
        scorer = models.pair_scorer(catalog, config)
        for info, items in work:
            job.dataset = info.name
            template = template_for(info.domain, config.template)
            texts = [i.lm_text() for i in items]
            for s in range(0, len(texts), CHUNK):
                scorer.matrix(template, [], texts[s:s + CHUNK], neutral=True)
                job.done += len(texts[s:s + CHUNK])
                job.computed = scorer.computed
        job.finished = True
    except RecsysError as e:  # the model failed to load: requests fall back and say so; this only reports it
        job.error = str(e)
    except Exception as e:  # a background thread must not die silently
        log.exception("background ℓ(y|∅) scoring failed")
        job.error = f"{type(e).__name__}: {e}"
