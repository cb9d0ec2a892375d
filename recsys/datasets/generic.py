"""Generic CSV and JSON Lines importers: an item file (id, title, optional text fields) and, optionally, an
interaction file (user, item, optional timestamp and rating).

Column names are given on the command line (`Columns`); a column left unnamed is looked up among common names
(`id`, `item_id`, `movieId`, … — see `CANDIDATES`), and the report says which column was used. A CSV needs a
header row; a JSON Lines file holds one object per line, and unnamed keys are looked up in its first object.

Interactions are stored sorted per user by timestamp, ties and rows without one in file order. The popularity
prior counts every interaction except each user's last one (the leave-one-out target).
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from ..catalog import Catalog, make_item
from ..errors import ConfigError, ImportFormatError
from .common import (ImportReport, ItemWriter, LogWriter, check_domain, check_encoding, check_name, clip,
                     csv_rows, header_index, import_transaction, parse_float, read_lines, record_dataset,
                     set_popularity, tolerant, year_or_none)

CANDIDATES = {
    "id": ("id", "item_id", "itemid", "item", "movieid", "asin", "video_id", "videoid"),
    "title": ("title", "name", "item_name", "text"),
    "description": ("description", "overview", "abstract", "summary", "plot"),
    "tags": ("tags", "genres", "genre", "categories"),
    "creator": ("creator", "artist", "author", "brand", "director"),
    "year": ("year", "release_year"),
    "user": ("user_id", "userid", "user", "uid", "reviewerid"),
    "item": ("item_id", "itemid", "item", "movieid", "videoid", "video_id", "asin", "id"),
    "timestamp": ("timestamp", "time", "ts", "datetime", "date", "unixreviewtime"),
    "rating": ("rating", "score", "stars", "overall"),
}
REQUIRED_ITEM, REQUIRED_INTER = ("id", "title"), ("user", "item")


@dataclass(frozen=True)
class Columns:
    """Column (or JSON key) names; None means: look it up among common names."""

    id: str | None = None
    title: str | None = None
    description: tuple[str, ...] = ()
    tags: str | None = None
    creator: str | None = None
    year: str | None = None
    user: str | None = None
    item: str | None = None
    timestamp: str | None = None
    rating: str | None = None

    def resolve(self, roles: tuple[str, ...], required: tuple[str, ...], available: list[str], path: Path,
                report: ImportReport, strict: bool = True) -> dict[str, list[str]]:
        """Role -> the column names to read, checked against the file's columns (JSON objects may lack
        optional keys, so `strict=False` checks only the required roles' names)."""
        lower = {a.lower(): a for a in reversed(available)}
        out: dict[str, list[str]] = {}
        detected = []
        for role in roles:
            given = getattr(self, role)
            names = list(given) if isinstance(given, tuple) else [given] if given else []
            if names:
                missing = [n for n in names if n not in available and (strict or role in required)]
                if missing:
                    raise ImportFormatError(path, 1, f"no column {missing[0]!r} ({role}); the columns are: "
                                                     f"{', '.join(map(repr, available[:30]))}")
                out[role] = names
                continue
            found = next((lower[c] for c in CANDIDATES[role] if c in lower and
                          all(lower[c] not in v for v in out.values())), None)
            if found is not None:
                out[role] = [found]
                detected.append(f"{role}={found}")
            elif role in required:
                raise ImportFormatError(path, 1, f"no {role} column; name it with --{role}-col (the columns are: "
                                                 f"{', '.join(map(repr, available[:30]))})")
        if detected:
            report.warn(f"{path.name}: columns detected: {', '.join(detected)}")
        return out


@dataclass
class _Table:
    """A file read as records: its column names and an iterator of (line, {column: text or None})."""

    columns: list[str]
    records: Iterator[tuple[int, dict]] = field(repr=False)


def _csv_table(path: Path, report: ImportReport, delimiter: str, encoding: str, max_bad_lines: int,
               progress: bool) -> _Table:
    rows = csv_rows(path, delimiter=delimiter, encoding=encoding, report=report, progress=progress)
    first = next(rows, None)
    if first is None:
        raise ImportFormatError(path, None, "the file is empty; expected a header row")
    header = first[1]
    if header and header[0].lstrip().startswith("{"):
        raise ImportFormatError(path, 1, "this looks like JSON Lines, not CSV; use the jsonl format")
    index = header_index(header, path, 1, delimiter)
    names = [h.strip() for h in header]

    def parse(lineno: int, row: list[str]) -> dict | None:
        if not row or (len(row) == 1 and not row[0].strip()):
            return None
        if len(row) != len(names):
            raise ImportFormatError(path, lineno, f"expected {len(names)} fields as in the header, got {len(row)}: "
                                                  f"{clip(delimiter.join(row))}")
        return {name: row[i] for name, i in index.items()}

    return _Table(names, tolerant(rows, parse, report, max_bad_lines))


def _json_text(value, path: Path, lineno: int, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ImportFormatError(path, lineno, f"field {key!r} holds an invalid unicode escape") from None
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return ",".join(str(v) for v in value)
    raise ImportFormatError(path, lineno, f"field {key!r} should be text, a number or a list of them, got "
                                          f"{type(value).__name__}")


def _jsonl_table(path: Path, report: ImportReport, encoding: str, max_bad_lines: int, progress: bool) -> _Table:
    lines = read_lines(path, encoding=encoding, report=report, progress=progress)

    def parse(lineno: int, line: str) -> dict | None:
        if not line.strip():
            return None
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            hint = "; the file looks like a JSON array, expected one object per line" if line.lstrip() == "[" or \
                line.lstrip().startswith("[{") else ""
            raise ImportFormatError(path, lineno, f"not valid JSON (expected one JSON object per line){hint}: "
                                                  f"{clip(line)}") from None
        if not isinstance(obj, dict):
            hint = "; the file looks like a JSON array, expected one object per line" if lineno == 1 and \
                isinstance(obj, list) else ""
            raise ImportFormatError(path, lineno, f"expected a JSON object, got {type(obj).__name__}{hint}: "
                                                  f"{clip(line)}")
        return {_json_text(k, path, lineno, "key"): _json_text(v, path, lineno, k) for k, v in obj.items()}

    records = tolerant(lines, parse, report, max_bad_lines)
    first = next(records, None)
    if first is None:
        return _Table([], iter(()))

    def chained():
        yield first
        yield from records

    return _Table(list(first[1]), chained())


def _open(path: Path, fmt: str, report, delimiter, encoding, max_bad_lines, progress) -> _Table:
    if fmt == "csv":
        return _csv_table(path, report, delimiter, encoding, max_bad_lines, progress)
    if fmt == "jsonl":
        return _jsonl_table(path, report, encoding, max_bad_lines, progress)
    raise ConfigError(f"unknown table format {fmt!r}; csv or jsonl")


def parse_time(value: str, path: Path, lineno: int) -> float:
    """Unix seconds from a number or an ISO date/time (naive times are UTC)."""
    value = value.strip()
    try:
        x = float(value)
        if x == x and abs(x) != float("inf"):
            return x
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(value)
        return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
    except (ValueError, OverflowError):
        raise ImportFormatError(path, lineno, f"timestamp should be unix seconds or an ISO date, got "
                                              f"{clip(value, 40)}") from None


def import_table(db: sqlite_utils.Database, dataset: str, *, items: str | Path,
                 interactions: str | Path | None = None, fmt: str = "csv", columns: Columns = Columns(),
                 delimiter: str = ",", domain: str = "generic", encoding: str = "utf-8", max_bad_lines: int = 0,
                 progress: bool = False) -> ImportReport:
    """Import a CSV or JSONL item file (and interaction file) as dataset `dataset`, replacing it; all-or-nothing."""
    start = time.perf_counter()
    check_name(dataset), check_domain(domain), check_encoding(encoding)
    if fmt == "csv" and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise ConfigError(f"the CSV delimiter must be one character other than a quote or newline, not {delimiter!r}")
    items_path = Path(items)
    report = ImportReport(dataset=dataset, format=fmt, domain=domain,
                          files=[str(items_path)] + ([str(interactions)] if interactions else []))
    catalog = Catalog(db)
    with import_transaction(db, dataset):
        writer = ItemWriter(catalog, report)
        table = _open(items_path, fmt, report, delimiter, encoding, max_bad_lines, progress)
        cols = columns.resolve(("id", "title", "description", "tags", "creator", "year"), REQUIRED_ITEM,
                               table.columns, items_path, report, strict=fmt == "csv") if table.columns else {}
        for lineno, rec in table.records:
            src = (rec.get(cols["id"][0]) or "").strip()
            if not src:
                report.skip_bad_line(ImportFormatError(items_path, lineno, f"empty item id ({cols['id'][0]!r})"),
                                     max_bad_lines)
                continue
            raw = {"id": f"{dataset}:{src}", "source_id": src, "title": rec.get(cols["title"][0]),
                   "description": ". ".join(rec.get(c) or "" for c in cols.get("description", []) if rec.get(c))}
            for role in ("tags", "creator", "year"):
                if role in cols:
                    raw[role] = rec.get(cols[role][0])
            raw["year"] = year_or_none(raw.get("year"))
            writer.add(make_item(raw, dataset, domain), f"{items_path.name} line {lineno}")
        writer.flush()
        if not writer.ids:
            raise ImportFormatError(items_path, None, "no items found; expected a header row and one item per row"
                                    if fmt == "csv" else "no items found; expected one JSON object per line")
        if interactions:
            _read_interactions(db, dataset, Path(interactions), fmt, columns, writer.ids, report, delimiter,
                               encoding, max_bad_lines, progress)
            set_popularity(db, dataset)
        report.seconds = time.perf_counter() - start
        record_dataset(catalog, report, f"{fmt}: {', '.join(report.files)}", has_split=False)
    return report


def _read_interactions(db, dataset, path, fmt, columns, ids, report, delimiter, encoding, max_bad_lines,
                       progress):
    table = _open(path, fmt, report, delimiter, encoding, max_bad_lines, progress)
    log = LogWriter(db, dataset)
    if not table.columns:
        return log.finish(report)
    cols = columns.resolve(("user", "item", "timestamp", "rating"), REQUIRED_INTER, table.columns, path, report,
                           strict=fmt == "csv")
    user_col, item_col = cols["user"][0], cols["item"][0]
    ts_col = cols.get("timestamp", [None])[0]
    rating_col = cols.get("rating", [None])[0]
    for lineno, rec in table.records:
        user, src = (rec.get(user_col) or "").strip(), (rec.get(item_col) or "").strip()
        try:
            if not user or not src:
                raise ImportFormatError(path, lineno, f"empty user or item id ({user_col!r}, {item_col!r})")
            ts = parse_time(rec[ts_col], path, lineno) if ts_col and rec.get(ts_col) else None
            rating = None
            if rating_col and rec.get(rating_col):
                rating = parse_float(rec[rating_col], path, lineno, "rating")
        except ImportFormatError as e:
            report.skip_bad_line(e, max_bad_lines)
            continue
        item_id = ids.get(src)
        if item_id is None:
            report.flag("unknown_items", f"{path.name} line {lineno}: item {src!r} is not in the item file")
            continue
        log.add(user, src, item_id, ts, rating)
    return log.finish(report)

