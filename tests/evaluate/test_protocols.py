"""Protocol construction on tiny fixtures: no leakage, fixed-seed reproducibility, candidate files, positions."""
from __future__ import annotations

import json

from collections import Counter

import pytest

from recsys.errors import ConfigError, RecsysError
from recsys.evaluate.protocols import build, sample_negatives, user_rng


def _sequences(catalog):
    rows = catalog.db.execute("SELECT user_id, item_id FROM interactions WHERE dataset='toy' ORDER BY rowid")
    out: dict[str, list[str]] = {}
    for user, item in rows:
        out.setdefault(user, []).append(item)
    return out


def test_llmrank20_leave_one_out_on_a_log(log_catalog):
    es = build(log_catalog.db, "toy", "llmrank20", seed=0)
    seqs = _sequences(log_catalog)
    assert [c.user_id for c in es.cases] == sorted(seqs, key=int)  # natural user order
    for c in es.cases:
        seq = seqs[c.user_id]
        assert c.target == seq[-1] and c.history == tuple(seq[:-1])  # the last interaction is the target
        assert len(c.candidates) == 20 and len(set(c.candidates)) == 20
        assert c.candidates.count(c.target) == 1
    # LLMRank's negatives come from all items but the target: with 60 items, histories show up among them
    assert sum(len(set(c.candidates) & set(c.history)) for c in es.cases) > len(es.cases)
    unseen = build(log_catalog.db, "toy", "llmrank20", seed=0, negatives="unseen")
    for c in unseen.cases:
        assert not (set(c.candidates) - {c.target}) & set(seqs[c.user_id])  # none from the user's sequence
    assert es.describe()["negatives"] == "llmrank" and unseen.describe()["negatives"] == "unseen"


def test_history_is_cut_to_fifty_but_seen_keeps_everything():
    from tests.evaluate.conftest import make_log

    catalog = make_log(n_items=200, n_users=3)
    catalog.add_interactions([{"dataset": "toy", "user_id": "99", "item_id": f"toy:{k}", "timestamp": float(k),
                               "rating": 1.0, "split": None} for k in range(1, 81)])
    case = next(c for c in build(catalog.db, "toy", seed=0, negatives="unseen").cases if c.user_id == "99")
    assert len(case.history) == 50 and case.history[-1] == "toy:79" and case.target == "toy:80"
    assert len(case.seen) == 79 and not set(case.candidates) - {case.target} & case.seen


def test_fixed_seed_reproduces_and_users_do_not_depend_on_each_other(log_catalog):
    a = build(log_catalog.db, "toy", seed=7)
    b = build(log_catalog.db, "toy", seed=7)
    assert a.cases == b.cases
    c = build(log_catalog.db, "toy", seed=8)
    assert [x.candidates for x in a.cases] != [x.candidates for x in c.cases]
    first = build(log_catalog.db, "toy", seed=7, limit_users=3)
    assert first.cases == a.cases[:3]  # --limit-users: the first N users, the same candidates


def test_target_position_is_randomised(log_catalog):
    positions = Counter(c.target_index for c in build(log_catalog.db, "toy", seed=0).cases)
    assert len(positions) >= 10  # 30 users spread over many of the 20 positions
    assert max(positions.values()) <= 6


def test_sample_users_keeps_order_and_is_seeded(log_catalog):
    s = build(log_catalog.db, "toy", seed=0, sample_users=10)
    assert len(s.cases) == 10
    users = [int(c.user_id) for c in s.cases]
    assert users == sorted(users) and users != list(range(1, 11))
    assert build(log_catalog.db, "toy", seed=0, sample_users=10).cases == s.cases


def test_sequential_rows_give_history_and_target(seq_catalog):
    es = build(seq_catalog.db, "seq", seed=0)
    assert [c.user_id for c in es.cases] == [f"te{r}" for r in range(10)]  # file row order
    c = es.cases[2]
    assert c.history == ("seq:2", "seq:3", "seq:4") and c.target == "seq:9"
    valid = build(seq_catalog.db, "seq", split="valid", seed=0)
    assert valid.cases[2].target == "seq:7"


def test_candidate_file_takes_the_first_19_non_target_ids_in_file_order(log_catalog, tmp_path):
    seqs = _sequences(log_catalog)
    lines = []
    for user in ("5", "2", "nobody", "9"):
        if user == "nobody":
            lines.append("nobody\t1 2 3")
            continue
        target = seqs[user][-1].split(":")[1]
        ids = [str(k) for k in range(1, 61) if f"toy:{k}" != seqs[user][-1]][:25]
        lines.append(f"{user}\t{ids[0]} {target} {' '.join(ids[1:])} 9999")  # target inside, an unknown id at the end
    path = tmp_path / "cands.txt"
    path.write_text("\n".join(lines) + "\n")
    es = build(log_catalog.db, "toy", candidates=path, seed=0)
    assert [c.user_id for c in es.cases] == ["5", "2", "9"]
    for c in es.cases:
        target = seqs[c.user_id][-1]
        expected = [f"toy:{k}" for k in range(1, 61) if f"toy:{k}" != target][:19]
        assert sorted(c.candidates) == sorted([target, *expected])
    assert any("nobody" in n for n in es.notes) and any("dropped" in n for n in es.notes)
    assert build(log_catalog.db, "toy", candidates=path, seed=0, limit_users=2).cases == es.cases[:2]
    # the target's position still moves: the file's order is shuffled with the seed
    assert len({c.target_index for c in build(log_catalog.db, "toy", candidates=path, seed=0).cases}
               | {c.target_index for c in build(log_catalog.db, "toy", candidates=path, seed=1).cases}) > 1


def test_full_protocol_has_no_candidate_lists(log_catalog):
    es = build(log_catalog.db, "toy", "full")
    assert all(c.candidates is None and c.target not in c.seen for c in es.cases)


def test_bad_requests_are_named_errors(log_catalog, tmp_path):
    with pytest.raises(ConfigError):
        build(log_catalog.db, "toy", "leave-one-out")
    with pytest.raises(ConfigError):
        build(log_catalog.db, "toy", limit_users=0)
    with pytest.raises(RecsysError):
        build(log_catalog.db, "nope")
    with pytest.raises(ConfigError):
        build(log_catalog.db, "toy", "full", candidates=tmp_path / "x")


def test_sample_negatives_is_uniform_over_the_rest():
    items = [str(k) for k in range(10)]
    counts = Counter()
    for s in range(2000):
        counts.update(sample_negatives(user_rng(s, "u"), items, {"0", "1"}, 2))
    assert set(counts) == set(items) - {"0", "1"}
    assert max(counts.values()) / min(counts.values()) < 1.25
    with pytest.raises(RecsysError):
        sample_negatives(user_rng(0, "u"), items, set(items[:9]), 2)


def test_validation_and_test_candidates_differ_for_the_same_user(log_catalog):
    test = {c.user_id: c for c in build(log_catalog.db, "toy", split="test", seed=0).cases}
    valid = {c.user_id: c for c in build(log_catalog.db, "toy", split="valid", seed=0).cases}
    shared = set(test) & set(valid)
    negatives = lambda c: set(c.candidates) - {c.target}  # noqa: E731
    assert sum(negatives(test[u]) == negatives(valid[u]) for u in shared) == 0
    assert [test[u].target_index for u in sorted(shared)] != [valid[u].target_index for u in sorted(shared)]


def _file_without_targets(log_catalog, tmp_path, users=("3", "4")):
    seqs = _sequences(log_catalog)
    path = tmp_path / "lists.txt"
    lines = []
    for user in users:
        ids = [str(k) for k in range(1, 61) if f"toy:{k}" != seqs[user][-1]][:19]
        lines.append(f"{user}\t{' '.join(ids)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_list_without_the_target_is_a_miss_unless_injected_and_is_reported(log_catalog, tmp_path):
    path = _file_without_targets(log_catalog, tmp_path)
    missed = build(log_catalog.db, "toy", candidates=path, seed=0)
    assert all(c.target_index == -1 and c.target not in c.candidates for c in missed.cases)
    assert any("2 of 2 users' candidate lists lack their target" in n and "misses" in n for n in missed.notes)
    injected = build(log_catalog.db, "toy", candidates=path, seed=0, missing_target="inject")
    assert all(c.target_index >= 0 for c in injected.cases)
    assert any("lack their target" in n and "inject" in n for n in injected.notes)
    with pytest.raises(ConfigError, match="missing target"):
        build(log_catalog.db, "toy", candidates=path, missing_target="guess")
    with pytest.raises(ConfigError, match="negatives"):
        build(log_catalog.db, "toy", negatives="popular")


def test_repeated_targets_are_kept_and_counted(log_catalog):
    log_catalog.add_interactions([{"dataset": "toy", "user_id": "1", "item_id": item, "timestamp": 1e9 + k,
                                   "rating": 4.0, "split": None}
                                  for k, item in enumerate(["toy:59", "toy:60", "toy:59"])])  # 59 again, last
    for protocol in ("llmrank20", "full"):
        es = build(log_catalog.db, "toy", protocol, seed=0)
        case = next(c for c in es.cases if c.user_id == "1")
        assert case.target == "toy:59" and case.target in case.seen
        assert any("repeat an item of their history" in n for n in es.notes)


def test_windows_of_one_stream_share_a_bootstrap_group(seq_catalog):
    rows = [("seq", "test", 10 + k, f"w{k}", json.dumps(h), t) for k, (h, t) in enumerate(
        [(["seq:1"], "seq:2"), (["seq:1", "seq:2"], "seq:3"), (["seq:2", "seq:3"], "seq:4"), (["seq:30"], "seq:31")])]
    with seq_catalog.db.conn:
        seq_catalog.db.execute("DELETE FROM sequences WHERE split = 'test'")
        seq_catalog.db.conn.executemany("INSERT INTO sequences VALUES (?,?,?,?,?,?)", rows)
    es = build(seq_catalog.db, "seq", seed=0)
    assert es.groups[0] == es.groups[1] == es.groups[2] != es.groups[3]
    assert es.describe()["bootstrap_units"] == 2 and any("from 2 streams" in n for n in es.notes)
