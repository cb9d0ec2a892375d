"""Fuzzing with hypothesis, from the reliability side: the importers against a database that already holds data
(a refused import leaves it byte-for-byte equal; an accepted one stores exactly what its report says), with the
line limit lowered so the oversize-line path is hit too; and links (query parameters) all the way through the
parser into `recommend()` — only clear errors may come out."""
from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from fakes import FakeModels
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys import db as dbmod
from recsys.catalog import Catalog
from recsys.datasets import common, import_candidates, import_movielens, import_recbole, import_table
from recsys.errors import RecsysError
from recsys.recommend import recommend
from recsys.types import Query
from recsys.ui.share import DEFAULT_EMPHASIS, MAX_HISTORY_ITEMS, MAX_ID_CHARS, RANGES, parse_params, to_params
from reliability.figures import FIGURES

# RECSYS_FUZZ_EXAMPLES=2000 for a longer hunt
N = int(os.environ.get("RECSYS_FUZZ_EXAMPLES", "80"))
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
TABLES = ("datasets", "items", "interactions", "sequences", "candidates")

PIECES = ["1", "2", "42", "x", "é", "🎬", "\t", ",", ";", "|", "::", '"', '""', "'", " ", "\n", "\r\n", "\r", "{",
          "}", "[", "]", ":", "null", "nan", "inf", "-1e999", "\x00", "\ufeff", "\\", "\\u0000", '"id"', '"title"',
          "user_id:token", "item_id:token", "item_id_list:token_seq", "title:token_seq", "9" * 30, "a" * 90,
          "<img src=x onerror=alert(1)>", "../../etc/passwd", "2020-01-01T00:00:00"]
GOOD = ["1,A", "2,B", "u,1,5", '{"id": 2, "title": "B"}', '{"user_id": "u", "item_id": 1}', "2\tHeat", "u1\t1\t2",
        "u1\t1 2\t1", "1\t2\t3\t4", "2|Heat (1995)|x", "u\t1 2"]
garbage = st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=12).map("".join)
lines = st.sampled_from(GOOD) | st.sampled_from(GOOD) | garbage
HEADERS = ["id,title\n", "item_id,title,description\n", "user_id,item_id,timestamp\n", '{"id": 1, "title": "A"}\n',
           "item_id:token\ttitle:token_seq\n", "user_id:token\titem_id_list:token_seq\titem_id:token\n",
           "1|Toy Story (1995)|01-Jan-1995||x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n", "1\t1\t5\t100\n", ""]
# the headers each importer's two files expect (the others are tried too, less often)
FITS = {"csv": (0, 2), "jsonl": (3, 3), "movielens": (6, 7), "recbole": (4, 5), "candidates": (8, 8)}


@st.composite
def files(draw, fit: int) -> bytes:
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=300))
    header = draw(st.sampled_from([HEADERS[fit]] * 3 + HEADERS))
    body = header + "\n".join(draw(st.lists(lines, max_size=10)))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "utf-16", "cp1252"]))
    data = body.encode(encoding, errors="replace")
    cut = draw(st.none() | st.integers(0, len(data)))  # truncated anywhere, mid-character included
    return data if cut is None else data[:cut]


@pytest.fixture(scope="module")
def base_db(tmp_path_factory) -> Path:
    """A file database holding a dataset 'old' (items, a log, candidates): copied fresh for every example."""
    d = tmp_path_factory.mktemp("fuzzbase")
    (d / "i.csv").write_text("id,title\n1,One\n2,Two\n3,Three\n", encoding="utf-8")
    (d / "l.csv").write_text("user_id,item_id,timestamp\nu,1,1\nu,2,2\nv,3,1\nv,1,2\n", encoding="utf-8")
    (d / "c.txt").write_text("u\t1 2 3\n", encoding="utf-8")
    db = dbmod.connect(d / "base.db")
    import_table(db, "old", items=d / "i.csv", interactions=d / "l.csv")
    import_candidates(db, "old", d / "c.txt")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return d / "base.db"


def rows(db) -> dict:
    return {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in TABLES}


IMPORTERS = {
    "csv": lambda db, a, b: import_table(db, "new", items=a, interactions=b),
    "jsonl": lambda db, a, b: import_table(db, "new", items=a, interactions=b, fmt="jsonl"),
    "movielens": lambda db, a, b: import_movielens(db, "new", a.parent, variant="100k"),
    "recbole": lambda db, a, b: import_recbole(db, "new", items=a, inter=[b]),
    "candidates": lambda db, a, b: import_candidates(db, "old", a),
}


@pytest.mark.slow
@pytest.mark.parametrize("importer", IMPORTERS)
@FUZZ
@given(data=st.data(), limit=st.sampled_from([64, 4 << 20]))
def test_fuzz_importers_against_stored_data(base_db, importer, data, limit):
    first, second = (data.draw(files(fit)) for fit in FITS[importer])
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(common, "MAX_LINE_BYTES", limit)
        folder = Path(tmp)
        a, b = folder / "u.item", folder / "x.test.inter"
        a.write_bytes(first)
        b.write_bytes(second)
        (folder / "u.data").write_bytes(second)
        path = folder / "db.db"
        path.write_bytes(base_db.read_bytes())
        db = dbmod.connect(path)
        before = rows(db)
        FIGURES["fuzzed dataset files"] += 1
        try:
            report = IMPORTERS[importer](db, a, b)
        except RecsysError as e:
            assert str(e).strip()
            assert rows(db) == before  # refused: nothing changed
            FIGURES["fuzzed files refused with a clear error"] += 1
        else:
            after = rows(db)
            if importer == "candidates":
                assert after["items"] == before["items"]
            else:
                new = [r for r in after["items"] if r[1] == "new"]
                assert len(new) == report.items > 0
                assert all(r[0].startswith("new:") for r in new)
                assert [r for r in after["items"] if r[1] == "old"] == [r for r in before["items"] if r[1] == "old"]
            FIGURES["fuzzed files imported"] += 1
        assert not db.conn.in_transaction
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.conn.close()


# -- links ------------------------------------------------------------------------------------------------------
KEYS = ["dataset", "domain", "history", "exclude", "emphasis", "emphasis_weight", "top", "model", "fusion",
        "calibration", "gamma", "alpha", "beta", "lam", "n_candidates", "max_history", "standardize", "x", ""]
VALUES = ["", "m", "movies", "m:up", "m:up,m:shrek", "m:up,,m:up", "m:nope", "m:up\\,x", "\\", "nan", "inf",
          "-inf", "1e309", "-1", "0", "0.5", "1", "5", "50", "51", "1e-320", "0x10", "1_000", " 2 ", "true", "on",
          "product", "mixture", "raw", "smollm2-135m", "/etc/passwd", "http://evil/model", "../../x",
          "<img src=x onerror=alert(1)>", "m:" + "a" * 400, ",".join(f"m:{k}" for k in range(80)), "\x00", "é"]
values = st.sampled_from(VALUES) | st.text(max_size=20)
params = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5),
                         values | st.lists(values, max_size=3), max_size=10)


@settings(max_examples=N * 4, deadline=None)
@given(params)
def test_fuzz_link_parser(params):
    state, warnings = parse_params(params)
    FIGURES["fuzzed links"] += 1
    assert all(isinstance(w, str) and w for w in warnings)
    assert len(state.history) <= MAX_HISTORY_ITEMS and len(set(state.history)) == len(state.history)
    assert all(0 < len(i) <= MAX_ID_CHARS for i in [*state.history, *state.exclude])
    for name, (low, high) in RANGES.items():
        value = state.top if name == "top" else state.emphasis_weight if name == "emphasis_weight" else \
            getattr(state.config, name)
        assert low <= value <= high, (name, value)
    assert state.emphasis is None or state.emphasis in state.history
    again, more = parse_params(to_params(state))  # what the page writes back parses to the same state
    if state.emphasis is None:  # a weight without an emphasised item has no effect and is not written back
        state = replace(state, emphasis_weight=DEFAULT_EMPHASIS)
    assert again == state and more == []


@pytest.fixture(scope="module")
def link_catalog(tmp_path_factory) -> Catalog:
    from conftest import add_small_catalog

    catalog = Catalog(dbmod.connect(tmp_path_factory.mktemp("links") / "l.db"))
    add_small_catalog(catalog)
    return catalog


@settings(max_examples=N * 2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params | st.text(max_size=200).map(lambda q: dict(parse_qsl(q, keep_blank_values=True))))
def test_fuzz_links_all_the_way_to_a_ranking(link_catalog, params):
    """A link naming items that do not exist, or nonsense settings, ends in a ranking or a clear error."""
    state, _ = parse_params(params)
    query = Query(history=state.history, config=state.config.with_(n_candidates=10), top=state.top,
                  exclude=state.exclude, dataset=state.dataset,
                  emphasis={state.emphasis: state.emphasis_weight} if state.emphasis else {})
    FIGURES["fuzzed links ranked"] += 1
    try:
        result = recommend(link_catalog, query, FakeModels())
    except RecsysError as e:
        assert str(e).strip()
        FIGURES["fuzzed links refused with a clear error"] += 1
    else:
        assert result.recommendations and len(result.recommendations) <= state.top
