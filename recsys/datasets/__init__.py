"""Dataset importers: MovieLens, RecBole/UniSRec atomic files, generic CSV/JSONL, LLMRank candidate files.

Each importer streams its files, validates every line, replaces the named dataset in one transaction and
returns an `ImportReport` of what it stored and what it found wrong. `eval_samples` then reads any imported
dataset as (user, history, target) samples. The CLI is `python -m recsys import FORMAT …` (see `cli.py`).
"""
from .candidates import import_candidates
from .common import DOMAINS, ImportReport, remove_dataset, shared_data_dir
from .generic import Columns, import_table
from .movielens import import_movielens
from .recbole import import_recbole
from .samples import Sample, candidate_lists, eval_samples
from .shared import SHARED, import_shared

__all__ = [
    "DOMAINS", "SHARED", "Columns", "ImportReport", "Sample", "candidate_lists", "eval_samples", "import_candidates",
    "import_movielens", "import_recbole", "import_shared", "import_table", "remove_dataset", "shared_data_dir",
]
