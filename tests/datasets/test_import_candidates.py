"""LLMRank candidate files: resolution, unknown users and items, missing targets, all-or-nothing."""
from __future__ import annotations

import json

import pytest

from recsys.datasets import candidate_lists, import_candidates, import_movielens, import_recbole
from recsys.errors import ImportFormatError, RecsysError


@pytest.fixture
def ml(db, ml100k_dir):
    import_movielens(db, "ml", ml100k_dir)  # test targets: user 1 -> 2, user 2 -> 4, user 3 -> 2
    return db


def test_candidates_are_resolved_and_stored(ml, write):
    path = write("c.txt", "1\t2 1 3\n2\t4 99 1 1\n7\t1 2\n1\t3\n3\t1 3\n")
    report = import_candidates(ml, "ml", path, name="llmrank")
    assert report.candidates == 3
    assert (report.unknown_items, report.unknown_users, report.duplicate_ids, report.missing_targets) == (1, 1, 2, 1)
    assert "line 5" in report.examples["missing_targets"][0]
    lists = candidate_lists(ml, "ml", "llmrank")
    assert lists == {"1": ["ml:2", "ml:1", "ml:3"], "2": ["ml:4", "ml:1"], "3": ["ml:1", "ml:3"]}
    counts = json.loads(ml.execute("SELECT counts FROM datasets WHERE name='ml'").fetchone()[0])
    assert counts["candidate_sets"] == {"llmrank": 3}


def test_reimport_replaces_only_that_set(ml, write):
    import_candidates(ml, "ml", write("a.txt", "1\t2 1\n"), name="a")
    import_candidates(ml, "ml", write("b.txt", "1\t2 3\n2\t4 1\n"), name="b")
    import_candidates(ml, "ml", write("b2.txt", "2\t4 3\n"), name="b")
    assert candidate_lists(ml, "ml", "a") == {"1": ["ml:2", "ml:1"]}
    assert candidate_lists(ml, "ml", "b") == {"2": ["ml:4", "ml:3"]}


def test_space_instead_of_tab_and_rollback(ml, write, snapshot):
    import_candidates(ml, "ml", write("a.txt", "1\t2 1\n"))
    before = snapshot(ml)
    with pytest.raises(ImportFormatError, match=r"c\.txt, line 2: expected user_id<TAB>.*no tab"):
        import_candidates(ml, "ml", write("c.txt", "1\t2 1 3\n2 4 1\n"))
    assert snapshot(ml) == before


def test_unknown_dataset(db, write):
    with pytest.raises(RecsysError, match="import it before its candidates"):
        import_candidates(db, "nope", write("c.txt", "1\t2\n"))
    with pytest.raises(RecsysError, match="no candidate set"):
        candidate_lists(db, "nope")


def test_unisrec_indices(db, write):
    text = write("u/S.text", "item_id:token\ttext:token_seq\nB01\tGlue\nB02\tTape\nB03\tSaw\n")
    write("u/S.item2index", "B01\t0\nB02\t1\nB03\t2\n")
    test = write("u/S.test.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0 1\t2\n")
    import_recbole(db, "s", items=text, inter=[test])
    report = import_candidates(db, "s", write("c.txt", "0\t2 0\n"), item2index=text.with_suffix(".item2index"))
    assert report.missing_targets == 0
    assert candidate_lists(db, "s") == {"0": ["s:B03", "s:B01"]}
