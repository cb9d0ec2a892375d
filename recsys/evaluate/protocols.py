"""Evaluation protocols: which users, which histories, which target, which candidates (docs/results.md).

- `llmrank20` (Hou et al.): leave-one-out; candidates are the target plus 19 negatives, or the first 19 non-target
  ids of the user's line in a candidate file. Negatives (`negatives`): `llmrank` (the default, comparable with the
  published figures) draws them uniformly from all the dataset's items but the target, so an item of the user's
  history can be a negative; `unseen` draws them from the items outside the user's sequence. The target's position
  among the candidates is drawn too, so no method gains from position.
  A candidate list that lacks the user's target (`missing_target`): `miss` (the default) ranks the list as given
  and the user counts as a miss; `inject` puts the target in, as LLMRank's own files expect. Either way the report
  says how many users it concerns.
- `full`: every catalog item the user has not met yet is a candidate (`candidates` is None), and the target
  itself where it repeats an earlier item (LLMRank keeps such users; the report counts them); methods that re-rank
  do so over a retrieved pool (see `methods.py`), and a target outside it is a miss.

Samples come from `recsys.datasets.eval_samples`: for sequential files the test row's `item_id_list` and `item_id`;
for logs the user's interactions by time, the last one the target. The history given to methods is the last
`max_history` (50) items; `seen` holds every item before the target, which negatives and `full` rankings avoid.
Random draws use one generator per user seeded by (seed, split, user id), so a user's candidates do not depend on
which other users are evaluated or in which order, and the validation candidates (tuning) are not the test ones.
Samples of one stream (lastfm's windows) share a `group`, the unit the bootstrap resamples.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlite_utils

from ..datasets import eval_samples
from ..datasets.common import read_lines
from ..errors import ConfigError, ImportFormatError, RecsysError

PROTOCOLS = ("llmrank20", "full")
NEGATIVES = ("llmrank", "unseen")
MISSING_TARGET = ("miss", "inject")
EVAL_HISTORY = 50  # history items kept per user (the LM scorer uses the most recent `max_history` of them)


@dataclass(frozen=True)
class Case:
    """One user's test: history (oldest first), the held-out target, and the candidates to rank."""

    user_id: str
    history: tuple[str, ...]
    target: str
    candidates: tuple[str, ...] | None  # None: the whole catalog minus `seen`, plus the target (protocol `full`)
    seen: frozenset[str] = field(default_factory=frozenset)  # every item before the target
    group: str = ""  # the bootstrap unit: the user, or the stream the sample is a window of

    @property
    def target_index(self) -> int:
        """The target's position among the candidates; -1 where a candidate list lacks it (a miss)."""
        if self.candidates is None or self.target not in self.candidates:
            return -1
        return self.candidates.index(self.target)


@dataclass(frozen=True)
class EvalSet:
    dataset: str
    protocol: str
    split: str
    cases: tuple[Case, ...]
    candidate_source: str  # "sampled" or the candidate file / set
    seed: int
    notes: tuple[str, ...] = ()
    negatives: str = "llmrank"
    missing_target: str = "miss"

    @property
    def groups(self) -> list[str]:
        return [c.group or c.user_id for c in self.cases]

    def describe(self) -> dict:
        return {"protocol": self.protocol, "dataset": self.dataset, "split": self.split, "seed": self.seed,
                "candidates": self.candidate_source, "negatives": self.negatives,
                "missing_target": self.missing_target, "users": len(self.cases),
                "bootstrap_units": len(set(self.groups)), "history_items": EVAL_HISTORY}


def user_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator that depends only on the seed and the keys (split, user: stable across runs, orders, subsets)."""
    digest = hashlib.sha256("\x00".join([str(seed), *keys]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _natural(user_id: str) -> tuple:
    """User order: numeric ids by value ("2" before "10"), then the others by text."""
    return (0, int(user_id), "") if user_id.isdigit() else (1, 0, user_id)


def samples(db: sqlite_utils.Database, dataset: str, split: str = "test") -> list:
    """The split's samples (whole sequences before the target) in user order: file row order for sequential
    files, natural user-id order for logs."""
    rows = list(eval_samples(db, dataset, split, max_history=None))
    sequential = db.execute("SELECT 1 FROM sequences WHERE dataset = ? LIMIT 1", [dataset]).fetchone()
    return rows if sequential else sorted(rows, key=lambda r: _natural(r.user_id))


def sample_negatives(rng: np.random.Generator, items: list[str], exclude: set[str], n: int) -> list[str]:
    """n distinct items drawn uniformly from `items` minus `exclude` (rejection sampling, then exhaustive)."""
    left = len(items) - len(exclude & set(items))
    if left < n:
        raise RecsysError(f"only {left} items are left to draw {n} negatives from")
    chosen: list[str] = []
    taken = set(exclude)
    for _ in range(50 * n):
        item = items[int(rng.integers(len(items)))]
        if item not in taken:
            chosen.append(item)
            taken.add(item)
            if len(chosen) == n:
                return chosen
    rest = [i for i in items if i not in taken]  # a user who has met nearly the whole catalog
    picks = rng.choice(len(rest), size=n - len(chosen), replace=False)
    return chosen + [rest[k] for k in picks]


def read_candidate_file(db: sqlite_utils.Database, dataset: str, path: str | Path,
                        item2index: str | Path | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """An LLMRank candidate file (`user_id<TAB>space-separated ids`) -> ({user: namespaced ids}, notes).

    Ids are the dataset's original ids (`source_id`), already namespaced ids, or, with `item2index`, UniSRec
    indices. Users keep the file's order; ids that are not in the dataset are dropped and counted.
    """
    path = Path(path)
    resolve = dict(db.execute("SELECT source_id, id FROM items WHERE dataset = ?", [dataset]).fetchall())
    if item2index:
        from ..datasets.common import ImportReport
        from ..datasets.recbole import read_item2index

        index = read_item2index(Path(item2index), ImportReport(dataset, "candidates"), "utf-8", 0)
        resolve = {i: resolve[o] for i, o in index.items() if o in resolve}
    known = set(resolve.values())
    out: dict[str, list[str]] = {}
    unknown = duplicates = 0
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        if "\t" not in line:
            raise ImportFormatError(path, lineno, "expected user_id<TAB>space-separated item ids")
        user, ids = line.split("\t", 1)
        user = user.strip()
        if user in out:
            duplicates += 1
            continue
        items = []
        for token in ids.split():
            item = resolve.get(token) or (token if token in known else None)
            if item is None:
                unknown += 1
            elif item not in items:
                items.append(item)
        out[user] = items
    notes = []
    if unknown:
        notes.append(f"{unknown} candidate id(s) in {path.name} are not in {dataset!r} and were dropped")
    if duplicates:
        notes.append(f"{duplicates} repeated user line(s) in {path.name} ignored (first kept)")
    if not out:
        raise RecsysError(f"{path}: no candidate lists found")
    return out, notes


def build(db: sqlite_utils.Database, dataset: str, protocol: str = "llmrank20", *, seed: int = 0,
          split: str = "test", candidates: str | Path | None = None, candidate_set: str | None = None,
          item2index: str | Path | None = None, limit_users: int | None = None, n_negatives: int = 19,
          sample_users: int | None = None, users: Iterable[str] | None = None, negatives: str = "llmrank",
          missing_target: str = "miss") -> EvalSet:
    """The users, histories, targets and candidates of one evaluation.

    `candidates` (a file) or `candidate_set` (imported with `python -m recsys import candidates`) fix the
    negatives and the user order; `limit_users` keeps the first N users in that order; `sample_users` keeps
    N users drawn with the seed (still in that order: for files whose consecutive rows are windows of one
    stream, as lastfm's, a sample spans many more listeners than the first N rows); `users` keeps only the
    named ones.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    if negatives not in NEGATIVES:
        raise ConfigError(f"negatives must be one of {', '.join(NEGATIVES)}, not {negatives!r}")
    if missing_target not in MISSING_TARGET:
        raise ConfigError(f"missing target must be one of {', '.join(MISSING_TARGET)}, not {missing_target!r}")
    if limit_users is not None and limit_users < 1:
        raise ConfigError("--limit-users must be at least 1")
    if sample_users is not None and sample_users < 1:
        raise ConfigError("--sample-users must be at least 1")
    if candidates and candidate_set:
        raise ConfigError("give a candidate file or an imported candidate set, not both")
    if (candidates or candidate_set) and protocol != "llmrank20":
        raise ConfigError("candidate lists belong to the llmrank20 protocol; 'full' ranks the whole catalog")
    rows = samples(db, dataset, split)
    if not rows:
        raise RecsysError(f"dataset {dataset!r} has no evaluation samples in split {split!r}")
    notes: list[str] = []
    lists: dict[str, list[str]] | None = None
    source = "sampled" if protocol == "llmrank20" else "whole catalog"
    if candidates:
        lists, more = read_candidate_file(db, dataset, candidates, item2index)
        notes += more
        source = f"file {Path(candidates).name}"
    elif candidate_set:
        from ..datasets import candidate_lists

        lists = candidate_lists(db, dataset, candidate_set)
        source = f"imported set {candidate_set!r}"
    if lists is not None:
        by_user = {r.user_id: r for r in rows}
        missing = [u for u in lists if u not in by_user]
        if missing:
            notes.append(f"{len(missing)} user(s) of the candidate lists have no {split} sample in {dataset!r} "
                         f"(e.g. {missing[0]!r}) and were skipped")
        rows = [by_user[u] for u in lists if u in by_user]
    if users is not None:
        wanted = list(dict.fromkeys(users))
        by_user = {r.user_id: r for r in rows}
        rows = [by_user[u] for u in wanted if u in by_user]
    if sample_users and sample_users < len(rows):
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=sample_users, replace=False))
        rows = [rows[k] for k in keep]
    if limit_users:
        rows = rows[:limit_users]
    items = [r[0] for r in db.execute("SELECT id FROM items WHERE dataset = ? ORDER BY rowid", [dataset])]
    cases = []
    short = lacking = 0
    for row in rows:
        user, sequence, target = row.user_id, row.history, row.target
        seen = frozenset(sequence)
        history = tuple(sequence[-EVAL_HISTORY:])
        group = row.stream or user
        if protocol == "full":
            cases.append(Case(user, history, target, None, seen, group))
            continue
        rng = user_rng(seed, split, user)
        if lists is not None:
            listed = lists[user]
            if target in listed or missing_target == "inject":
                pool = [target, *[i for i in listed if i != target][:n_negatives]]
                lacking += target not in listed
            else:
                pool = listed[:n_negatives + 1]
                lacking += 1
            short += len(pool) < n_negatives + 1
        else:
            exclude = {target} | (set(seen) if negatives == "unseen" else set())
            pool = [target, *sample_negatives(rng, items, exclude, n_negatives)]
        order = rng.permutation(len(pool))
        cases.append(Case(user, history, target, tuple(pool[k] for k in order), seen, group))
    if short:
        notes.append(f"{short} user(s) have fewer than {n_negatives + 1} candidates in the candidate lists")
    if lacking:
        what = ("the target was put in (--missing-target inject)" if missing_target == "inject" else
                "they count as misses (--missing-target miss)")
        notes.append(f"{lacking} of {len(cases)} users' candidate lists lack their target: {what}")
    repeats = sum(c.target in c.seen for c in cases)
    if repeats:
        notes.append(f"{repeats} of {len(cases)} users' targets repeat an item of their history; they are kept, as "
                     "LLMRank keeps them (under 'full' the target stays among the candidates)")
    if protocol == "llmrank20" and lists is None:
        notes.append("negatives drawn uniformly from all items but the target (LLMRank's sampling)" if
                     negatives == "llmrank" else "negatives drawn from the items outside each user's sequence")
    groups = {c.group for c in cases}
    if len(groups) < len(cases):
        notes.append(f"{len(cases)} samples come from {len(groups)} streams (consecutive windows of one stream "
                     "are not independent): the bootstrap resamples streams")
    return EvalSet(dataset=dataset, protocol=protocol, split=split, cases=tuple(cases), candidate_source=source,
                   seed=seed, notes=tuple(notes), negatives=negatives, missing_target=missing_target)
