"""The catalog: items, datasets and interactions in SQLite, and the embedded demo catalogs.

Item ids are unique within a database; importers namespace them by dataset (``ml-100k:50``) and keep the
original id in ``source_id``.
"""
from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from . import db as dbmod
from .config import CATALOG_DIR, DEFAULT_DB
from .errors import RecsysError, UnknownItemsError
from .text import normalize

MAX_TITLE_CHARS = 500
MAX_DESCRIPTION_CHARS = 2000


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    dataset: str = ""
    domain: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    creator: str = ""
    year: int | None = None
    popularity: float = 0.0
    source_id: str = ""

    def lm_text(self, fields: str = "title") -> str:
        """The text a model reads: the title, optionally with creator, tags and description ("title+tags")."""
        text = f"{self.title} by {self.creator}" if "creator" in fields and self.creator else self.title
        if "tags" in fields and self.tags:
            text += f" ({', '.join(self.tags)})"
        if "description" in fields and self.description:
            text += f". {self.description}"
        return text

    def to_row(self) -> dict:
        row = asdict(self)
        row["tags"] = ", ".join(self.tags)
        return row

    @classmethod
    def from_row(cls, row: dict) -> "Item":
        tags = tuple(t.strip() for t in (row.get("tags") or "").split(",") if t.strip())
        return cls(
            id=row["id"], title=row["title"] or "", dataset=row.get("dataset") or "", domain=row.get("domain") or "",
            description=row.get("description") or "", tags=tags, creator=row.get("creator") or "",
            year=row.get("year"), popularity=float(row.get("popularity") or 0.0), source_id=row.get("source_id") or "",
        )


def make_item(raw: dict, dataset: str, domain: str) -> Item:
    """Build a clean Item from loosely typed input (demo files, importers, uploads)."""
    pop = raw.get("popularity") or 0
    try:
        pop = float(pop)
    except (TypeError, ValueError):
        pop = 0.0
    if not math.isfinite(pop) or pop < 0:
        pop = 0.0
    tags = raw.get("tags") or ()
    if isinstance(tags, str):
        tags = tags.replace("|", ",").split(",")
    year = raw.get("year")
    try:
        year = int(year) if year not in (None, "") else None
    except (TypeError, ValueError):
        year = None
    return Item(
        id=str(raw["id"]),
        title=normalize(raw.get("title"))[:MAX_TITLE_CHARS],
        dataset=dataset,
        domain=domain,
        description=normalize(raw.get("description"))[:MAX_DESCRIPTION_CHARS],
        tags=tuple(normalize(t) for t in tags if normalize(t)),
        creator=normalize(raw.get("creator")),
        year=year,
        popularity=pop,
        source_id=str(raw.get("source_id") or raw["id"]),
    )


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    domain: str
    source: str = ""
    items: int = 0
    interactions: int = 0
    sequences: int = 0
    counts: dict = field(default_factory=dict)


class Catalog:
    """Items and interactions of one SQLite database. Create one per thread (connections are not shared)."""

    def __init__(self, db: sqlite_utils.Database | str | Path | None = None):
        if db is None or isinstance(db, (str, Path)):
            db = dbmod.connect(db or DEFAULT_DB)
        self.db = db

    # -- datasets -------------------------------------------------------------------------------------------
    def add_dataset(self, name: str, domain: str, source: str = "", counts: dict | None = None) -> None:
        self.db["datasets"].upsert(
            {"name": name, "domain": domain, "source": source, "counts": json.dumps(counts or {}),
             "created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
            pk="name",
        )

    def datasets(self) -> list[DatasetInfo]:
        out = []
        for row in self.db.query("SELECT * FROM datasets ORDER BY name"):
            n = row["name"]
            out.append(DatasetInfo(
                name=n, domain=row["domain"] or "", source=row["source"] or "",
                items=self.count("items", n), interactions=self.count("interactions", n),
                sequences=self.count("sequences", n), counts=json.loads(row["counts"] or "{}"),
            ))
        return out

    def dataset(self, name: str) -> DatasetInfo:
        for info in self.datasets():
            if info.name == name:
                return info
        known = ", ".join(d.name for d in self.datasets()) or "none"
        raise RecsysError(f"unknown dataset {name!r}; this database has: {known}")

    def count(self, table: str, dataset: str) -> int:
        """Rows of a dataset in items, interactions or sequences."""
        return self.db.execute(f"SELECT count(*) FROM {table} WHERE dataset = ?", [dataset]).fetchone()[0]

    # -- items ----------------------------------------------------------------------------------------------
    def add_items(self, items: Iterable[Item]) -> int:
        rows = [i.to_row() for i in items]
        self.db["items"].upsert_all(rows, pk="id", batch_size=1000)
        return len(rows)

    def get_items(self, ids: Sequence[str]) -> dict[str, Item]:
        """Items by id (missing ids are simply absent)."""
        out: dict[str, Item] = {}
        ids = list(dict.fromkeys(ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"SELECT * FROM items WHERE id IN ({marks})", chunk):
                out[row["id"]] = Item.from_row(row)
        return out

    def require(self, ids: Sequence[str]) -> list[Item]:
        """Items in the order given; UnknownItemsError names every id that is not in the catalog."""
        found = self.get_items(ids)
        missing = [i for i in dict.fromkeys(ids) if i not in found]
        if missing:
            raise UnknownItemsError(missing)
        return [found[i] for i in ids]

    def fingerprint(self, dataset: str) -> tuple:
        """Changes whenever a dataset's items are added, removed or re-titled: keys in-memory indexes."""
        row = self.db.execute(
            "SELECT count(*), total(length(title) + length(coalesce(creator, '')) + length(coalesce(description, '')))"
            " FROM items WHERE dataset = ?", [dataset]).fetchone()
        path = self.db.execute("PRAGMA database_list").fetchone()[2]
        return (path or f"memory:{id(self.db)}", dataset, *row)

    def dataset_items(self, dataset: str) -> list[Item]:
        return [Item.from_row(r) for r in self.db.query("SELECT * FROM items WHERE dataset = ? ORDER BY rowid", [dataset])]

    def dataset_ids(self, dataset: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM items WHERE dataset = ? ORDER BY rowid", [dataset])]

    def search(self, query: str, dataset: str | None = None, limit: int = 50) -> list[Item]:
        """Items whose title, creator or tags contain the query (case-insensitive), most popular first."""
        escaped = query.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        sql = "SELECT * FROM items WHERE (title LIKE ? ESCAPE '\\' OR creator LIKE ? ESCAPE '\\' OR tags LIKE ? ESCAPE '\\')"
        args: list = [like, like, like]
        if dataset:
            sql += " AND dataset = ?"
            args.append(dataset)
        sql += " ORDER BY popularity DESC, title LIMIT ?"
        args.append(int(limit))
        return [Item.from_row(r) for r in self.db.query(sql, args)]

    def top_popular(self, dataset: str, n: int, exclude: Iterable[str] = ()) -> list[str]:
        exclude = set(exclude)
        rows = self.db.execute(
            "SELECT id FROM items WHERE dataset = ? ORDER BY popularity DESC, id LIMIT ?", [dataset, n + len(exclude)]
        )
        return [r[0] for r in rows if r[0] not in exclude][:n]

    def popularity_total(self, dataset: str) -> tuple[float, int]:
        """(sum of popularity, number of items) of a dataset: the smoothing denominator of the prior."""
        total, n = self.db.execute(
            "SELECT coalesce(sum(popularity), 0), count(*) FROM items WHERE dataset = ?", [dataset]
        ).fetchone()
        return float(total), int(n)

    # -- interactions ---------------------------------------------------------------------------------------
    def add_interactions(self, rows: Iterable[dict]) -> int:
        rows = list(rows)
        self.db["interactions"].insert_all(rows, batch_size=5000)
        return len(rows)

    def summary(self) -> dict:
        return {
            "datasets": [asdict(d) for d in self.datasets()],
            "items": self.db["items"].count,
            "interactions": self.db["interactions"].count,
            "cached_pair_scores": self.db["pair_scores"].count,
            "embeddings": self.db["embeddings"].count,
            "schema_version": dbmod.schema_version(self.db),
        }


# -- the embedded demo catalogs ---------------------------------------------------------------------------------
_build_lock = threading.Lock()


def load_demo_catalogs(catalog: Catalog, directory: Path = CATALOG_DIR) -> list[str]:
    """Load every ``<domain>.jsonl`` in ``directory`` as a dataset named after the domain, in one transaction."""
    names = []
    with catalog.db.conn:
        for path in sorted(Path(directory).glob("*.jsonl")):
            name = path.stem
            items = []
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        items.append(make_item(json.loads(line), dataset=name, domain=name))
                    except (ValueError, KeyError) as e:
                        raise RecsysError(f"{path}, line {lineno}: {e}") from e
            catalog.add_items(items)
            catalog.add_dataset(name, domain=name, source=f"embedded demo catalog {path.name}",
                                counts={"items": len(items)})
            names.append(name)
    return names


def example_histories(domain: str, directory: Path = CATALOG_DIR) -> list[dict]:
    """Named example histories of a demo domain: [{"name", "description", "history": [ids]}]."""
    path = Path(directory) / "examples" / f"{domain}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def open_catalog(path: str | Path | None = None) -> Catalog:
    """Open a database; the default one is built from the embedded demo catalogs on first use."""
    path = Path(path or DEFAULT_DB)
    catalog = Catalog(dbmod.connect(path))
    if path.resolve() == Path(DEFAULT_DB).resolve():
        with _build_lock:
            loaded = catalog.db.execute(
                "SELECT count(*) FROM datasets WHERE source LIKE 'embedded demo catalog%'").fetchone()[0]
            if not loaded:
                load_demo_catalogs(catalog)
    return catalog
