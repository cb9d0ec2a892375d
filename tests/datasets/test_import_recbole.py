"""RecBole atomic files: plain and sequential .inter files, UniSRec .text + .item2index, bad headers."""
from __future__ import annotations

import json

import pytest

from recsys.datasets import eval_samples, import_recbole
from recsys.errors import ConfigError, ImportFormatError

ITEMS = ("item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq\n"
         "1\tToy Story\t1995\tAnimation Comedy\n2\tMatrix, The\t1999\tAction\n3\tHeat\t1995\tCrime\n"
         "4\tAlien\t1979\tHorror\n")


@pytest.fixture
def seq_files(write):
    items = write("d/x.item", ITEMS)
    train = write("d/x.train.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\nu1\t1\t2\nu2\t3\t1\n")
    valid = write("d/x.valid.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\nu1\t1 2\t3\n")
    test = write("d/x.test.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\nu1\t1 2 3\t4\n"
                                   "u2\t3 1\t2\n")
    return items, [train, valid, test]


def test_sequential_rows_splits_and_text(db, seq_files):
    items, inter = seq_files
    report = import_recbole(db, "x", items=items, inter=inter, domain="movies")
    assert report.splits == {"train": 2, "valid": 1, "test": 2} and report.sequences == 5
    assert (report.items, report.users, report.interactions) == (4, 2, 4 + 3)
    row = db.execute("SELECT user_id, history, target FROM sequences WHERE dataset='x' AND split='test' "
                     "ORDER BY row").fetchone()
    assert row == ("u1", json.dumps(["x:1", "x:2", "x:3"]), "x:4")
    assert db.execute("SELECT title, year, tags FROM items WHERE id='x:2'").fetchone() == ("The Matrix", 1999,
                                                                                          "Action")
    assert db.execute("SELECT split FROM datasets WHERE name='x'").fetchone()[0] == 1
    samples = list(eval_samples(db, "x"))
    assert [(s.user_id, s.target) for s in samples] == [("u1", "x:4"), ("u2", "x:2")]


def test_popularity_never_counts_test_targets(db, seq_files):
    items, inter = seq_files
    import_recbole(db, "x", items=items, inter=inter)
    pop = dict(db.execute("SELECT source_id, popularity FROM items").fetchall())
    # train + valid rows merged per user: u1 1 2 3, u2 3 1 (each event once); the test rows never count
    assert pop == {"1": 2.0, "2": 1.0, "3": 2.0, "4": 0.0}


def test_text_field_option_and_default(db, seq_files):
    items, inter = seq_files
    import_recbole(db, "x", items=items, inter=inter[:1], text_field="genre")
    assert db.execute("SELECT title FROM items WHERE id='x:1'").fetchone()[0] == "Animation Comedy"
    with pytest.raises(ConfigError, match="no field 'nope'"):
        import_recbole(db, "x", items=items, text_field="nope")


def test_plain_inter_with_splits_goes_to_interactions(db, write):
    items = write("p/p.item", ITEMS)
    head = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    train = write("p/p.train.inter", head + "7\t1\t5\t10\n7\t2\t4\t20\n8\t1\t3\t5\n")
    test = write("p/p.test.inter", head + "7\t3\t5\t30\n8\t9\t3\t6\n")
    report = import_recbole(db, "p", items=items, inter=[train, test])
    assert report.interactions == 4 and report.splits == {"test": 1, "train": 3} and report.unknown_items == 1
    assert "p.test.inter line 3" in report.examples["unknown_items"][0]
    pop = dict(db.execute("SELECT source_id, popularity FROM items").fetchall())
    assert pop["3"] == 0.0 and pop["1"] == 2.0
    assert [(s.user_id, s.history, s.target) for s in eval_samples(db, "p")] == [("7", ("p:1", "p:2"), "p:3")]


def test_unisrec_text_and_item2index(db, write):
    text = write("u/S.text", "item_id:token\ttext:token_seq\nB01\tGlue. Tools. Gorilla. \nB02\tTape &amp; more. \n")
    write("u/S.item2index", "B02\t0\nB01\t1\nB03\t2\n")
    test = write("u/S.test.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0 1\t2\n1\t0\t7\n")
    report = import_recbole(db, "s", items=text, inter=[test], domain="products")
    assert report.format == "unisrec" and report.items == 3 and report.missing_titles == 1
    assert report.unknown_items == 1 and report.sequences == 1
    assert db.execute("SELECT history, target FROM sequences").fetchone() == ('["s:B02", "s:B01"]', "s:B03")
    assert db.execute("SELECT title FROM items WHERE id='s:B02'").fetchone()[0] == "Tape & more."


def test_header_errors_are_explained(db, write):
    bad = write("b/b.item", "item_id,title\n1,Heat\n")
    with pytest.raises(ImportFormatError, match=r"b\.item, line 1: expected a RecBole header .*not tab-separated"):
        import_recbole(db, "b", items=bad)
    notext = write("b/c.item", "item_id:token\tyear:float\n1\t1995\n")
    with pytest.raises(ImportFormatError, match="no token_seq column"):
        import_recbole(db, "b", items=notext)


def test_row_with_wrong_field_count(db, seq_files, write):
    items, _ = seq_files
    bad = write("d/y.test.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\nu1\t1 2\t3\nu2 1 2 3\n")
    with pytest.raises(ImportFormatError, match=r"y\.test\.inter, line 3: expected 3 tab-separated fields"):
        import_recbole(db, "x", items=items, inter=[bad])


def test_two_files_for_one_split_are_refused(db, seq_files):
    items, inter = seq_files
    with pytest.raises(ConfigError, match="same split"):
        import_recbole(db, "x", items=items, inter=[inter[0], inter[0]])


def test_a_pickle_is_never_loaded(db, write):
    import pickle
    path = write("k/k.item", pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(ImportFormatError, match="pickle"):
        import_recbole(db, "k", items=path)


def test_swapped_files_are_explained(db, seq_files):
    items, inter = seq_files
    with pytest.raises(ImportFormatError, match=r"looks like an \.inter file"):
        import_recbole(db, "x", items=inter[0])
    with pytest.raises(ImportFormatError, match="no user column .* is this the item file"):
        import_recbole(db, "x", items=items, inter=[items])
