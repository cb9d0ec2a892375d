"""Fixtures of the importer tests: an in-memory database, a file writer, and the shared datasets (imported once)."""
from __future__ import annotations

from pathlib import Path

import pytest

from recsys.db import connect


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (still runs in CI)")


@pytest.fixture
def db():
    return connect(memory=True)


@pytest.fixture
def write(tmp_path):
    """write(name, text or bytes) -> the path of a new file under tmp_path."""
    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path
    return _write


@pytest.fixture
def snapshot():
    """snapshot(db) -> every row of the tables an import writes, to compare before and after."""
    def _snapshot(db) -> dict:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()
                for t in ("datasets", "items", "interactions", "sequences", "candidates")}
    return _snapshot


@pytest.fixture
def ml100k_dir(write):
    """A tiny ML-100K folder: 4 movies (one latin-1 title), 3 users."""
    item = ("1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
            "2|Matrix, The (1999)|01-Jan-1999||http://x|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0|0\n"
            "3|Cit\xe9 des enfants perdus, La (1995)|01-Jan-1995||http://x|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n"
            "4|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n")
    write("ml/u.item", item, encoding="latin-1")
    data = ("1\t2\t5\t300\n1\t1\t4\t100\n1\t3\t3\t100\n"   # user 1: ts 100 (items 1, 3 tie -> 1 first), then 2
            "2\t1\t5\t50\n2\t4\t2\t60\n"
            "3\t2\t4\t10\n")
    return write("ml/u.data", data).parent
