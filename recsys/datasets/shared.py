"""The development datasets in ../shared/data, each imported by one call with the right importer and flags.

`python -m recsys import shared ml-100k` is the one command between a fresh database and an evaluation.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from ..errors import RecsysError
from .common import ImportReport, shared_data_dir
from .generic import Columns, import_table
from .movielens import import_movielens
from .recbole import import_recbole


def _splits(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}.{s}.inter" for s in ("train", "valid", "test")]


# name -> (folder, importer(db, dataset, folder, **options))
SHARED: dict[str, Callable[..., ImportReport]] = {
    "ml-100k": lambda db, name, d, **kw: import_movielens(db, name, d, variant="100k", **kw),
    "ml-latest-small": lambda db, name, d, **kw: import_movielens(db, name, d, variant="latest", **kw),
    "lastfm": lambda db, name, d, **kw: import_recbole(db, name, items=d / "lastfm.item", inter=_splits(d, "lastfm"),
                                                       domain="music", **kw),
    "amazon-scientific": lambda db, name, d, **kw: import_recbole(
        db, name, items=d / "Scientific.text", item2index=d / "Scientific.item2index",
        inter=_splits(d, "Scientific"), domain="products", **kw),
    "microlens-titles": lambda db, name, d, **kw: import_table(
        db, name, items=d / "MicroLens-50k_titles.csv", columns=Columns(id="item", title="title"), domain="videos",
        **kw),
}


def import_shared(db: sqlite_utils.Database, name: str, *, dataset: str | None = None,
                  data_dir: str | Path | None = None, max_bad_lines: int = 0, progress: bool = False) -> ImportReport:
    """Import shared dataset `name` (folder of `data_dir`, default `shared_data_dir()`) as `dataset` (default name)."""
    if name not in SHARED:
        raise RecsysError(f"unknown shared dataset {name!r}; known: {', '.join(SHARED)}")
    folder = Path(data_dir or shared_data_dir()) / name
    if not folder.is_dir():
        raise RecsysError(f"{folder} not found: the shared datasets live in ../shared/data next to the project "
                          "(or set RECSYS_SHARED_DATA, or pass --data-dir)")
    return SHARED[name](db, dataset or name, folder, max_bad_lines=max_bad_lines, progress=progress)
