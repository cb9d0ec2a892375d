"""`python -m recsys health`: which parts are up — the database, the language model, the embedding model, and
Chromium for chart exports — so an operator (or the app) knows what works before a walkthrough.

`check()` is the library call the app can make: with `load=False` it only looks (the file opens read-only, the
weights are on disk) and takes milliseconds; with `load=True` it loads each model (or finds it already loaded in
the given `Models`) and scores one tiny input. The command exits 1 when a required part is down.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import db as dbmod
from .config import DEFAULT_DB, DEFAULT_EMBEDDER, DEFAULT_LM
from .errors import ModelLoadError, RecsysError

DATABASE, LANGUAGE_MODEL, EMBEDDING_MODEL, CHROMIUM = "database", "language model", "embedding model", "chromium"
REQUIRED = (DATABASE, LANGUAGE_MODEL, EMBEDDING_MODEL)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


@dataclass(frozen=True)
class Part:
    name: str
    up: bool
    required: bool
    detail: str
    seconds: float = 0.0


@dataclass(frozen=True)
class Health:
    parts: tuple[Part, ...]

    @property
    def ok(self) -> bool:
        """Every required part is up."""
        return all(p.up for p in self.parts if p.required)

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "parts": [asdict(p) for p in self.parts]}

    def lines(self) -> list[str]:
        out = []
        for p in self.parts:
            state = "up" if p.up else ("DOWN" if p.required else "missing (optional)")
            out.append(f"{p.name:<16} {state:<20} {p.detail}")
        out.append("all required parts are up" if self.ok else
                   "a required part is down: " + ", ".join(p.name for p in self.parts if p.required and not p.up))
        return out


def _timed(name: str, required: bool, probe) -> Part:
    start = time.perf_counter()
    try:
        up, detail = probe()
    except RecsysError as e:
        up, detail = False, str(e)
    except Exception as e:  # a health check reports every failure instead of raising it
        up, detail = False, f"{type(e).__name__}: {e}"
    if len(detail) > 300:
        detail = detail[:299] + "…"
    return Part(name, up, required, detail, round(time.perf_counter() - start, 3))


# -- the parts ----------------------------------------------------------------------------------------------
def database(path: str | Path | None = None) -> tuple[bool, str]:
    """Opens read-only, passes SQLite's quick check, has a schema this version can migrate, and can be written."""
    path = Path(path or DEFAULT_DB)
    if not path.exists():
        if path.resolve() == Path(DEFAULT_DB).resolve() and os.access(path.parent, os.W_OK):
            return True, f"{path} not created yet: built from the embedded demo catalogs on first start"
        return False, f"{path} does not exist"
    if path.is_dir():
        return False, f"{path} is a folder, not a database file"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = 0
            if "meta" in tables:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
            items = conn.execute("SELECT count(*) FROM items").fetchone()[0] if "items" in tables else 0
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return False, f"{path} cannot be read as an SQLite database ({e})"
    if check != "ok":
        return False, f"{path} is damaged: {check}"
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        return False, f"{path} is read-only: feedback and reviews could not be saved"
    if version > dbmod.SCHEMA_VERSION:
        return True, (f"schema v{version} is newer than this version's v{dbmod.SCHEMA_VERSION} (opened as is); "
                      f"{items:,} items")
    migrate = "" if version == dbmod.SCHEMA_VERSION else f" (migrated to v{dbmod.SCHEMA_VERSION} when opened)"
    return True, f"schema v{version}{migrate}, {items:,} items, integrity ok"


def _loaded(models, attr: str, name: str) -> bool:
    return models is not None and name in getattr(models, attr, {})


def language_model(name: str = DEFAULT_LM, models=None, load: bool = True) -> tuple[bool, str]:
    from .models import pick_device

    from .recommend import Models

    if not load:
        up, detail = _weights(name, "lm")
        return up, f"{detail}; would run in {(models or Models()).lm_precision(name).describe()}"

    already = _loaded(models, "_backends", name)
    models = models or Models()
    start = time.perf_counter()
    backend = models.lm(name)
    loaded_in = time.perf_counter() - start
    values, _ = backend.score('Someone who enjoyed the movie "Up" will also enjoy the movie "', ['Cars"'])
    if not all(v == v and v < 0 for v in values):
        return False, f"{name} loaded but gave an invalid score {values!r}"
    how = "already loaded in this process" if already else f"loaded in {loaded_in:.1f} s"
    where = getattr(backend, "device", None) or pick_device(models.device)
    precision = getattr(backend, "precision", None)
    in_ = f" in {precision.describe()}" if precision is not None else ""
    return True, f"{name} {how} on {where}{in_}, scores"


def embedding_model(name: str = DEFAULT_EMBEDDER, models=None, load: bool = True) -> tuple[bool, str]:
    from .recommend import Models

    if not load:
        up, detail = _weights(name, "st")
        return up, f"{detail}; would run in {(models or Models()).embedder_precision(name).describe()}"

    emb = (models or Models()).embedder(name)
    already = emb._encoder is not None
    start = time.perf_counter()
    vec = emb.encode(["health check"])
    how = "already loaded in this process" if already else f"loaded in {time.perf_counter() - start:.1f} s"
    in_ = f" in {emb.precision.describe()}" if emb.precision is not None else ""
    return True, f"{name} {how}{in_}, {vec.shape[1]}-dimensional vectors"


def _weights(name: str, kind: str) -> tuple[bool, str]:
    """Without loading: is the model's folder there (embedded package, local folder or dequantised cache)?"""
    from . import models as M

    try:
        spec = M.resolve(name)
    except ModelLoadError as e:
        return False, str(e)
    if kind == "lm" and spec.gguf_file and (M._dequantised_dir(spec) / "config.json").exists():
        return True, f"{spec.name}: dequantised weights cached in {M._dequantised_dir(spec)} (loads in seconds)"
    path = Path(spec.path)
    if not path.exists():
        return False, f"{spec.name}: no local folder {spec.path} (would need the network)"
    if spec.gguf_file:
        if not (path / spec.gguf_file).exists():
            return False, f"{spec.name}: {spec.gguf_file} missing in {path}"
        return True, f"{spec.name}: GGUF weights present (the first load dequantises them, ~30 s)"
    if not (path / "config.json").exists():
        return False, f"{spec.name}: {path} has no config.json"
    try:
        json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        return False, f"{spec.name}: {path / 'config.json'} is not valid JSON ({e})"
    return True, f"{spec.name}: weights present in {path} (not loaded)"


def chromium() -> tuple[bool, str]:
    """A Chromium kaleido can drive for PNG export ($BROWSER_PATH, else one on PATH)."""
    candidates = [os.environ.get("BROWSER_PATH", "")] + [shutil.which(b) or "" for b in BROWSERS]
    exe = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    if exe is None:
        return False, "no chromium on PATH: chart PNG export is off (HTML export still works; `make browser`)"
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{exe} does not start ({e})"
    version = (out.stdout or out.stderr).strip().splitlines()[:1]
    if out.returncode != 0:
        return False, f"{exe} --version failed: {version[0] if version else out.returncode}"
    return True, f"{exe}: {version[0] if version else 'version unknown'}"


def check(db_path: str | Path | None = None, *, models=None, lm: str = DEFAULT_LM,
          embedder: str = DEFAULT_EMBEDDER, load: bool = True, browser: bool = True) -> Health:
    """Probe every part; never raises. Pass the app's `Models` to reuse (and report) what it already loaded."""
    parts = [
        _timed(DATABASE, True, lambda: database(db_path)),
        _timed(LANGUAGE_MODEL, True, lambda: language_model(lm, models, load)),
        _timed(EMBEDDING_MODEL, True, lambda: embedding_model(embedder, models, load)),
    ]
    if browser:
        parts.append(_timed(CHROMIUM, False, chromium))
    return Health(tuple(parts))


# -- the command --------------------------------------------------------------------------------------------
def register(sub) -> None:
    from .commands.recommend import add_precision_option

    p = sub.add_parser("health", help="report which parts are up (database, models, chromium); exit 1 if one is down",
                       description="Check the database (opens, integrity, schema version, writable), the language "
                                   "model and the embedding model (load and score one input, or with --no-load only "
                                   "check their weights are on disk) and Chromium for PNG export (optional). Exits 1 "
                                   "when a required part is down.")
    p.add_argument("--db", default=None, help=f"SQLite database (default {DEFAULT_DB})")
    p.add_argument("--model", default=DEFAULT_LM, help="language model to check (default %(default)s)")
    p.add_argument("--embedder", default=DEFAULT_EMBEDDER, help="embedding model to check (default %(default)s)")
    p.add_argument("--no-load", action="store_true", help="only check that weights are present (fast)")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    add_precision_option(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from .recommend import Models

    health = check(args.db, models=Models(device=args.device, precision=args.precision), lm=args.model,
                   embedder=args.embedder,
                   load=not args.no_load)
    print(json.dumps(health.to_dict(), indent=2) if args.json else "\n".join(health.lines()))
    return 0 if health.ok else 1
