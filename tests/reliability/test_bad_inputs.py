"""Bad input, tried systematically: the rows of docs/bad-inputs.md. Each one either is handled as data (and the
test says how) or gets a clear error — one of the project's named errors, one line, naming the file or value —
and leaves every stored row as it was."""
from __future__ import annotations

import gzip
import io
import json
import math
import pickle
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from fakes import FakeModels

from recsys import db as dbmod
from recsys.catalog import Catalog, make_item
from recsys.config import ScoringConfig
from recsys.datasets import import_candidates, import_movielens, import_recbole, import_table
from recsys.datasets import common
from recsys.errors import ConfigError, EmptyCandidatesError, RecsysError, UnknownItemsError
from recsys.recommend import recommend
from recsys.types import Query
from reliability.figures import FIGURES

CFG = ScoringConfig(n_candidates=10, n_popular=2)
TABLES = ("datasets", "items", "interactions", "sequences", "candidates", "feedback", "pair_scores", "embeddings")
ML_ITEM = ("1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
           "2|Heat (1995)|01-Jan-1995||http://x|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n")
ML_DATA = "1\t1\t5\t100\n1\t2\t3\t200\n2\t2\t4\t50\n"
SEQ_HEAD = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
RB_ITEMS = "item_id:token\ttitle:token_seq\n1\tToy Story\n2\tHeat\n"


def snapshot(db) -> dict:
    return {t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in TABLES}


def clear(error: BaseException, *names: str) -> None:
    """A clear error: one of ours (the CLI and the app print those as messages), naming what it is about."""
    message = str(error)
    assert isinstance(error, RecsysError), f"{type(error).__name__}: {message}"
    assert message.strip() and len(message) < 2000, message
    assert "Traceback" not in message
    for name in names:
        assert name in message, f"{name!r} not named in: {message}"


def tried(ok: bool = True) -> None:
    FIGURES["bad inputs tried"] += 1
    FIGURES["bad inputs without a clear answer"] += not ok


@pytest.fixture
def store_db(db_file):
    """A file database that already holds data (the 10-movie catalog, feedback, a cached pair score) and an
    imported dataset 'old', to check that nothing is lost when a bad input is refused."""
    db = dbmod.connect(db_file)
    import_table(db, "old", items=_write(db_file.parent / "old.csv", b"id,title\n1,Old One\n2,Old Two\n"))
    db["feedback"].insert({"id": "f", "session_id": "s", "item_id": "m:up", "value": "like"})
    db["pair_scores"].insert({"model": "x", "template": "t", "x_hash": "a", "y_hash": "b", "logprob": -1.0,
                              "n_tokens": 1})
    return db


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def refused(db, call, *names: str, match: str | None = None) -> RecsysError:
    """Run an import that must fail: a clear error, and every stored row as it was."""
    before = snapshot(db)
    with pytest.raises(Exception) as info:
        call()
    ok = isinstance(info.value, RecsysError)
    tried(ok)
    clear(info.value, *names)
    if match:
        assert match in str(info.value), str(info.value)
    assert snapshot(db) == before
    assert not db.conn.in_transaction
    return info.value


# -- dataset files ----------------------------------------------------------------------------------------------
def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("items.csv", "id,title\n1,A\n")
    return buffer.getvalue()


BINARY = {
    "gzip": (gzip.compress(b"id,title\n1,A\n"), "gzip-compressed"),
    "zip": (zipped(), "zip archive"),
    "pickle": (pickle.dumps({"id": 1, "title": "x"}, protocol=4), "pickle"),
    "sqlite": (b"SQLite format 3\x00" + b"\x00" * 100, "SQLite database"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary file"),
    "utf-16": ("id,title\n1,Amélie\n".encode("utf-16"), "UTF-16"),
}


@pytest.mark.parametrize("kind", BINARY)
@pytest.mark.parametrize("importer", ["csv", "jsonl", "movielens", "recbole", "candidates"])
def test_binary_and_wrongly_encoded_files_are_named(store_db, tmp_path, kind, importer):
    data, what = BINARY[kind]
    bad = _write(tmp_path / f"bad-{importer}" / "u.item", data)
    _write(bad.with_name("u.data"), data)
    call = {
        "csv": lambda: import_table(store_db, "new", items=bad),
        "jsonl": lambda: import_table(store_db, "new", items=bad, fmt="jsonl"),
        "movielens": lambda: import_movielens(store_db, "new", bad.parent),
        "recbole": lambda: import_recbole(store_db, "new", items=bad),
        "candidates": lambda: import_candidates(store_db, "old", bad),
    }[importer]
    refused(store_db, call, str(bad), match=what)


ITEM_FILES = {
    # name: (file bytes, fmt, expected text in the error)
    "malformed line (field count)": (b"id,title\n1,A\n2,B,extra\n", "csv", "line 3: expected 2 fields"),
    "truncated mid multi-byte char": (b"id,title\n1,Caf\xc3", "csv", "line 2: not valid utf-8"),
    "latin-1 read as utf-8": ("id,title\n1,Café\n".encode("latin-1"), "csv", "--encoding latin-1"),
    "unterminated quote": (b'id,title\n1,"Toy Story\n2,Heat\n', "csv", "line 2: a quoted field"),
    "empty file": (b"", "csv", "empty"),
    "header only": (b"id,title\n", "csv", "no items found"),
    "wrong separator": (b"id\ttitle\n1\tA\n", "csv", "looks tab-separated"),
    "no id column": (b"name,year\nA,1999\n", "csv", "no id column"),
    "a 200 KB field": (b"id,title\n1," + b"x" * 200_000 + b"\n", "csv", "field larger than field limit"),
    "json array instead of lines": (b'[{"id": 1, "title": "A"}]\n', "jsonl", "JSON array"),
    "not json": (b'{"id": 1, "title": "A"}\n{id: 2}\n', "jsonl", "line 2: not valid JSON"),
    "json nested 100k deep": (b'{"id": 1, "title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "jsonl",
                              "line 1"),
    "json object as a title": (b'{"id": 1, "title": {"a": 1}}\n', "jsonl", "should be text"),
    "lone surrogate escape": (b'{"id": 1, "title": "\\ud800"}\n', "jsonl", "invalid unicode escape"),
    "empty id": (b"id,title\n,No id\n", "csv", "empty item id"),
}


@pytest.mark.parametrize("name", ITEM_FILES)
def test_malformed_item_files(store_db, tmp_path, name):
    data, fmt, expected = ITEM_FILES[name]
    path = _write(tmp_path / f"items.{fmt}", data)
    refused(store_db, lambda: import_table(store_db, "new", items=path, fmt=fmt), str(path), match=expected)


def test_truncated_movielens_and_recbole_files(store_db, tmp_path):
    d = tmp_path / "ml"
    _write(d / "u.item", ML_ITEM.encode("latin-1"))
    _write(d / "u.data", ML_DATA.encode()[:-6])  # cut in the middle of the last line
    refused(store_db, lambda: import_movielens(store_db, "new", d), "u.data", match="line 3")
    items = _write(tmp_path / "x.item", RB_ITEMS.encode())
    inter = _write(tmp_path / "x.test.inter", (SEQ_HEAD + "u1\t1\t2\nu2\t1 2").encode())
    refused(store_db, lambda: import_recbole(store_db, "new", items=items, inter=[inter]), "x.test.inter",
            match="line 3")
    head = _write(tmp_path / "y.item", b"item_id:token\ttitle:tok")  # the header itself is cut
    refused(store_db, lambda: import_recbole(store_db, "new", items=head), "y.item", match="field:type")


@pytest.mark.parametrize("field,value", [("timestamp", "nan"), ("timestamp", "inf"), ("rating", "1e999"),
                                         ("rating", "-inf"), ("rating", "five")])
def test_non_finite_numbers_in_a_log(store_db, tmp_path, field, value):
    d = tmp_path / "ml"
    _write(d / "u.item", ML_ITEM.encode())
    row = {"timestamp": f"1\t1\t5\t{value}\n", "rating": f"1\t1\t{value}\t100\n"}[field]
    _write(d / "u.data", (ML_DATA + row).encode())
    refused(store_db, lambda: import_movielens(store_db, "new", d), "u.data", match=field)


def test_missing_files_folders_and_names(store_db, tmp_path):
    refused(store_db, lambda: import_table(store_db, "new", items=tmp_path / "nope.csv"), "nope.csv",
            match="file not found")
    refused(store_db, lambda: import_table(store_db, "new", items=tmp_path), str(tmp_path), match="folder")
    refused(store_db, lambda: import_movielens(store_db, "new", tmp_path), str(tmp_path),
            match="not a MovieLens folder")
    ok = _write(tmp_path / "ok.csv", b"id,title\n1,A\n")
    for name in ("../etc", "a b", "x:y", "", "é", "a" * 101):
        refused(store_db, lambda: import_table(store_db, name, items=ok), match="dataset name")
    refused(store_db, lambda: import_table(store_db, "new", items=ok, encoding="utf-16"), match="not ASCII")
    refused(store_db, lambda: import_table(store_db, "new", items=ok, encoding="klingon"), match="unknown text")
    refused(store_db, lambda: import_candidates(store_db, "nope", ok), match="unknown dataset 'nope'")


def huge_line_file(path: Path, first_line: bytes, size: int = 1 << 30) -> Path:
    """A 1 GB file whose second line is the rest of it: text for 16 KB, then a sparse hole (no disk used)."""
    with open(path, "wb") as f:
        f.write(first_line + b"2" + b"a" * 16_000)
        f.seek(size - 1)
        f.write(b"\n")
    return path


FIRST_LINES = {"csv": b"id,title\n", "jsonl": b'{"id": 1, "title": "A"}\n',
               "movielens": ML_ITEM.encode().split(b"\n")[0] + b"\n", "recbole": b"item_id:token\ttitle:token_seq\n"}


@pytest.mark.parametrize("importer", FIRST_LINES)
def test_a_1_gb_line_is_refused_without_reading_it(store_db, tmp_path, importer):
    path = huge_line_file(tmp_path / "u.item", FIRST_LINES[importer])
    _write(tmp_path / "u.data", ML_DATA.encode())
    call = {
        "csv": lambda: import_table(store_db, "new", items=path),
        "jsonl": lambda: import_table(store_db, "new", items=path, fmt="jsonl"),
        "movielens": lambda: import_movielens(store_db, "new", tmp_path, variant="100k"),
        "recbole": lambda: import_recbole(store_db, "new", items=path),
    }[importer]
    tracemalloc.start()
    try:
        error = refused(store_db, call, "u.item", match="line 2: the line is longer than 4 MiB")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"read {peak / 2**20:.0f} MiB into memory"
    assert path.stat().st_size == 1 << 30


# -- data that is odd but valid: imported as data, reported ------------------------------------------------
def test_duplicate_ids_keep_the_first_and_are_reported(store_db, tmp_path):
    path = _write(tmp_path / "d.csv", b"id,title\n1,First\n1,Second\n2,Two\n2,Again\n")
    report = import_table(store_db, "dup", items=path)
    tried()
    assert (report.items, report.duplicate_ids) == (2, 2)
    assert any("duplicate ids: 2" in line for line in report.lines())
    assert Catalog(store_db).require(["dup:1"])[0].title == "First"


ODD_IDS = ["../../etc/passwd", "C:\\Windows\\x", "a/b?c#d", "%2e%2e%2f", "é🎬 ✓", "id with spaces",
           "ИД-1", "a:b:c", "<script>", "'; DROP TABLE items; --", "\u202eevil", "NUL\x00byte"]


def test_ids_with_unicode_and_path_characters_are_plain_data(store_db, tmp_path):
    rows = [{"id": i, "title": f"Item {k}"} for k, i in enumerate(ODD_IDS)]
    path = _write(tmp_path / "odd.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    files_before = sorted(p.name for p in tmp_path.rglob("*"))
    report = import_table(store_db, "odd", items=path, fmt="jsonl")
    for _ in ODD_IDS:
        tried()
    assert report.items == len(ODD_IDS)
    ids = Catalog(store_db).dataset_ids("odd")
    assert ids == [f"odd:{i}" for i in ODD_IDS]  # verbatim, namespaced
    assert "items" in store_db.table_names()  # the SQL-looking id was a value, never SQL
    assert sorted(p.name for p in tmp_path.rglob("*")) == files_before  # no file was made from an id
    result = recommend(Catalog(store_db), Query(history=(ids[0], ids[4]), config=CFG), FakeModels())
    assert {r.item.id for r in result.recommendations} <= set(ids) - {ids[0], ids[4]}


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf"), -1.0, 1e308])
def test_nan_and_infinite_popularity_values(store_db, raw):
    """Through make_item (demo files, uploads) and written straight into the database: finite scores."""
    values = [float("nan"), float("inf"), float("-inf"), -5.0, 1e308, "12", "lots", None]
    items = [make_item({"id": f"p:{k}", "title": f"Pop {k}", "popularity": v}, "p", "movies")
             for k, v in enumerate(values)]
    assert [i.popularity for i in items] == [0.0, 0.0, 0.0, 0.0, 1e308, 12.0, 0.0, 0.0]
    cat = Catalog(store_db)
    cat.add_items(items)
    cat.add_dataset("p", "movies")
    store_db.execute("UPDATE items SET popularity = ? WHERE id = 'p:0'", [raw])  # bypassing make_item
    for history in ((), ("p:5",)):
        result = recommend(cat, Query(history=history, dataset="p", config=CFG, top=10), FakeModels())
        tried()
        assert len(result.recommendations) == len(values) - len(history)
        for r in result.recommendations:
            assert math.isfinite(r.score) and all(math.isfinite(c.value) for c in r.contributions)
            assert sum(c.value for c in r.contributions) == pytest.approx(r.score)
        assert len({r.score for r in result.recommendations}) > 1  # the prior still tells items apart


def test_a_1_mb_title_and_control_characters(store_db, tmp_path):
    title = "x" * 1_000_000
    path = _write(tmp_path / "t.jsonl", (json.dumps({"id": 1, "title": title, "description": "a\x00b\x1bc\x7f"}) +
                                         "\n").encode())
    import_table(store_db, "long", items=path, fmt="jsonl")
    tried()
    item = Catalog(store_db).require(["long:1"])[0]
    assert len(item.title) == 500 and "\x00" not in item.description and "\x1b" not in item.description


# -- catalogs, histories, candidates, settings -------------------------------------------------------------
def test_empty_catalogs(store_db):
    cat = Catalog(store_db)
    cat.add_dataset("empty", "movies")
    with pytest.raises(EmptyCandidatesError) as e:
        recommend(cat, Query(history=(), dataset="empty", config=CFG), FakeModels())
    tried()
    clear(e.value, "no candidates")
    with pytest.raises(RecsysError) as e:
        cat.dataset("nowhere")
    tried()
    clear(e.value, "'nowhere'", "old")
    with pytest.raises(RecsysError) as e:
        recommend(cat, Query(history=()), FakeModels())
    tried()
    clear(e.value, "needs a dataset")


@pytest.fixture
def big_catalog(tmp_path) -> Catalog:
    cat = Catalog(dbmod.connect(tmp_path / "big.db"))
    with cat.db.conn:
        cat.add_items([make_item({"id": f"b:{k}", "title": f"Film {k} about {'space' if k % 3 else 'love'}",
                                  "popularity": k % 17}, "b", "movies") for k in range(700)])
        cat.add_dataset("b", "movies")
    return cat


@pytest.mark.parametrize("n", [0, 1, 500])
def test_histories_of_0_1_and_500_items(big_catalog, n):
    models = FakeModels()
    history = tuple(f"b:{k}" for k in range(n))
    result = recommend(big_catalog, Query(history=history, dataset="b", config=CFG, top=10), models)
    tried()
    assert len(result.recommendations) == 10
    assert not {r.item.id for r in result.recommendations} & set(history)
    assert len(result.conditional_history) == min(n, CFG.max_history)  # the LM reads the newest items only
    assert len(result.weights) == n and sum(result.weights) == pytest.approx(1.0 if n else 0.0)
    if n == 0:
        assert any("empty history" in note for note in result.notes)
    if n == 500:
        assert result.conditional_history == history[-CFG.max_history:]


def test_a_history_that_repeats_an_item(catalog, fake_models):
    result = recommend(catalog, Query(history=("m:up", "m:shrek", "m:up"), config=CFG), fake_models)
    tried()
    assert result.recommendations and "m:up" not in {r.item.id for r in result.recommendations}


def test_candidate_lists_with_duplicates_and_history_items(catalog, fake_models):
    cands = ("m:heat", "m:heat", "m:alien", "m:up", "m:alien", "m:heat")
    result = recommend(catalog, Query(history=("m:up",), candidates=cands, config=CFG), fake_models)
    tried()
    assert sorted(r.item.id for r in result.recommendations) == ["m:alien", "m:heat"]
    assert "3 duplicate candidate id(s) ignored" in result.notes
    assert any("in the history or excluded" in n for n in result.notes)
    for cands, error in ((("m:up",), EmptyCandidatesError), ((), EmptyCandidatesError),
                         (("m:nope", "m:heat", "m:also-nope"), UnknownItemsError)):
        with pytest.raises(error) as e:
            recommend(catalog, Query(history=("m:up",), candidates=cands, config=CFG), fake_models)
        tried()
        clear(e.value)
    assert "'m:nope', 'm:also-nope'" in str(e.value)


def test_unknown_history_items_are_all_named(catalog, fake_models):
    with pytest.raises(UnknownItemsError) as e:
        recommend(catalog, Query(history=tuple(f"m:ghost-{k}" for k in range(15)), config=CFG), fake_models)
    tried()
    clear(e.value, "'m:ghost-0'", "and 5 more")


@pytest.mark.parametrize("changes", [{"top": 0}, {"top": -3}, {"emphasis": {"m:up": float("nan")}},
                                     {"emphasis": {"m:up": -1.0}}, {"emphasis": {"m:up": float("inf")}}])
def test_settings_out_of_range_on_a_query(catalog, fake_models, changes):
    q = Query(history=("m:up", "m:shrek"), config=CFG, **changes)
    with pytest.raises(ConfigError) as e:
        recommend(catalog, q, fake_models)
    tried()
    clear(e.value, next(iter(changes)))


@pytest.mark.parametrize("bad", [{"gamma": 0}, {"gamma": float("nan")}, {"alpha": -1}, {"fusion": "sum"},
                                 {"max_history": 0}, {"beta": float("nan")}, {"lam": float("inf")},
                                 {"alpha": float("nan")}])
def test_bad_scoring_settings(catalog, fake_models, bad):
    """Refused when the config is made, or at the latest when it is used (NaN compares false with any bound)."""
    with pytest.raises(ConfigError) as e:
        recommend(catalog, Query(history=("m:up",), config=ScoringConfig(**bad)), fake_models)
    tried()
    clear(e.value, next(iter(bad)))


def test_a_huge_top_returns_every_candidate(catalog, fake_models):
    result = recommend(catalog, Query(history=("m:up",), config=CFG, top=10**9), fake_models)
    tried()
    assert len(result.recommendations) == 9


def test_model_names_that_are_not_models(catalog, fake_models, tmp_path):
    """A folder that is not a model; an empty name. (An unknown hub id needs the network: see test_health.)"""
    from recsys.errors import ModelLoadError
    from recsys.models import load_causal_lm, resolve

    for name in ("", " smollm2 "):
        with pytest.raises(ModelLoadError) as e:
            resolve(name)
        tried()
        clear(e.value, "invalid model name")
    with pytest.raises(ModelLoadError) as e:
        load_causal_lm(str(tmp_path), "cpu")
    tried()
    clear(e.value, str(tmp_path))


def test_read_lines_limit_is_what_the_docs_say():
    assert common.MAX_LINE_BYTES == 4 << 20
