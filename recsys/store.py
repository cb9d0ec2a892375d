"""What people do in the app, kept in SQLite: sessions, like/dislike feedback, relevance labels and blind A/B
judgements, and the summaries a Review page reports (win rate with an interval, precision@K, rater agreement).

Every write is a single upsert in its own transaction keyed by who wrote it, so two raters working at once never
overwrite each other and a reload reads back exactly what was saved. Open a `Store` per thread (it wraps one
connection), like a `Catalog`.
"""
from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import combinations

import sqlite_utils

from .config import ScoringConfig
from .errors import RecsysError

FEEDBACK = ("like", "dislike")
LABELS = ("relevant", "not_relevant", "unsure")
CHOICES = ("x", "y", "tie")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def config_key(config: ScoringConfig, top: int) -> str:
    """A short stable key for a configuration and list length: equal settings give equal keys."""
    payload = json.dumps({"config": config.to_dict(), "top": top}, sort_keys=True)
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()[:12]


class Store:
    """Sessions, feedback and reviews of one database connection."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    # -- sessions and feedback -------------------------------------------------------------------------------
    def save_session(self, session_id: str | None, history: Sequence[str], settings: dict, model: str,
                     user: str = "") -> str:
        """Create a session (session_id None) or record its latest history and settings; returns its id."""
        session_id = session_id or uuid.uuid4().hex
        row = {"id": session_id, "user": user, "history": json.dumps(list(history)),
               "settings": json.dumps(settings, sort_keys=True), "model": model}
        with self.db.conn:  # one statement: two saves of a session at once cannot both insert
            self.db.execute(
                "INSERT INTO sessions (id, created, user, history, settings, model) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET user = excluded.user, history = excluded.history, "
                "settings = excluded.settings, model = excluded.model",
                [session_id, _now(), row["user"], row["history"], row["settings"], row["model"]])
        return session_id

    def session(self, session_id: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM sessions WHERE id = ?", [session_id]))
        return _session(rows[0]) if rows else None

    def sessions(self, limit: int = 50, with_history: bool = True) -> list[dict]:
        """The latest sessions, newest first (those with an empty history left out unless asked for)."""
        sql = "SELECT * FROM sessions"
        if with_history:
            sql += " WHERE history IS NOT NULL AND history != '[]'"
        sql += " ORDER BY created DESC, rowid DESC LIMIT ?"
        return [_session(r) for r in self.db.query(sql, [int(limit)])]

    def add_feedback(self, session_id: str, item_id: str, value: str, settings: dict, model: str,
                     note: str = "") -> str:
        if value not in FEEDBACK:
            raise RecsysError(f"feedback must be one of {', '.join(FEEDBACK)}, not {value!r}")
        feedback_id = uuid.uuid4().hex
        with self.db.conn:
            self.db["feedback"].insert({
                "id": feedback_id, "session_id": session_id, "created": _now(), "item_id": item_id, "value": value,
                "note": note, "settings": json.dumps(settings, sort_keys=True), "model": model,
            })
        return feedback_id

    def feedback(self, session_id: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM feedback", []
        if session_id:
            sql, args = sql + " WHERE session_id = ?", [session_id]
        return [dict(r, settings=json.loads(r["settings"] or "{}"))
                for r in self.db.query(sql + " ORDER BY created, rowid", args)]

    # -- manual evaluation -----------------------------------------------------------------------------------
    def save_list(self, scenario: str, scenario_label: str, history: Sequence[str], config_name: str,
                  config: ScoringConfig, top: int, model: str, items: Sequence[str]) -> str:
        """Remember the ranked list a configuration showed for a scenario; returns the configuration key."""
        key = config_key(config, top)
        with self.db.conn:
            self.db["review_lists"].upsert({
                "scenario": scenario, "config_key": key, "scenario_label": scenario_label,
                "history": json.dumps(list(history)), "config_name": config_name,
                "config": json.dumps({**config.to_dict(), "top": top}, sort_keys=True), "model": model,
                "items": json.dumps(list(items)), "created": _now(),
            }, pk=("scenario", "config_key"))
        return key

    def lists(self, scenario: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM review_lists", []
        if scenario:
            sql, args = sql + " WHERE scenario = ?", [scenario]
        return [dict(r, items=json.loads(r["items"]), history=json.loads(r["history"]),
                     config=json.loads(r["config"])) for r in self.db.query(sql + " ORDER BY rowid", args)]

    def save_label(self, rater: str, scenario: str, item_id: str, label: str | None, note: str = "") -> None:
        """Set (or with label None, clear) a rater's relevance label of an item for a scenario."""
        rater = _rater(rater)
        if label is None:
            with self.db.conn:
                self.db.execute("DELETE FROM review_labels WHERE rater = ? AND scenario = ? AND item_id = ?",
                                [rater, scenario, item_id])
            return
        if label not in LABELS:
            raise RecsysError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
        with self.db.conn:
            self.db.execute(
                "INSERT INTO review_labels (rater, scenario, item_id, label, note, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rater, scenario, item_id) "
                "DO UPDATE SET label = excluded.label, note = excluded.note, updated = excluded.updated",
                [rater, scenario, item_id, label, note, _now(), _now()])

    def save_note(self, rater: str, scenario: str, item_id: str, note: str) -> None:
        """Change the note of an existing label (a note without a label is kept with the label 'unsure')."""
        rater = _rater(rater)
        with self.db.conn:
            self.db.execute(
                "INSERT INTO review_labels (rater, scenario, item_id, label, note, created, updated) "
                "VALUES (?, ?, ?, 'unsure', ?, ?, ?) ON CONFLICT (rater, scenario, item_id) "
                "DO UPDATE SET note = excluded.note, updated = excluded.updated",
                [rater, scenario, item_id, note, _now(), _now()])

    def labels(self, rater: str | None = None, scenario: str | None = None) -> list[dict]:
        where, args = _where(rater=rater, scenario=scenario)
        return list(self.db.query(f"SELECT * FROM review_labels{where} ORDER BY rater, scenario, item_id", args))

    def save_judgement(self, rater: str, scenario: str, x: tuple[str, str], y: tuple[str, str], shown_as_a: str,
                       choice: str | None, note: str = "") -> None:
        """Record which of two configurations (key, name) a rater preferred: 'x', 'y', 'tie', or None to clear.

        The pair is stored in canonical order (x_key < y_key) so that the same comparison made from either side is
        one row; `shown_as_a` says which one the rater saw as list A.
        """
        rater = _rater(rater)
        if x[0] > y[0]:
            x, y = y, x
            shown_as_a = {"x": "y", "y": "x"}[shown_as_a]
            choice = {"x": "y", "y": "x"}.get(choice, choice)
        if choice is None:
            with self.db.conn:
                self.db.execute("DELETE FROM judgements WHERE rater = ? AND scenario = ? AND x_key = ? AND y_key = ?",
                                [rater, scenario, x[0], y[0]])
            return
        if choice not in CHOICES or shown_as_a not in ("x", "y"):
            raise RecsysError(f"a judgement is one of {', '.join(CHOICES)}, not {choice!r}")
        with self.db.conn:
            self.db.execute(
                "INSERT INTO judgements (rater, scenario, x_key, y_key, x_name, y_name, shown_as_a, choice, note, "
                "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (rater, scenario, x_key, y_key) DO UPDATE SET choice = excluded.choice, "
                "note = excluded.note, shown_as_a = excluded.shown_as_a, updated = excluded.updated",
                [rater, scenario, x[0], y[0], x[1], y[1], shown_as_a, choice, note, _now(), _now()])

    def judgements(self, rater: str | None = None, scenario: str | None = None) -> list[dict]:
        where, args = _where(rater=rater, scenario=scenario)
        return list(self.db.query(f"SELECT * FROM judgements{where} ORDER BY rater, scenario", args))


def _session(row: dict) -> dict:
    return dict(row, history=json.loads(row["history"] or "[]"), settings=json.loads(row["settings"] or "{}"))


def _rater(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise RecsysError("enter a rater name first: labels are kept per rater")
    return name[:100]


def _where(**filters) -> tuple[str, list]:
    parts = [(f"{k} = ?", v) for k, v in filters.items() if v]
    if not parts:
        return "", []
    return " WHERE " + " AND ".join(p for p, _ in parts), [v for _, v in parts]


# -- summaries ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WinRate:
    x_name: str
    y_name: str
    x_wins: int
    y_wins: int
    ties: int
    rate: float  # x's win rate, a tie counting half
    low: float  # 95% Wilson interval of the rate
    high: float

    @property
    def n(self) -> int:
        return self.x_wins + self.y_wins + self.ties


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (successes may be fractional: ties count half)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def win_rates(judgements: Iterable[dict]) -> list[WinRate]:
    """One row per compared pair of configurations, over every rater and scenario."""
    pairs: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    names: dict[tuple, tuple[str, str]] = {}
    for j in judgements:
        key = (j["x_key"], j["y_key"])
        names[key] = (j["x_name"], j["y_name"])
        pairs[key][CHOICES.index(j["choice"])] += 1
    out = []
    for key, (xw, yw, ties) in pairs.items():
        n = xw + yw + ties
        low, high = wilson(xw + ties / 2, n)
        out.append(WinRate(*names[key], xw, yw, ties, (xw + ties / 2) / n, low, high))
    return sorted(out, key=lambda w: (w.x_name, w.y_name))


def precision_at_k(lists: Iterable[dict], labels: Iterable[dict], k: int) -> list[dict]:
    """Precision@K per configuration from the raters' labels: of the top-K items a rater labelled relevant or
    not relevant, the share labelled relevant, averaged over (rater, scenario) lists; 'unsure' and unlabelled
    items are left out and counted."""
    by_scenario: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)
    for lab in labels:
        by_scenario[lab["scenario"]][(lab["rater"], lab["item_id"])] = lab["label"]
    per_config: dict[tuple[str, str], list[float]] = defaultdict(list)
    unjudged: dict[tuple[str, str], int] = defaultdict(int)
    for lst in lists:
        key = (lst["config_key"], lst["config_name"])
        scenario_labels = by_scenario.get(lst["scenario"], {})
        for rater in sorted({r for r, _ in scenario_labels}):
            judged = [scenario_labels.get((rater, i)) for i in lst["items"][:k]]
            decided = [lab for lab in judged if lab in ("relevant", "not_relevant")]
            unjudged[key] += len(judged) - len(decided)
            if decided:
                per_config[key].append(sum(lab == "relevant" for lab in decided) / len(decided))
    rows = []
    for (ckey, name), values in per_config.items():
        rows.append({"config": name, "config_key": ckey, "k": k, "precision": sum(values) / len(values),
                     "lists": len(values), "unsure_or_unlabelled": unjudged[(ckey, name)]})
    return sorted(rows, key=lambda r: r["config"])


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two raters' labels of the same things (1: perfect, 0: chance; NaN when undefined)."""
    n = len(a)
    if n == 0:
        return float("nan")
    observed = sum(x == y for x, y in zip(a, b)) / n
    cats = set(a) | set(b)
    expected = sum((list(a).count(c) / n) * (list(b).count(c) / n) for c in cats)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else float("nan")
    return (observed - expected) / (1 - expected)


def agreement(rows: Iterable[dict], item_fields: Sequence[str], value_field: str) -> list[dict]:
    """Pairwise agreement between raters over the things both rated: count, share agreeing, Cohen's kappa."""
    by_rater: dict[str, dict[tuple, str]] = defaultdict(dict)
    for r in rows:
        by_rater[r["rater"]][tuple(r[f] for f in item_fields)] = r[value_field]
    out = []
    for r1, r2 in combinations(sorted(by_rater), 2):
        common = sorted(set(by_rater[r1]) & set(by_rater[r2]))
        if not common:
            continue
        a = [by_rater[r1][c] for c in common]
        b = [by_rater[r2][c] for c in common]
        out.append({"rater_1": r1, "rater_2": r2, "shared": len(common),
                    "agreement": sum(x == y for x, y in zip(a, b)) / len(common), "kappa": cohen_kappa(a, b)})
    return out
