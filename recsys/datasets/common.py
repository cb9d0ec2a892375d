"""What every importer shares: the report it returns, reading text files line by line, and the transaction.

Reading is strict and explains itself: a binary file (a pickle, a gzip), a wrong encoding or a wrong separator is
named with the file, the line and what was expected, as an `ImportFormatError`. Writing happens inside one
transaction that first deletes the dataset's rows, so an import either replaces the dataset completely or leaves the
database exactly as it was.

Interactions are collected in a temporary table and copied into `interactions` sorted by user and timestamp, ties
in file order (as RecBole reads them), so each user's rows are in sequence order by rowid. Ordering same-second
ties by item id would make the highest id the leave-one-out target of many MovieLens users (415 of 943 in ml-100k),
a rule tied to popularity. The popularity prior counts what precedes the test targets (`streams.split_counts`).
"""
from __future__ import annotations

import codecs
import csv
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

import sqlite_utils
from tqdm import tqdm

from ..catalog import Catalog, Item
from ..errors import ConfigError, ImportFormatError, RecsysError

DOMAINS = ("movies", "music", "news", "videos", "papers", "products", "generic")
MAX_EXAMPLES = 5
MAX_LINE_BYTES = 4 << 20  # no dataset line is this long; a longer one is refused before it is read into memory
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SEPARATORS = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", "::": "'::'", " ": "space"}
_BATCH = 5000
_EOF = "\x00recsysEOF7f3a9c"  # a NUL byte and a random tag: the sentinel line csv_rows appends
T = TypeVar("T")
R = TypeVar("R")


def shared_data_dir() -> Path:
    """The development datasets' folder: $RECSYS_SHARED_DATA, else ../shared/data next to the project root."""
    env = os.environ.get("RECSYS_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@dataclass
class ImportReport:
    """What an import stored and what it found wrong; printed by the CLI, stored in `datasets.counts`.

    For logs `interactions` is the number of stored rows; for sequential files it is the number of events the
    sequences imply (per user, the longest history plus its target), and `splits` counts the rows per split.
    """

    dataset: str
    format: str
    domain: str = "generic"
    files: list[str] = field(default_factory=list)
    items: int = 0
    interactions: int = 0
    users: int = 0
    sequences: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    candidates: int = 0
    duplicate_ids: int = 0
    missing_titles: int = 0
    unknown_items: int = 0
    unknown_users: int = 0
    missing_targets: int = 0
    skipped_lines: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    PROBLEMS: ClassVar[tuple[str, ...]] = (
        "duplicate_ids", "missing_titles", "unknown_items", "unknown_users", "missing_targets", "skipped_lines")

    def flag(self, kind: str, example: str) -> None:
        """Count one problem of `kind` and keep the first few examples."""
        setattr(self, kind, getattr(self, kind) + 1)
        shown = self.examples.setdefault(kind, [])
        if len(shown) < MAX_EXAMPLES:
            shown.append(example)

    def skip_bad_line(self, error: ImportFormatError, max_bad_lines: int) -> None:
        """Skip a malformed line while fewer than `max_bad_lines` were skipped; otherwise raise it."""
        if self.skipped_lines >= max_bad_lines:
            raise error
        self.flag("skipped_lines", str(error))

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def counts(self) -> dict:
        """The numbers worth keeping with the dataset (zero problem counts left out)."""
        out = {k: getattr(self, k) for k in ("items", "interactions", "users", "sequences", "candidates")}
        if self.splits:
            out["splits"] = dict(self.splits)
        out.update({k: getattr(self, k) for k in self.PROBLEMS if getattr(self, k)})
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """A human-readable summary, one fact per line."""
        out = [f"imported {self.format} dataset {self.dataset!r} (domain {self.domain}) in {self.seconds:.1f}s"]
        out.append(f"  items {self.items:,}  users {self.users:,}  interactions {self.interactions:,}")
        if self.sequences:
            out[-1] += " (implied by the sequences: per user, the longest history + target)"
            per = ", ".join(f"{k} {v:,}" for k, v in self.splits.items())
            out.append(f"  sequence rows {self.sequences:,} ({per})")
        elif self.splits:
            out.append("  interactions per split: " + ", ".join(f"{k} {v:,}" for k, v in self.splits.items()))
        if self.candidates:
            out.append(f"  candidate lists {self.candidates:,}")
        for kind in self.PROBLEMS:
            n = getattr(self, kind)
            if n:
                out.append(f"  {kind.replace('_', ' ')}: {n:,}")
                out.extend(f"    e.g. {e}" for e in self.examples.get(kind, []))
        out.extend(f"  note: {w}" for w in self.warnings)
        return out


def check_name(dataset: str) -> str:
    """Dataset names become id prefixes (`name:id`), so they are short and contain no ':' or spaces."""
    if not isinstance(dataset, str) or not _NAME.fullmatch(dataset):
        raise ConfigError(f"dataset name {dataset!r} must be 1-100 letters, digits, '.', '_' or '-' "
                          "(it prefixes every item id)")
    return dataset


def check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ConfigError(f"domain {domain!r} is not one of {', '.join(DOMAINS)}")
    return domain


def check_encoding(encoding: str) -> str:
    """Only ASCII-compatible encodings: lines are split on the byte '\\n' before decoding."""
    try:
        info = codecs.lookup(encoding)
        sample = "\n,\t|:;".encode(info.name)
    except (LookupError, ValueError, TypeError):
        raise ConfigError(f"unknown text encoding {encoding!r}") from None
    if sample != b"\n,\t|:;":
        raise ConfigError(f"encoding {encoding!r} is not ASCII-compatible; convert the file to UTF-8 first")
    return info.name


# -- reading ----------------------------------------------------------------------------------------------------
_MAGIC = [
    (b"\x1f\x8b", "gzip-compressed; decompress it first"),
    (b"PK\x03\x04", "a zip archive; extract it first"),
    (b"\xff\xfe", "UTF-16 text; save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text; save it as UTF-8"),
    (b"SQLite format 3\x00", "an SQLite database, not a text file"),
]


def _sniff(path: Path, head: bytes) -> None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise ImportFormatError(path, None, f"this file is {what}")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise ImportFormatError(path, None, "this file is a Python pickle; pickles are never loaded "
                                            "(convert it to text, e.g. RecBole atomic files)")
    if b"\x00" in head:
        raise ImportFormatError(path, None, "this is a binary file (it holds NUL bytes); expected text")


def open_binary(path: str | Path):
    """Open a file for reading, turning OS errors into an ImportFormatError that names it."""
    path = Path(path)
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise ImportFormatError(path, None, "file not found") from None
    except IsADirectoryError:
        raise ImportFormatError(path, None, "is a folder; expected a file") from None
    except OSError as e:
        raise ImportFormatError(path, None, f"cannot be read ({e.strerror or e})") from None


def read_lines(path: str | Path, *, encoding: str = "utf-8", fallback: str | None = None,
               report: ImportReport | None = None, progress: bool = False,
               keep_ends: bool = False) -> Iterator[tuple[int, str]]:
    """Yield (line number from 1, text) streaming from disk.

    A line that is not valid `encoding` is read as `fallback` (with a note in the report) where one is given,
    otherwise it raises an error that names the byte and suggests --encoding. A line longer than MAX_LINE_BYTES
    raises an error after reading at most that much of it.
    """
    path = Path(path)
    encoding = check_encoding(encoding)
    with open_binary(path) as f:
        try:
            _sniff(path, f.read(8192))
            f.seek(0)
            size = os.fstat(f.fileno()).st_size
        except OSError as e:
            raise ImportFormatError(path, None, f"cannot be read ({e.strerror or e})") from None
        fallen = 0
        with tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=not progress, leave=False) as bar:
            pending, lineno = 0, 0
            while raw := f.readline(MAX_LINE_BYTES + 1):
                lineno += 1
                if len(raw) > MAX_LINE_BYTES:
                    raise ImportFormatError(path, lineno, f"the line is longer than {MAX_LINE_BYTES >> 20} MiB; "
                                                          "this is not a line-based text file (or it lacks line "
                                                          "breaks)")
                pending += len(raw)
                if pending > 1 << 20:
                    bar.update(pending)
                    pending = 0
                if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[3:]
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as e:
                    if not fallback:
                        bad = raw[e.start:e.start + 1].hex()
                        hint = "latin-1" if encoding == "utf-8" else "utf-8"
                        raise ImportFormatError(path, lineno, f"not valid {encoding} (byte 0x{bad} at column "
                                                              f"{e.start + 1}); if the file is {hint}, pass "
                                                              f"--encoding {hint}") from None
                    text = raw.decode(fallback, errors="replace")
                    fallen += 1
                yield lineno, (text if keep_ends else text.rstrip("\r\n"))
            bar.update(pending)
    if fallen and report is not None:
        report.warn(f"{path.name}: {fallen:,} line(s) were not {encoding}; read them as {fallback}")


def tolerant(records: Iterable[tuple[int, T]], parse: Callable[[int, T], R | None], report: ImportReport,
             max_bad_lines: int = 0) -> Iterator[tuple[int, R]]:
    """Parse each record; a malformed one is skipped while fewer than `max_bad_lines` were, else its error raises.

    Errors of the file itself (missing, binary, wrong encoding) come from `records` and always raise.
    """
    for lineno, record in records:
        try:
            value = parse(lineno, record)
        except ImportFormatError as e:
            report.skip_bad_line(e, max_bad_lines)
            continue
        if value is not None:
            yield lineno, value


def describe_separator(sep: str) -> str:
    return _SEPARATORS.get(sep, repr(sep))


def split_fields(line: str, sep: str, path: Path, lineno: int, expected: str,
                 n: int | None = None, at_least: int | None = None) -> list[str]:
    """Split a line on `sep`, checking the field count; the error says what was expected and what it saw."""
    parts = line.split(sep)
    ok = (n is None or len(parts) == n) and (at_least is None or len(parts) >= at_least)
    if ok:
        return parts
    want = n if n is not None else f"at least {at_least}"
    message = f"expected {want} {describe_separator(sep)}-separated fields ({expected}), got {len(parts)}"
    if "\r" in line:
        message += "; the line holds a carriage return (old Mac line endings?)"
    elif len(parts) == 1:
        seen = [name for s, name in _SEPARATORS.items() if s != sep and s != " " and s in line]
        if seen:
            message += f"; this line looks {seen[0]}-separated"
    raise ImportFormatError(path, lineno, f"{message}: {clip(line)}")


def clip(text: str, limit: int = 80) -> str:
    """A short repr of a line for messages."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def csv_rows(path: str | Path, *, delimiter: str = ",", encoding: str = "utf-8", fallback: str | None = None,
             report: ImportReport | None = None, progress: bool = False) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) of a CSV file, quoted fields spanning lines included.

    A quote that is never closed would silently swallow the rest of the file into one field: a sentinel line after
    the last one ends up inside a field exactly then, and the error names the row where the quote opened.
    """
    path = Path(path)
    lines = (text for _, text in read_lines(path, encoding=encoding, fallback=fallback, report=report,
                                            progress=progress, keep_ends=True))
    reader = csv.reader(chain(lines, [_EOF + "\n"]), delimiter=delimiter, strict=False)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise ImportFormatError(path, reader.line_num, f"not valid CSV ({e})") from None
        joined = delimiter.join(row)
        if joined == _EOF:
            return
        if _EOF in joined:
            raise ImportFormatError(path, start, "a quoted field opened in this row is never closed (an unbalanced "
                                                 f"quote swallows the rest of the file): "
                                                 f"{clip(joined.replace(_EOF, ''))}")
        yield reader.line_num, row
        start = reader.line_num + 1


def header_index(header: list[str], path: Path, lineno: int, sep: str) -> dict[str, int]:
    """Column name -> position; a one-column header that holds another separator is explained."""
    if len(header) == 1:
        seen = [name for s, name in _SEPARATORS.items() if s != sep and s != " " and s in header[0]]
        if seen:
            raise ImportFormatError(path, lineno, f"the header has one column but looks {seen[0]}-separated; "
                                                  f"expected {describe_separator(sep)}-separated columns: "
                                                  f"{clip(header[0])}")
    return {name.strip(): i for i, name in reversed(list(enumerate(header)))}


def parse_float(value: str, path: Path, lineno: int, what: str) -> float:
    """A finite float, or an error naming the field."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ImportFormatError(path, lineno, f"{what} should be a number, got {clip(str(value), 40)}") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise ImportFormatError(path, lineno, f"{what} should be a finite number, got {value!r}")
    return x


def year_or_none(value) -> int | None:
    """A plausible year (1-9999) from text, else None."""
    text = str(value or "").strip()[:8]
    m = re.match(r"^(\d{1,4})(?:\.0*)?$", text)
    return int(m.group(1)) or None if m else None


def int_or_none(token: str) -> int | None:
    """The token as an SQLite-sized integer when it is one (for numeric ordering of ids), else None."""
    return int(token) if token.isascii() and token.isdigit() and len(token) <= 18 else None


def split_from_name(path: Path) -> str | None:
    """'train', 'valid' or 'test' when the file name says so (`x.train.inter`, `x.val.inter`), else None."""
    parts = Path(path).name.lower().split(".")
    for part in parts[1:-1] if len(parts) > 2 else parts[:-1]:
        if part in ("train", "valid", "test"):
            return part
        if part in ("val", "validation", "dev"):
            return "valid"
    return None


# -- writing ----------------------------------------------------------------------------------------------------
def delete_dataset(db: sqlite_utils.Database, dataset: str) -> None:
    """Remove a dataset's rows from every table that holds them (inside the caller's transaction)."""
    for table in ("items", "interactions", "sequences", "candidates", "datasets"):
        if table in db.table_names():
            column = "name" if table == "datasets" else "dataset"
            db.execute(f"DELETE FROM {table} WHERE {column} = ?", [dataset])


@contextmanager
def import_transaction(db: sqlite_utils.Database, dataset: str | None = None):
    """One transaction for the whole import; deletes the dataset first when `dataset` is given."""
    if db.conn.in_transaction:
        raise RecsysError("an import cannot run inside an open transaction")
    with db.conn:
        db.execute("BEGIN IMMEDIATE")
        if dataset is not None:
            delete_dataset(db, dataset)
        yield


def remove_dataset(db: sqlite_utils.Database, dataset: str) -> None:
    """Delete an imported dataset (items, interactions, sequences, candidates) in one transaction."""
    with import_transaction(db, dataset):
        pass


class ItemWriter:
    """Adds items in batches, keeping the first of duplicate ids and counting the rest and missing titles."""

    def __init__(self, catalog: Catalog, report: ImportReport):
        self.catalog, self.report = catalog, report
        self.ids: dict[str, str] = {}  # source id -> namespaced id
        self._batch: list[Item] = []

    def add(self, item: Item, where: str) -> bool:
        if item.source_id in self.ids:
            self.report.flag("duplicate_ids", f"{where}: id {item.source_id!r} again (first kept)")
            return False
        if not item.title:
            self.report.flag("missing_titles", f"{where}: item {item.source_id!r} has no title")
        self.ids[item.source_id] = item.id
        self._batch.append(item)
        if len(self._batch) >= _BATCH:
            self.flush()
        return True

    def flush(self) -> None:
        if self._batch:
            self.catalog.add_items(self._batch)
            self._batch = []
        self.report.items = len(self.ids)


class LogWriter:
    """Collects interactions in a temporary table, then writes them to `interactions` in sequence order."""

    def __init__(self, db: sqlite_utils.Database, dataset: str):
        self.db, self.dataset = db, dataset
        self._rows: list[tuple] = []
        self.n = 0
        db.execute("DROP TABLE IF EXISTS temp._import_log")
        db.execute("CREATE TEMP TABLE _import_log (user_num INTEGER, user_id TEXT, ts REAL, "
                   "item_src TEXT, item_id TEXT, rating REAL, split TEXT, seq INTEGER)")

    def add(self, user: str, item_src: str, item_id: str, ts: float | None = None, rating: float | None = None,
            split: str | None = None) -> None:
        self._rows.append((int_or_none(user), user, ts, item_src, item_id, rating, split, self.n))
        self.n += 1
        if len(self._rows) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        self.db.conn.executemany("INSERT INTO temp._import_log VALUES (?,?,?,?,?,?,?,?)", self._rows)
        self._rows = []

    def finish(self, report: ImportReport) -> None:
        """Copy the rows sorted (user, timestamp, file order); count users and splits."""
        self._flush()
        self.db.execute(
            "INSERT INTO interactions (dataset, user_id, item_id, timestamp, rating, split) "
            "SELECT ?, user_id, item_id, ts, rating, split FROM temp._import_log "
            "ORDER BY user_num IS NULL, user_num, user_id, ts, seq", [self.dataset])
        self.db.execute("DROP TABLE temp._import_log")
        report.interactions = self.n
        report.users = self.db.execute("SELECT count(DISTINCT user_id) FROM interactions WHERE dataset = ?",
                                       [self.dataset]).fetchone()[0]
        report.splits = dict(self.db.execute(
            "SELECT split, count(*) FROM interactions WHERE dataset = ? AND split IS NOT NULL GROUP BY split "
            "ORDER BY split", [self.dataset]).fetchall())


def set_popularity(db: sqlite_utils.Database, dataset: str) -> None:
    """`items.popularity` := the interactions that precede the test targets (items never met keep 0)."""
    from .streams import split_counts

    counts = split_counts(db, dataset, "test")
    db.execute("UPDATE items SET popularity = 0 WHERE dataset = ?", [dataset])
    db.conn.executemany("UPDATE items SET popularity = ? WHERE id = ?", [(float(n), i) for i, n in counts.items()])


def record_dataset(catalog: Catalog, report: ImportReport, source: str, has_split: bool) -> None:
    """Write the dataset's row: domain, where it came from and the report's counts."""
    catalog.add_dataset(report.dataset, domain=report.domain, source=source, counts=report.counts())
    catalog.db.execute("UPDATE datasets SET split = ? WHERE name = ?", [int(has_split), report.dataset])


def dumps_ids(ids: list[str]) -> str:
    return json.dumps(ids, ensure_ascii=False)
