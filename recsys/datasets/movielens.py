"""MovieLens importer: ML-100K (`u.data`, `u.item`), ML-1M/10M (`ratings.dat`, `movies.dat`, '::'-separated) and
ml-latest(-small) (`ratings.csv`, `movies.csv`).

Every rating is stored as an interaction (split NULL), sorted per user by timestamp, ties by numeric item id, so
rowid order is sequence order and evaluation derives leave-one-out from it. Titles are normalised
("Matrix, The (1999)" -> "The Matrix (1999)"); genres become tags, the year comes from the title.

Popularity prior: the number of a movie's ratings that are not a user's last one (the leave-one-out target).
The old files are latin-1: a line that is not UTF-8 is read as latin-1 and the report says how many were.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from ..catalog import Catalog, make_item
from ..errors import ImportFormatError
from .common import (ImportReport, ItemWriter, LogWriter, check_domain, check_encoding, check_name, clip,
                     csv_rows, header_index, import_transaction, parse_float, read_lines, record_dataset,
                     set_popularity, split_fields, tolerant)

GENRES_100K = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
               "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
               "War", "Western")
VARIANTS = {
    "100k": ("u.item", "u.data"),
    "1m": ("movies.dat", "ratings.dat"),
    "latest": ("movies.csv", "ratings.csv"),
}
_YEAR = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
_DATE_YEAR = re.compile(r"(\d{4})\s*$")


def detect_variant(folder: Path) -> str:
    """Which MovieLens layout a folder holds, from the files present."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportFormatError(folder, None, "expected a MovieLens folder (with u.data and u.item, "
                                              "ratings.dat and movies.dat, or ratings.csv and movies.csv)")
    for name, files in VARIANTS.items():
        if all((folder / f).is_file() for f in files):
            return name
    present = ", ".join(sorted(p.name for p in folder.iterdir())[:12]) or "nothing"
    raise ImportFormatError(folder, None, "not a MovieLens folder: expected u.data + u.item (ML-100K), "
                                          "ratings.dat + movies.dat (ML-1M/10M) or ratings.csv + movies.csv "
                                          f"(ml-latest); found {present}")


def _year(title: str, date: str = "") -> int | None:
    m = _YEAR.search(title) or _DATE_YEAR.search(date)
    return int(m.group(1)) if m else None


def _tags(genres: str) -> list[str]:
    return [g for g in genres.split("|") if g and g != "(no genres listed)"]


def read_movies(path: Path, variant: str, report: ImportReport, encoding: str = "utf-8", max_bad_lines: int = 0,
                progress: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield (line, raw item dict with source_id, title, tags, year) from the variant's movie file."""
    if variant == "latest":
        rows = csv_rows(path, encoding=encoding, fallback="latin-1", report=report, progress=progress)
        first = next(rows, None)
        cols = header_index(first[1], path, 1, ",") if first else {}
        if not {"movieId", "title"} <= cols.keys():
            raise ImportFormatError(path, 1, "expected the header movieId,title,genres, got "
                                             f"{clip(','.join(first[1]) if first else 'an empty file')}")

        def parse_row(lineno: int, row: list[str]) -> dict | None:
            if not row:
                return None
            if len(row) != len(first[1]):
                raise ImportFormatError(path, lineno, f"expected {len(first[1])} comma-separated fields "
                                                      f"(movieId,title,genres), got {len(row)}: {clip(','.join(row))}")
            title = row[cols["title"]]
            genres = row[cols["genres"]] if "genres" in cols else ""
            return {"source_id": row[cols["movieId"]].strip(), "title": title, "tags": _tags(genres),
                    "year": _year(title)}

        yield from tolerant(rows, parse_row, report, max_bad_lines)
        return

    def parse_line(lineno: int, line: str) -> dict | None:
        if not line.strip():
            return None
        if variant == "100k":
            parts = split_fields(line, "|", path, lineno, "movie id|title|release date|video date|URL|19 genre "
                                                          "flags", at_least=2)
            flags = parts[5:24] if len(parts) >= 24 else []
            tags = [g for g, f in zip(GENRES_100K, flags) if f.strip() == "1"]
            date = parts[2] if len(parts) > 2 else ""
            return {"source_id": parts[0].strip(), "title": parts[1], "tags": tags, "year": _year(parts[1], date)}
        parts = split_fields(line, "::", path, lineno, "MovieID::Title::Genres", n=3)
        return {"source_id": parts[0].strip(), "title": parts[1], "tags": _tags(parts[2]), "year": _year(parts[1])}

    lines = read_lines(path, encoding=encoding, fallback="latin-1", report=report, progress=progress)
    yield from tolerant(lines, parse_line, report, max_bad_lines)


def read_ratings(path: Path, variant: str, report: ImportReport, encoding: str = "utf-8", max_bad_lines: int = 0,
                 progress: bool = False) -> Iterator[tuple[int, tuple[str, str, float, float]]]:
    """Yield (line, (user, movie, rating, timestamp)) from the variant's rating file."""
    sep = {"100k": "\t", "1m": "::", "latest": ","}[variant]
    what = {"100k": "user id, item id, rating, timestamp", "1m": "UserID::MovieID::Rating::Timestamp",
            "latest": "userId,movieId,rating,timestamp"}[variant]
    lines = read_lines(path, encoding=encoding, fallback="latin-1", report=report, progress=progress)
    if variant == "latest":
        first = next(lines, (1, ""))[1]
        if first.replace(" ", "").split(",")[:2] != ["userId", "movieId"]:
            raise ImportFormatError(path, 1, f"expected the header userId,movieId,rating,timestamp, got {clip(first)}")

    def parse_line(lineno: int, line: str) -> tuple[str, str, float, float] | None:
        if not line.strip():
            return None
        user, item, rating, ts = (p.strip() for p in split_fields(line, sep, path, lineno, what, n=4))
        if not user or not item:
            raise ImportFormatError(path, lineno, f"empty user or item id: {clip(line)}")
        return user, item, parse_float(rating, path, lineno, "rating"), parse_float(ts, path, lineno, "timestamp")

    yield from tolerant(lines, parse_line, report, max_bad_lines)


def import_movielens(db: sqlite_utils.Database, dataset: str, folder: str | Path, *, variant: str | None = None,
                     domain: str = "movies", encoding: str = "utf-8", max_bad_lines: int = 0,
                     progress: bool = False) -> ImportReport:
    """Import a MovieLens folder as dataset `dataset`, replacing it; all-or-nothing."""
    start = time.perf_counter()
    check_name(dataset), check_domain(domain), check_encoding(encoding)
    folder = Path(folder)
    variant = variant or detect_variant(folder)
    if variant not in VARIANTS:
        raise ImportFormatError(folder, None, f"unknown MovieLens variant {variant!r}; one of {', '.join(VARIANTS)}")
    movies_path, ratings_path = (folder / f for f in VARIANTS[variant])
    report = ImportReport(dataset=dataset, format=f"movielens-{variant}", domain=domain,
                          files=[str(movies_path), str(ratings_path)])
    catalog = Catalog(db)
    with import_transaction(db, dataset):
        items = ItemWriter(catalog, report)
        for lineno, raw in read_movies(movies_path, variant, report, encoding, max_bad_lines, progress):
            if not raw["source_id"]:
                report.skip_bad_line(ImportFormatError(movies_path, lineno, "empty movie id"), max_bad_lines)
                continue
            raw["id"] = f"{dataset}:{raw['source_id']}"
            items.add(make_item(raw, dataset, domain), f"{movies_path.name} line {lineno}")
        items.flush()
        if not items.ids:
            raise ImportFormatError(movies_path, None, "no items found in the file")
        log = LogWriter(db, dataset)
        for lineno, (user, item, rating, ts) in read_ratings(ratings_path, variant, report, encoding,
                                                             max_bad_lines, progress):
            item_id = items.ids.get(item)
            if item_id is None:
                report.flag("unknown_items", f"{ratings_path.name} line {lineno}: movie {item!r} is not in "
                                             f"{movies_path.name}")
                continue
            log.add(user, item, item_id, ts, rating)
        log.finish(report)
        set_popularity(db, dataset)
        report.seconds = time.perf_counter() - start
        record_dataset(catalog, report, f"MovieLens {variant}: {folder}", has_split=False)
    return report
