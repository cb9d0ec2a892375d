"""Shared reading helpers: encodings, binary files, separators, split names, the report."""
from __future__ import annotations

import gzip

import pytest

from recsys.datasets import ImportReport, remove_dataset, import_movielens
from recsys.datasets.common import read_lines, split_fields, split_from_name, year_or_none
from recsys.errors import ImportFormatError


def test_read_lines_strips_bom_and_line_endings(write):
    path = write("a.txt", b"\xef\xbb\xbfone\r\ntwo\n\nthree")
    assert list(read_lines(path)) == [(1, "one"), (2, "two"), (3, ""), (4, "three")]


def test_latin1_fallback_is_reported(write):
    report = ImportReport(dataset="d", format="x")
    path = write("a.txt", "ok\nCaf\xe9\n", encoding="latin-1")
    assert [t for _, t in read_lines(path, fallback="latin-1", report=report)] == ["ok", "Café"]
    assert report.warnings == ["a.txt: 1 line(s) were not utf-8; read them as latin-1"]


@pytest.mark.parametrize("content, match", [
    (gzip.compress(b"hello"), "gzip"),
    (b"PK\x03\x04rest", "zip"),
    ("a\tb\n".encode("utf-16"), "UTF-16"),
    (b"\x80\x04\x95stuff", "pickle"),
    (b"abc\x00def", "binary"),
])
def test_binary_files_are_named(write, content, match):
    with pytest.raises(ImportFormatError, match=match):
        list(read_lines(write("f.bin", content)))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImportFormatError, match="file not found"):
        list(read_lines(tmp_path / "nope"))
    with pytest.raises(ImportFormatError, match="folder"):
        list(read_lines(tmp_path))


def test_split_fields_diagnoses_separator(tmp_path):
    with pytest.raises(ImportFormatError, match="expected 3 '::'-separated fields .* looks tab-separated"):
        split_fields("1\t2\t3", "::", tmp_path / "f", 7, "a::b::c", n=3)
    assert split_fields("1::2::3", "::", tmp_path / "f", 1, "a::b::c", n=3) == ["1", "2", "3"]


def test_split_from_name():
    assert split_from_name("x.train.inter") == "train"
    assert split_from_name("ml-1m.valid.inter") == "valid"
    assert split_from_name("a.val.inter") == "valid"
    assert split_from_name("test.inter") == "test"
    assert split_from_name("x.inter") is None


def test_year_or_none():
    assert [year_or_none(v) for v in ("1995", " 2001.0", "0", "x", "99999", None, "12345678901")] == [
        1995, 2001, None, None, None, None, None]


def test_report_counts_and_lines():
    report = ImportReport(dataset="d", format="x", items=2)
    for i in range(7):
        report.flag("unknown_items", f"example {i}")
    assert report.unknown_items == 7 and len(report.examples["unknown_items"]) == 5
    assert report.counts()["unknown_items"] == 7 and "missing_titles" not in report.counts()
    assert "  unknown items: 7" in report.lines()


def test_remove_dataset(db, ml100k_dir):
    import_movielens(db, "ml", ml100k_dir)
    remove_dataset(db, "ml")
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM datasets").fetchone()[0] == 0


def test_file_database_is_untouched_by_a_failed_import(tmp_path, ml100k_dir, snapshot):
    from recsys.db import connect
    db = connect(tmp_path / "r.db")
    import_movielens(db, "ml", ml100k_dir)
    before = snapshot(db)
    (ml100k_dir / "u.item").write_text("1|A|||x\n2|B\nbroken\n")
    with pytest.raises(ImportFormatError, match="u.item, line 3"):
        import_movielens(db, "ml", ml100k_dir)
    db.conn.close()
    assert snapshot(connect(tmp_path / "r.db")) == before


def test_shared_data_dir_and_import_shared(db, tmp_path, monkeypatch, ml100k_dir):
    from recsys.datasets import import_shared, shared_data_dir
    from recsys.errors import RecsysError
    monkeypatch.setenv("RECSYS_SHARED_DATA", str(tmp_path / "elsewhere"))
    assert shared_data_dir() == tmp_path / "elsewhere"
    with pytest.raises(RecsysError, match="RECSYS_SHARED_DATA"):
        import_shared(db, "ml-100k")
    with pytest.raises(RecsysError, match="unknown shared dataset"):
        import_shared(db, "nope")
    ml100k_dir.rename(tmp_path / "ml-100k")
    report = import_shared(db, "ml-100k", dataset="small", data_dir=tmp_path)
    assert report.dataset == "small" and report.items == 4


def test_eval_samples_errors(db, ml100k_dir):
    from recsys.datasets import eval_samples
    from recsys.errors import ConfigError, RecsysError
    with pytest.raises(RecsysError, match="unknown dataset"):
        list(eval_samples(db, "nope"))
    import_movielens(db, "ml", ml100k_dir)
    with pytest.raises(ConfigError, match="leave-one-out"):
        list(eval_samples(db, "ml", split="train"))
    assert [len(s.history) for s in eval_samples(db, "ml", max_history=1)] == [1, 1]
