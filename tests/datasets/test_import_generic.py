"""Generic CSV and JSONL importers: named and detected columns, timestamps, bad rows."""
from __future__ import annotations

import pytest

from recsys.datasets import Columns, import_table
from recsys.errors import ConfigError, ImportFormatError


def test_csv_items_and_interactions(db, write):
    items = write("i.csv", 'sku,name,about,cats\nA,"Heat, The",A heist,"crime|drama"\nB,Alien,,horror\nC,,,\n')
    inter = write("r.csv", "who,what,when\nu1,B,2020-01-02\nu1,A,2020-01-01T10:00:00\nu2,A,5\nu2,Z,6\n")
    cols = Columns(id="sku", title="name", description=("about",), tags="cats", user="who", item="what",
                   timestamp="when")
    report = import_table(db, "g", items=items, interactions=inter, columns=cols, domain="movies")
    assert (report.items, report.users, report.interactions) == (3, 2, 3)
    assert report.missing_titles == 1 and report.unknown_items == 1
    assert db.execute("SELECT title, description, tags FROM items WHERE id='g:A'").fetchone() == (
        "The Heat", "A heist", "crime, drama")
    order = db.execute("SELECT item_id FROM interactions WHERE user_id='u1' ORDER BY rowid").fetchall()
    assert order == [("g:A",), ("g:B",)]


def test_columns_are_detected_and_reported(db, write):
    items = write("m.csv", "movieId,title,genres\n1,Heat (1995),Crime\n")
    report = import_table(db, "g", items=items)
    assert report.items == 1 and report.warnings == ["m.csv: columns detected: id=movieId, title=title, tags=genres"]


def test_missing_column_lists_the_header(db, write):
    items = write("i.csv", "a,b\n1,2\n")
    with pytest.raises(ImportFormatError, match=r"no id column; name it with --id-col .*'a', 'b'"):
        import_table(db, "g", items=items)
    with pytest.raises(ImportFormatError, match="no column 'nope'"):
        import_table(db, "g", items=items, columns=Columns(id="a", title="nope"))


def test_wrong_delimiter_is_explained(db, write):
    items = write("i.csv", "id\ttitle\n1\tHeat\n")
    with pytest.raises(ImportFormatError, match="one column but looks tab-separated"):
        import_table(db, "g", items=items)
    assert import_table(db, "g", items=items, delimiter="\t").items == 1


def test_ragged_row_names_line(db, write):
    items = write("i.csv", "id,title\n1,Heat\n2,Alien,extra\n")
    with pytest.raises(ImportFormatError, match=r"i\.csv, line 3: expected 2 fields as in the header, got 3"):
        import_table(db, "g", items=items)


def test_wrong_encoding_is_explained(db, write):
    items = write("i.csv", "id,title\n1,Caf\xe9\n", encoding="latin-1")
    with pytest.raises(ImportFormatError, match=r"line 2: not valid utf-8 .*0xe9.*--encoding latin-1"):
        import_table(db, "g", items=items)
    import_table(db, "g", items=items, encoding="latin-1")
    assert db.execute("SELECT title FROM items").fetchone()[0] == "Café"


def test_jsonl(db, write):
    items = write("i.jsonl", '{"id": 1, "title": "Heat", "tags": ["crime", "drama"], "year": 1995}\n\n'
                             '{"id": "2", "title": "Alien", "creator": "Scott"}\n')
    inter = write("r.jsonl", '{"user_id": "u", "item_id": 2, "timestamp": 2}\n{"user_id": "u", "item_id": 1, '
                             '"timestamp": 1}\n')
    report = import_table(db, "j", items=items, interactions=inter, fmt="jsonl")
    assert (report.items, report.interactions) == (2, 2)
    assert db.execute("SELECT tags, year FROM items WHERE id='j:1'").fetchone() == ("crime, drama", 1995)


def test_jsonl_errors(db, write):
    with pytest.raises(ImportFormatError, match=r"line 1: expected a JSON object, got list; .*JSON array"):
        import_table(db, "j", items=write("a.jsonl", '[{"id": 1}]\n'), fmt="jsonl")
    with pytest.raises(ImportFormatError, match=r"line 1: not valid JSON .*looks like a JSON array"):
        import_table(db, "j", items=write("a2.jsonl", '[\n{"id": 1}\n]\n'), fmt="jsonl")
    with pytest.raises(ImportFormatError, match="line 2: expected a JSON object, got list"):
        import_table(db, "j", items=write("b.jsonl", '{"id": 1, "title": "x"}\n[1]\n'), fmt="jsonl")
    with pytest.raises(ImportFormatError, match="looks like JSON Lines"):
        import_table(db, "j", items=write("c.csv", '{"id": 1, "title": "x"}\n'))


def test_empty_item_file(db, write):
    with pytest.raises(ImportFormatError, match="no items found"):
        import_table(db, "j", items=write("e.csv", "id,title\n"))


def test_bad_names_and_options(db, write):
    items = write("i.csv", "id,title\n1,Heat\n")
    with pytest.raises(ConfigError, match="dataset name"):
        import_table(db, "a:b", items=items)
    with pytest.raises(ConfigError, match="domain"):
        import_table(db, "g", items=items, domain="cars")
    with pytest.raises(ConfigError, match="encoding"):
        import_table(db, "g", items=items, encoding="utf-16")


def test_jsonl_optional_key_may_be_absent_from_the_first_object(db, write):
    items = write("i.jsonl", '{"id": 1, "title": "Heat"}\n{"id": 2, "title": "Alien", "by": "Scott"}\n')
    import_table(db, "j", items=items, fmt="jsonl", columns=Columns(creator="by"))
    assert db.execute("SELECT creator FROM items WHERE id='j:2'").fetchone()[0] == "Scott"
