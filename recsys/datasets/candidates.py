"""Candidate files in the LLMRank form: one line per user, `user_id<TAB>space-separated item ids`.

They are imported into an existing dataset as a named candidate set (`candidates` table), so an evaluation can
rank exactly the published lists instead of sampling negatives. Ids are the dataset's original ids (`source_id`),
or, for a UniSRec dataset, the integer indices of its `.item2index` map (pass it as `item2index`).

Unknown users and unknown item ids are counted and reported (an unknown user's line is skipped, an unknown item
is dropped from its list); so are lists that do not contain the user's evaluation target.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import sqlite_utils

from ..errors import ImportFormatError, RecsysError
from .common import (ImportReport, check_encoding, check_name, clip, dumps_ids, import_transaction, read_lines,
                     split_fields, tolerant)
from .recbole import read_item2index


def _targets(db: sqlite_utils.Database, dataset: str) -> dict[str, str]:
    """Each user's evaluation target: the test row of a sequential dataset, else the user's last interaction."""
    rows = db.execute("SELECT user_id, target FROM sequences WHERE dataset = ? AND split = 'test' ORDER BY row",
                      [dataset]).fetchall()
    if rows:
        return dict(rows)
    return dict(db.execute(
        "SELECT user_id, item_id FROM interactions WHERE rowid IN "
        "(SELECT max(rowid) FROM interactions WHERE dataset = ? GROUP BY user_id)", [dataset]).fetchall())


def import_candidates(db: sqlite_utils.Database, dataset: str, path: str | Path, *, name: str = "default",
                      item2index: str | Path | None = None, encoding: str = "utf-8", max_bad_lines: int = 0,
                      progress: bool = False) -> ImportReport:
    """Import a candidate file as set `name` of an imported dataset, replacing that set; all-or-nothing."""
    start = time.perf_counter()
    check_name(name), check_encoding(encoding)
    path = Path(path)
    row = db.execute("SELECT domain FROM datasets WHERE name = ?", [dataset]).fetchone()
    if row is None:
        known = ", ".join(r[0] for r in db.execute("SELECT name FROM datasets ORDER BY name")) or "none"
        raise RecsysError(f"unknown dataset {dataset!r}: import it before its candidates (this database has: {known})")
    report = ImportReport(dataset=dataset, format="candidates", domain=row[0] or "generic", files=[str(path)])
    resolve = dict(db.execute("SELECT source_id, id FROM items WHERE dataset = ?", [dataset]).fetchall())
    if item2index:
        index = read_item2index(Path(item2index), report, encoding, max_bad_lines)
        resolve = {i: resolve[o] for i, o in index.items() if o in resolve}
    targets = _targets(db, dataset)

    def parse(lineno: int, line: str) -> tuple[str, list[str]] | None:
        if not line.strip():
            return None
        if "\t" not in line and " " in line.strip():
            raise ImportFormatError(path, lineno, "expected user_id<TAB>space-separated item ids, but the line has no "
                                                  f"tab: {clip(line)}")
        user, ids = split_fields(line, "\t", path, lineno, "user id, space-separated item ids", n=2)
        if not user.strip() or not ids.split():
            raise ImportFormatError(path, lineno, f"empty user id or candidate list: {clip(line)}")
        return user.strip(), ids.split()

    seen: set[str] = set()
    batch: list[tuple] = []
    with import_transaction(db):
        db.execute("DELETE FROM candidates WHERE dataset = ? AND name = ?", [dataset, name])
        lines = read_lines(path, encoding=encoding, report=report, progress=progress)
        for lineno, (user, tokens) in tolerant(lines, parse, report, max_bad_lines):
            where = f"{path.name} line {lineno}"
            if user in seen:
                report.flag("duplicate_ids", f"{where}: user {user!r} again (first list kept)")
                continue
            if user not in targets:
                report.flag("unknown_users", f"{where}: user {user!r} has no evaluation target in {dataset!r}")
                continue
            ids = []
            for token in tokens:
                item = resolve.get(token)
                if item is None:
                    report.flag("unknown_items", f"{where}: item {token!r} is not in {dataset!r} (dropped)")
                elif item in ids:
                    report.flag("duplicate_ids", f"{where}: item {token!r} twice in the list (once kept)")
                else:
                    ids.append(item)
            if not ids:
                continue
            if targets[user] not in ids:
                report.flag("missing_targets", f"{where}: the list of user {user!r} lacks the target")
            seen.add(user)
            batch.append((dataset, name, user, dumps_ids(ids)))
        db.conn.executemany("INSERT INTO candidates (dataset, name, user_id, items) VALUES (?,?,?,?)", batch)
        report.candidates = report.users = len(batch)
        counts = json.loads(db.execute("SELECT counts FROM datasets WHERE name = ?", [dataset]).fetchone()[0] or "{}")
        counts.setdefault("candidate_sets", {})[name] = len(batch)
        db.execute("UPDATE datasets SET counts = ? WHERE name = ?", [json.dumps(counts), dataset])
    report.seconds = time.perf_counter() - start
    return report
