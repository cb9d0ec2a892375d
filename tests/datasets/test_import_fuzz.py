"""Fuzzing every parser with hypothesis: whatever the bytes, an importer either imports or raises the project's
own error (`ImportFormatError` or another `RecsysError`), and a failed import leaves nothing behind."""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.datasets import Columns, import_candidates, import_movielens, import_recbole, import_table
from recsys.db import connect
from recsys.errors import RecsysError

# RECSYS_FUZZ_EXAMPLES=2000 for a longer hunt; 60 keeps the suite fast
FUZZ = settings(max_examples=int(os.environ.get("RECSYS_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

TOKENS = ["1", "2", "42", "-3", "1.5", "nan", "inf", "1e999", "x", "Matrix, The (1999)", "é", "\t", "\t", "::",
          "|", ",", ",", ";", '"', " ", "{", "}", "[", "]", ":", '"id"', '"title"', "null", "\r", "\x00", "\ufeff",
          "\\ud800", "item_id:token", ":token_seq", "_list", "9" * 25, "2020-01-01", "9999-12-31T23:59:59-23:59",
          "&amp;", "\n"]
line = st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=10).map("".join)
encoding = st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "cp1252"])
blob = st.binary(max_size=200)


def content(header: str, *good: str):
    """Bytes of a file: random bytes, or a (usually valid) header and lines, valid or fuzzed, in some encoding."""
    valid = st.sampled_from(good) if good else line
    lines = st.lists(st.one_of(valid, valid, valid, line), max_size=8).map("\n".join)
    head = st.sampled_from([header, header, header, ""])
    text = st.tuples(head, lines, encoding).map(lambda t: (t[0] + t[1]).encode(t[2], errors="ignore"))
    return st.one_of(blob, text, text, text)


def attempt(files: dict[str, bytes], call) -> None:
    """Write the files into a fresh folder and import; only the project's errors may escape."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        db = connect(memory=True)
        try:
            call(db, folder)
        except RecsysError:
            assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 0
            assert db.execute("SELECT count(*) FROM datasets").fetchone()[0] == 0
        assert not db.conn.in_transaction


ML_100K_ITEM = "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
SEQ = "user_id:token\titem_id_list:token_seq\titem_id:token\n"


@FUZZ
@given(content(ML_100K_ITEM, "2|Heat (1995)|||x", "3|Caf\xe9, Le (1990)"),
       content("1\t1\t5\t881250949\n", "1\t2\t3\t5", "2\t3\t1\t1", "2\t9\t1\t1"), st.sampled_from([0, 3]))
def test_fuzz_movielens_100k(item, data, bad):
    attempt({"u.item": item, "u.data": data},
            lambda db, d: import_movielens(db, "f", d, max_bad_lines=bad))


@FUZZ
@given(content("movieId,title,genres\n", '1,"Matrix, The (1999)",Action|Sci-Fi', "2,Heat (1995),Crime"),
       content("userId,movieId,rating,timestamp\n", "1,1,4.0,964982703", "1,2,4.5,5", "2,2,1,1", "3,7,1,1"),
       st.sampled_from([0, 3]))
def test_fuzz_movielens_latest(movies, ratings, bad):
    attempt({"movies.csv": movies, "ratings.csv": ratings},
            lambda db, d: import_movielens(db, "f", d, max_bad_lines=bad))


@FUZZ
@given(content("1::Toy Story (1995)::Animation\n", "2::Heat (1995)::Crime|Drama"),
       content("1::1::5::978300760\n", "1::2::3::4", "2::2::1::1"))
def test_fuzz_movielens_1m(movies, ratings):
    attempt({"movies.dat": movies, "ratings.dat": ratings}, lambda db, d: import_movielens(db, "f", d))


@FUZZ
@given(content("item_id:token\ttitle:token_seq\trelease_year:token\n", "1\tA\t1995", "2\tB\t", "3\tC\t99999"),
       content(SEQ, "u\t1 2\t3", "v\t\t1", "w\t3\t9"),
       content("user_id:token\titem_id:token\ttimestamp:float\n", "u\t1\t5", "u\t2\t1", "v\t3\t2"),
       st.sampled_from([0, 3]))
def test_fuzz_recbole(items, seq, plain, bad):
    attempt({"x.item": items, "x.test.inter": seq, "x.train.inter": plain},
            lambda db, d: import_recbole(db, "f", items=d / "x.item", inter=[d / "x.test.inter"], max_bad_lines=bad))
    attempt({"x.item": items, "x.train.inter": plain},
            lambda db, d: import_recbole(db, "f", items=d / "x.item", inter=[d / "x.train.inter"]))


@FUZZ
@given(content("item_id:token\ttext:token_seq\n", "B2\tTape. ", "B3\tGlue &amp; more"),
       content("B1\t0\n", "B2\t1", "B3\t2", "B4\t3"),
       content(SEQ, "0\t0 1\t2", "1\t2\t3", "2\t0\t5"))
def test_fuzz_unisrec(text, index, inter):
    attempt({"S.text": text, "S.item2index": index, "S.valid.inter": inter},
            lambda db, d: import_recbole(db, "f", items=d / "S.text", inter=[d / "S.valid.inter"]))


@FUZZ
@given(content("id,title,year,tags\n", "1,A,1995,x|y", '2,"B, The",,', "3,,abc,"),
       content("user,item,timestamp,rating\n", "u,1,5,4", "u,2,2020-01-01,", "v,3,,1", "v,9,1,1"),
       st.sampled_from([",", ",", "\t", ";"]), st.sampled_from([0, 3]))
def test_fuzz_csv(items, inter, delimiter, bad):
    attempt({"i.csv": items, "r.csv": inter},
            lambda db, d: import_table(db, "f", items=d / "i.csv", interactions=d / "r.csv", delimiter=delimiter,
                                       max_bad_lines=bad))


@FUZZ
@given(content('{"id": 1, "title": "x", "year": "1995", "tags": ["a"]}\n', '{"id": 2, "title": null}',
               '{"id": "3", "title": "\\ud800"}', '{"id": {"a": 1}}'),
       content('{"user_id": "u", "item_id": 1, "timestamp": "2020-01-01"}\n', '{"user_id": "u", "item_id": 2}',
               '{"user_id": 1, "item_id": 1, "timestamp": 1e400}'))
def test_fuzz_jsonl(items, inter):
    attempt({"i.jsonl": items, "r.jsonl": inter},
            lambda db, d: import_table(db, "f", items=d / "i.jsonl", interactions=d / "r.jsonl", fmt="jsonl",
                                       columns=Columns(title="title")))


@FUZZ
@given(content("1\t1 2\n", "1\t2", "2\t1 2 3", "1\t1"), st.sampled_from([0, 3]))
def test_fuzz_candidates(cands, bad):
    def call(db, d):
        (d / "i.csv").write_text("id,title\n1,A\n2,B\n")
        (d / "r.csv").write_text("user,item\n1,1\n1,2\n")
        import_table(db, "f", items=d / "i.csv", interactions=d / "r.csv")
        before = db.execute("SELECT count(*) FROM items").fetchone()[0]
        try:
            import_candidates(db, "f", d / "c.txt", max_bad_lines=bad)
        except RecsysError:
            assert db.execute("SELECT count(*) FROM candidates").fetchone()[0] == 0
            assert db.execute("SELECT count(*) FROM items").fetchone()[0] == before
        assert not db.conn.in_transaction

    attempt({"c.txt": cands}, call)


# -- a property of valid input: the report matches the data, the log is in order, targets never count --------------
events = st.lists(st.tuples(st.integers(1, 6), st.integers(1, 8), st.integers(0, 5)), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None)
@given(events)
def test_valid_logs_round_trip(rows):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "i.csv").write_text("id,title\n" + "".join(f"{i},Item {i}\n" for i in range(1, 9)))
        (d / "r.csv").write_text("user,item,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in rows))
        db = connect(memory=True)
        report = import_table(db, "v", items=d / "i.csv", interactions=d / "r.csv")
        users = {u for u, _, _ in rows}
        assert (report.items, report.users, report.interactions) == (8, len(users), len(rows))
        expected = {u: sorted(((t, i) for uu, i, t in rows if uu == u), key=lambda r: r[0]) for u in users}  # ties: file order
        for u in users:
            got = [r[0] for r in db.execute("SELECT item_id FROM interactions WHERE user_id = ? ORDER BY rowid",
                                            [str(u)])]
            assert got == [f"v:{i}" for _, i in expected[u]]
        pop = Counter(f"v:{i}" for u in users for _, i in expected[u][:-1])
        stored = dict(db.execute("SELECT id, popularity FROM items").fetchall())
        assert stored == {f"v:{i}": float(pop[f"v:{i}"]) for i in range(1, 9)}
