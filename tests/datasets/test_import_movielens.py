"""MovieLens importer on small fixtures: order, titles, latin-1, popularity, bad input."""
from __future__ import annotations

import json

import pytest

from recsys.datasets import eval_samples, import_movielens
from recsys.errors import ImportFormatError


def rows(db, dataset="ml"):
    return db.execute("SELECT user_id, item_id, timestamp FROM interactions WHERE dataset = ? ORDER BY rowid",
                      [dataset]).fetchall()


def test_100k_counts_titles_and_order(db, ml100k_dir):
    report = import_movielens(db, "ml", ml100k_dir)
    assert (report.items, report.users, report.interactions) == (4, 3, 6)
    assert report.format == "movielens-100k" and report.domain == "movies"
    titles = dict(db.execute("SELECT source_id, title FROM items").fetchall())
    assert titles["2"] == "The Matrix (1999)"
    assert titles["3"] == "La Cité des enfants perdus (1995)"  # latin-1 read and article moved
    assert any("latin-1" in w for w in report.warnings)
    # user 1: timestamp order, the tie at t=100 broken by numeric item id
    assert [r[1] for r in rows(db) if r[0] == "1"] == ["ml:1", "ml:3", "ml:2"]
    item = db.execute("SELECT tags, year FROM items WHERE id = 'ml:1'").fetchone()
    assert item == ("Animation, Children's, Comedy", 1995)
    info = db.execute("SELECT domain, counts FROM datasets WHERE name = 'ml'").fetchone()
    assert info[0] == "movies" and json.loads(info[1])["interactions"] == 6


def test_popularity_leaves_out_each_users_last_interaction(db, ml100k_dir):
    import_movielens(db, "ml", ml100k_dir)
    pop = dict(db.execute("SELECT source_id, popularity FROM items").fetchall())
    # targets: user 1 -> 2, user 2 -> 4, user 3 -> 2 (its only rating)
    assert pop == {"1": 2.0, "2": 0.0, "3": 1.0, "4": 0.0}


def test_eval_samples_leave_one_out(db, ml100k_dir):
    import_movielens(db, "ml", ml100k_dir)
    test = {s.user_id: s for s in eval_samples(db, "ml")}
    assert set(test) == {"1", "2"}  # user 3 has no history
    assert test["1"].history == ("ml:1", "ml:3") and test["1"].target == "ml:2"
    valid = {s.user_id: s for s in eval_samples(db, "ml", split="valid")}
    assert valid["1"].history == ("ml:1",) and valid["1"].target == "ml:3"


def test_latest_csv_and_1m_dat(db, write):
    write("latest/movies.csv", 'movieId,title,genres\n1,"Matrix, The (1999)",Action|Sci-Fi\n2,Heat (1995),'
                               "(no genres listed)\n")
    write("latest/ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.5,10\n1,2,3.0,5\n")
    report = import_movielens(db, "lat", write("latest/x", "").parent)
    assert (report.items, report.users, report.interactions) == (2, 1, 2)
    assert db.execute("SELECT title, tags FROM items WHERE id = 'lat:1'").fetchone() == ("The Matrix (1999)",
                                                                                         "Action, Sci-Fi")
    assert [r[1] for r in rows(db, "lat")] == ["lat:2", "lat:1"]
    write("one/movies.dat", "1::Toy Story (1995)::Animation|Comedy\n2::Jumanji (1995)::Adventure\n")
    write("one/ratings.dat", "7::2::5::978300760\n7::1::3::978300761\n")
    report = import_movielens(db, "one", write("one/users.dat", "").parent)
    assert report.format == "movielens-1m" and (report.items, report.interactions) == (2, 2)


def test_unknown_movies_are_counted_and_reported(db, ml100k_dir):
    (ml100k_dir / "u.data").write_text("1\t1\t5\t1\n1\t99\t5\t2\n2\t98\t1\t3\n")
    report = import_movielens(db, "ml", ml100k_dir)
    assert report.interactions == 1 and report.unknown_items == 2
    assert "u.data line 2" in report.examples["unknown_items"][0] and "'99'" in report.examples["unknown_items"][0]
    assert "unknown items: 2" in "\n".join(report.lines())


def test_duplicate_ids_and_missing_titles_are_counted(db, ml100k_dir):
    with open(ml100k_dir / "u.item", "a", encoding="latin-1") as f:
        f.write("1|Toy Story again (1995)|||x\n5||||x\n")
    report = import_movielens(db, "ml", ml100k_dir)
    assert report.duplicate_ids == 1 and report.missing_titles == 1 and report.items == 5
    assert db.execute("SELECT title FROM items WHERE id = 'ml:1'").fetchone()[0] == "Toy Story (1995)"


def test_malformed_line_names_file_line_and_expectation(db, ml100k_dir):
    (ml100k_dir / "u.data").write_text("1\t1\t5\t1\n1\t2\tfive\t2\n")
    with pytest.raises(ImportFormatError) as e:
        import_movielens(db, "ml", ml100k_dir)
    assert e.value.line == 2 and e.value.path.endswith("u.data") and "rating should be a number" in str(e.value)


def test_wrong_separator_is_explained(db, ml100k_dir):
    (ml100k_dir / "u.data").write_text("1,1,5,1\n")
    with pytest.raises(ImportFormatError, match=r"u\.data, line 1: expected 4 tab-separated .* looks comma-sep"):
        import_movielens(db, "ml", ml100k_dir)


def test_bad_lines_can_be_skipped_up_to_a_limit(db, ml100k_dir):
    (ml100k_dir / "u.data").write_text("1\t1\t5\t1\nrubbish\n1\t2\t5\t2\nmore rubbish\n")
    report = import_movielens(db, "ml", ml100k_dir, max_bad_lines=2)
    assert report.interactions == 2 and report.skipped_lines == 2
    assert "line 2" in report.examples["skipped_lines"][0]
    with pytest.raises(ImportFormatError, match="line 4"):
        import_movielens(db, "ml", ml100k_dir, max_bad_lines=1)


def test_failure_halfway_leaves_database_unchanged(db, ml100k_dir, snapshot):
    import_movielens(db, "ml", ml100k_dir)
    import_movielens(db, "other", ml100k_dir)
    before = snapshot(db)
    good = (ml100k_dir / "u.data").read_text()
    (ml100k_dir / "u.data").write_text(good * 3 + "1\t2\t3\n" + good)
    with pytest.raises(ImportFormatError, match="line 19"):
        import_movielens(db, "ml", ml100k_dir)
    assert snapshot(db) == before
    assert not db.conn.in_transaction


def test_reimport_replaces_the_dataset(db, ml100k_dir):
    import_movielens(db, "ml", ml100k_dir)
    (ml100k_dir / "u.data").write_text("1\t1\t5\t1\n")
    report = import_movielens(db, "ml", ml100k_dir)
    assert report.interactions == 1
    assert db.execute("SELECT count(*) FROM interactions WHERE dataset = 'ml'").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM datasets").fetchone()[0] == 1


def test_not_a_movielens_folder(db, tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ImportFormatError, match="not a MovieLens folder.*notes.txt"):
        import_movielens(db, "ml", tmp_path)
