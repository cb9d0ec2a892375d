"""Streams rebuilt from sequence rows, and the popularity each split may know (no evaluation target leaks in)."""
from __future__ import annotations

import pytest

from recsys.datasets import import_recbole
from recsys.datasets.generic import import_table
from recsys.datasets.streams import rebuild, split_counts
from recsys.errors import ConfigError

HEAD = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
ITEMS = "item_id:token\tname:token_seq\n" + "".join(f"{i}\tItem {i}\n" for i in range(1, 10))


def test_sliding_windows_with_a_fresh_id_per_row_are_one_stream():
    rows = [("te1", ["1"], "2"), ("te2", ["1", "2"], "3"), ("te3", ["2", "3"], "4"),  # windows of length 2
            ("te4", ["7"], "8"), ("te5", ["7", "8"], "9")]  # a new stream starts with a one-item history
    streams, of_row = rebuild(rows)
    assert streams == [["1", "2", "3", "4"], ["7", "8", "9"]] and of_row == [0, 0, 0, 1, 1]


def test_one_users_prefix_rows_in_any_order_are_one_stream():
    rows = [("u", ["1", "2"], "3"), ("u", ["1"], "2"), ("v", ["5"], "6"), ("u", ["1", "2", "3"], "4")]
    streams, of_row = rebuild(rows)
    assert streams == [["1", "2", "3", "4"], ["5", "6"]] and of_row == [0, 0, 1, 0]


def test_a_one_item_history_that_matches_the_last_event_still_starts_a_stream():
    streams, _ = rebuild([("a", ["1"], "2"), ("b", ["2"], "3")])
    assert streams == [["1", "2"], ["2", "3"]]


@pytest.fixture
def windows(db, write):
    """lastfm's shape: every row its own id; the test rows are windows, so each target is the next row's history."""
    items = write("w/w.item", ITEMS)
    train = write("w/w.train.inter", HEAD + "tr1\t1\t2\ntr2\t1 2\t3\ntr3\t1 2 3\t4\n")
    valid = write("w/w.valid.inter", HEAD + "va1\t5\t6\n")
    test = write("w/w.test.inter", HEAD + "te1\t7\t8\nte2\t7 8\t9\nte3\t8 9\t1\n")
    import_recbole(db, "w", items=items, inter=[train, valid, test])
    return db


def test_test_prior_counts_train_and_valid_events_once_and_no_test_row(windows):
    pop = dict(windows.execute("SELECT source_id, popularity FROM items WHERE popularity > 0").fetchall())
    # before the fix: every history item of every row, test rows included (8 and 9 are test targets)
    assert pop == {"1": 1.0, "2": 1.0, "3": 1.0, "4": 1.0, "5": 1.0, "6": 1.0}
    assert split_counts(windows, "w", "test") == {f"w:{i}": 1 for i in range(1, 7)}


def test_valid_prior_leaves_out_the_validation_rows(windows):
    assert split_counts(windows, "w", "valid") == {"w:1": 1, "w:2": 1, "w:3": 1, "w:4": 1}
    assert split_counts(windows, "w", "train") == {}


def test_leave_one_out_log_priors_drop_the_last_one_or_two_events(db, write):
    items = write("l/i.csv", "id,title\n" + "".join(f"{i},Item {i}\n" for i in range(1, 6)))
    log = write("l/r.csv", "user,item,timestamp\n1,1,10\n1,2,20\n1,3,30\n2,4,10\n2,5,20\n")
    import_table(db, "l", items=items, interactions=log)
    assert split_counts(db, "l", "test") == {"l:1": 1, "l:2": 1, "l:4": 1}
    assert split_counts(db, "l", "valid") == {"l:1": 1}
    with pytest.raises(ConfigError, match="leave-one-out"):
        split_counts(db, "l", "train")
    with pytest.raises(ConfigError, match="split must be"):
        split_counts(db, "l", "later")


def test_same_second_events_keep_file_order_so_the_target_is_not_the_highest_id(db, write):
    items = write("t/i.csv", "id,title\n" + "".join(f"{i},Item {i}\n" for i in range(1, 6)))
    log = write("t/r.csv", "user,item,timestamp\n1,1,10\n1,5,20\n1,2,20\n")  # 5 and 2 in the same second
    import_table(db, "t", items=items, interactions=log)
    order = [r[0] for r in db.execute("SELECT item_id FROM interactions ORDER BY rowid")]
    assert order == ["t:1", "t:5", "t:2"]  # ids ordered would make t:5 the target
    assert split_counts(db, "t", "test") == {"t:1": 1, "t:5": 1}
