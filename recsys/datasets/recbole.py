"""RecBole atomic files: an `.item` file and `.inter` files, tab-separated with `field:type` headers.

Three forms are read:
- plain interactions (`user_id:token item_id:token [rating:float] [timestamp:float]`) -> `interactions`;
- sequential rows (`user_id:token item_id_list:token_seq item_id:token`: a history, oldest first, and its
  target), as RecBole's sequential benchmarks, LLMRank and UniSRec ship them -> `sequences`;
- UniSRec's items: a `.text` file keyed by the original id (e.g. an ASIN) plus an `.item2index` map from that id
  to the integer the `.inter` files use. Item ids keep the original id (`dataset:ASIN`).

A row naming an item that is not in the item file (or not in the `.item2index` map) is skipped and counted as
`unknown_items`, with examples in the report. The split of each `.inter` file comes from its name
(`x.train.inter`, `x.valid.inter`, `x.test.inter`; a sequential file whose name has none is stored as `test`, with
a note). The item text is the field named by `text_field`, by default
the first `token_seq` column of the item file.

Popularity prior, without leaking evaluation targets (`streams.split_counts`): for sequential files, the events
of the train and valid rows, each counted once after the rows are merged back into streams (never a test row:
lastfm's test rows are sliding windows, so one row's target is the next row's last history item); for plain
files, every row except the test rows (or, with no split, except each user's last interaction).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from ..catalog import Catalog, make_item
from ..errors import ConfigError, ImportFormatError
from .common import (ImportReport, ItemWriter, LogWriter, check_domain, check_encoding, check_name, clip,
                     dumps_ids, import_transaction, parse_float, read_lines, record_dataset, set_popularity,
                     split_fields, split_from_name, tolerant, year_or_none)

TYPES = ("token", "token_seq", "float", "float_seq")
# item-file fields (besides id and text) that fill other Item attributes, by name
_TAGS = ("genre", "genres", "categories", "category", "tags", "tag")
_CREATOR = ("artist", "author", "authors", "brand", "director", "creator", "channel")
_DESCRIPTION = ("description", "desc", "overview", "plot", "abstract", "summary")


@dataclass(frozen=True)
class Header:
    """The columns of an atomic file: names and types in order."""

    names: tuple[str, ...]
    types: tuple[str, ...]

    def index(self, name: str) -> int | None:
        return self.names.index(name) if name in self.names else None

    def first(self, type_: str) -> int | None:
        return self.types.index(type_) if type_ in self.types else None


def parse_header(line: str, path: Path) -> Header:
    """`name:type` columns separated by tabs; anything else is explained."""
    if not line.strip():
        raise ImportFormatError(path, 1, "expected a RecBole header of field:type columns, got an empty line")
    names, types = [], []
    cols = line.split("\t")
    for col in cols:
        name, _, type_ = col.strip().rpartition(":")
        if not name or type_ not in TYPES:
            hint = ""
            if len(cols) == 1 and any(s in line for s in (",", ";", "|", " ")):
                hint = "; it is not tab-separated"
            raise ImportFormatError(path, 1, f"expected a RecBole header of tab-separated field:type columns "
                                             f"(types {', '.join(TYPES)}, e.g. 'item_id:token<TAB>title:token_seq'),"
                                             f" got column {clip(col, 40)}{hint}")
        if name in names:
            raise ImportFormatError(path, 1, f"column {name!r} appears twice in the header")
        names.append(name)
        types.append(type_)
    return Header(tuple(names), tuple(types))


def _rows(path: Path, report: ImportReport, encoding: str, max_bad_lines: int, progress: bool, what: str):
    """(header, iterator of (line, fields)) of an atomic file; a row must have one field per column."""
    lines = read_lines(path, encoding=encoding, report=report, progress=progress)
    first = next(lines, None)
    if first is None:
        raise ImportFormatError(path, None, f"the file is empty; expected a header line and {what}")
    header = parse_header(first[1], path)

    def parse(lineno: int, line: str) -> list[str] | None:
        if not line.strip():
            return None
        return split_fields(line, "\t", path, lineno, ", ".join(header.names), n=len(header.names))

    return header, tolerant(lines, parse, report, max_bad_lines)


def _item_fields(header: Header, text_field: str | None, path: Path) -> tuple[int, int, dict[str, int]]:
    """Positions of the id column, the text column and the optional columns (year, tags, creator, description)."""
    if any(n.endswith("_list") or n.startswith("user") for n in header.names):
        raise ImportFormatError(path, 1, f"this looks like an .inter file (fields: {', '.join(header.names)}); "
                                         "expected the .item (or UniSRec .text) file")
    id_col = header.index("item_id")
    if id_col is None:
        id_col = next((i for i, (n, t) in enumerate(zip(header.names, header.types)) if t == "token" and
                       n.endswith("id")), header.first("token"))
    if id_col is None:
        raise ImportFormatError(path, 1, "the item file has no id column (a field of type token, e.g. item_id:token)")
    if text_field:
        text_col = header.index(text_field.rpartition(":")[0] or text_field)
        if text_col is None:
            raise ConfigError(f"{path}: no field {text_field!r}; fields: {', '.join(header.names)}")
    else:
        text_col = header.first("token_seq")
        if text_col is None:
            raise ImportFormatError(path, 1, "the item file has no token_seq column to use as item text; pass "
                                             f"--text-field (fields: {', '.join(header.names)})")
    extra = {}
    for i, name in enumerate(header.names):
        if i in (id_col, text_col):
            continue
        low = name.lower()
        key = ("year" if "year" in low else "tags" if low in _TAGS else "creator" if low in _CREATOR
               else "description" if low in _DESCRIPTION else None)
        if key and key not in extra:
            extra[key] = i
    return id_col, text_col, extra


def read_item2index(path: Path, report: ImportReport, encoding: str, max_bad_lines: int) -> dict[str, str]:
    """UniSRec's map: index token -> original id (`original<TAB>index` per line, no header)."""
    out: dict[str, str] = {}
    seen: set[str] = set()

    def parse(lineno: int, line: str) -> tuple[str, str] | None:
        if not line.strip():
            return None
        original, index = (p.strip() for p in split_fields(line, "\t", path, lineno, "original id, index", n=2))
        if not original or not index:
            raise ImportFormatError(path, lineno, f"empty id or index: {clip(line)}")
        return original, index

    for lineno, (original, index) in tolerant(read_lines(path, encoding=encoding, report=report), parse, report,
                                              max_bad_lines):
        if original in seen or index in out:
            report.flag("duplicate_ids", f"{path.name} line {lineno}: {original!r} -> {index!r} repeats an id or "
                                         "index (first kept)")
            continue
        seen.add(original)
        out[index] = original
    return out


def import_recbole(db: sqlite_utils.Database, dataset: str, *, items: str | Path, inter: Sequence[str | Path] = (),
                   text_field: str | None = None, item2index: str | Path | None = None, domain: str = "generic",
                   encoding: str = "utf-8", max_bad_lines: int = 0, progress: bool = False) -> ImportReport:
    """Import RecBole/UniSRec atomic files as dataset `dataset`, replacing it; all-or-nothing."""
    start = time.perf_counter()
    check_name(dataset), check_domain(domain), check_encoding(encoding)
    items_path, inter_paths = Path(items), [Path(p) for p in inter]
    auto_index = item2index is None and items_path.suffix == ".text" and \
        items_path.with_suffix(".item2index").is_file()
    if auto_index:
        item2index = items_path.with_suffix(".item2index")
    splits = [split_from_name(p) for p in inter_paths]
    named = [s for s in splits if s]
    if len(named) != len(set(named)):
        raise ConfigError(f"two .inter files for the same split: {', '.join(str(p) for p in inter_paths)}")
    report = ImportReport(dataset=dataset, format="unisrec" if item2index else "recbole", domain=domain,
                          files=[str(items_path), *map(str, inter_paths), *([str(item2index)] if item2index else [])])
    if auto_index:
        report.warn(f"mapping the .inter indices with {Path(item2index).name}, found next to {items_path.name}")
    catalog = Catalog(db)
    with import_transaction(db, dataset):
        writer = ItemWriter(catalog, report)
        header, rows = _rows(items_path, report, encoding, max_bad_lines, progress, "one item per line")
        id_col, text_col, extra = _item_fields(header, text_field, items_path)
        for lineno, fields in rows:
            src = fields[id_col].strip()
            if not src:
                report.skip_bad_line(ImportFormatError(items_path, lineno, "empty item id"), max_bad_lines)
                continue
            raw = {"id": f"{dataset}:{src}", "source_id": src, "title": fields[text_col]}
            raw.update({k: fields[i] for k, i in extra.items()})
            raw["year"] = year_or_none(raw.get("year"))
            if "tags" in raw and header.types[extra["tags"]] == "token_seq":
                raw["tags"] = raw["tags"].replace(" ", ",")
            writer.add(make_item(raw, dataset, domain), f"{items_path.name} line {lineno}")
        if item2index:
            index = read_item2index(Path(item2index), report, encoding, max_bad_lines)
            for original in index.values():
                if original not in writer.ids:  # indexed but without text: keep it, count it
                    writer.add(make_item({"id": f"{dataset}:{original}", "source_id": original}, dataset, domain),
                               f"{Path(item2index).name}")
            resolve = {i: writer.ids[o] for i, o in index.items()}
        else:
            resolve = writer.ids
        writer.flush()
        if not writer.ids:
            raise ImportFormatError(items_path, None, "no items found in the file")
        _read_inters(db, dataset, inter_paths, splits, resolve, report, encoding, max_bad_lines, progress)
        set_popularity(db, dataset)
        report.seconds = time.perf_counter() - start
        record_dataset(catalog, report, f"RecBole atomic files: {', '.join(report.files)}",
                       has_split=bool(report.splits))
    return report


def _read_inters(db, dataset, paths, splits, resolve, report, encoding, max_bad_lines, progress):
    """Store every .inter file's rows (sequences, or a log) and count them in the report."""
    forms = {}
    log = None
    longest: dict[str, int] = {}
    users: set[str] = set()
    for path, split in zip(paths, splits):
        header, rows = _rows(path, report, encoding, max_bad_lines, progress, "one interaction per line")
        hist_col = next((i for i, (n, t) in enumerate(zip(header.names, header.types))
                         if t == "token_seq" and n.endswith("_list")), None)
        item_col = header.index("item_id")
        if item_col is None:
            item_col = next((i for i, (n, t) in enumerate(zip(header.names, header.types))
                             if t == "token" and n.startswith("item")), None)
        user_col = next((i for i, n in enumerate(header.names) if n.startswith("user")), None)
        if item_col is None:
            raise ImportFormatError(path, 1, f"no item column (item_id:token); fields: {', '.join(header.names)}")
        forms[path] = "sequential" if hist_col is not None else "plain"
        if len(set(forms.values())) > 1:
            raise ConfigError("mixing sequential .inter files (with an item_id_list column) and plain ones: "
                              + ", ".join(f"{p.name} ({f})" for p, f in forms.items()))
        if hist_col is not None:
            if split is None:
                split = "test"
                report.warn(f"{path.name}: no split in the file name; its rows are stored as split 'test'")
            if split in report.splits:
                raise ConfigError(f"two sequential .inter files for split {split!r}; name them .train./.valid./.test.")
            n, batch = 0, []
            for lineno, fields in rows:
                ids = [resolve.get(t) for t in fields[hist_col].split()] + [resolve.get(fields[item_col].strip())]
                if None in ids:
                    bad = [t for t in fields[hist_col].split() + [fields[item_col].strip()] if t not in resolve]
                    report.flag("unknown_items", f"{path.name} line {lineno}: item {bad[0]!r} is not in the item "
                                                 "file (row skipped)")
                    continue
                user = fields[user_col].strip() if user_col is not None else f"{split}{lineno}"
                history, target = ids[:-1], ids[-1]
                batch.append((dataset, split, lineno - 2, user, dumps_ids(history), target))
                if len(batch) >= 5000:
                    _insert_sequences(db, batch)
                n += 1
                users.add(user)
                longest[user] = max(longest.get(user, 0), len(ids))
            _insert_sequences(db, batch)
            report.splits[split] = n
            report.sequences += n
        else:
            if user_col is None:
                raise ImportFormatError(path, 1, f"no user column (user_id:token) — is this the item file? fields: "
                                                 f"{', '.join(header.names)}")
            log = log or LogWriter(db, dataset)
            ts_col, rating_col = header.index("timestamp"), header.index("rating")
            for lineno, fields in rows:
                src = fields[item_col].strip()
                item_id = resolve.get(src)
                if item_id is None:
                    report.flag("unknown_items", f"{path.name} line {lineno}: item {src!r} is not in the item file")
                    continue
                user = fields[user_col].strip()
                if not user:
                    report.skip_bad_line(ImportFormatError(path, lineno, "empty user id"), max_bad_lines)
                    continue
                try:
                    ts = parse_float(fields[ts_col], path, lineno, "timestamp") if ts_col is not None else None
                    rating = parse_float(fields[rating_col], path, lineno, "rating") if rating_col is not None else None
                except ImportFormatError as e:
                    report.skip_bad_line(e, max_bad_lines)
                    continue
                log.add(user, src, item_id, ts, rating, split)
    if log is not None:
        log.finish(report)
        return
    report.users = len(users)
    report.interactions = sum(longest.values())


def _insert_sequences(db: sqlite_utils.Database, batch: list[tuple]) -> None:
    db.conn.executemany("INSERT INTO sequences (dataset, split, row, user_id, history, target) VALUES (?,?,?,?,?,?)",
                        batch)
    batch.clear()
