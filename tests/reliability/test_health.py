"""`python -m recsys health` and `health.check()`: which parts are up, and a non-zero exit when a required one
is down. The database and weight checks run for real; loading the real models is in the slow tests."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from recsys import db as dbmod
from recsys import health
from recsys.cli import main
from reliability.conftest import ROOT, child_env

from reliability.test_db import old_database


def run_cli(capsys, *args) -> tuple[int, dict]:
    code = main(["health", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_database_part(tmp_path, db_file):
    up, detail = health.database(db_file)
    assert up and f"schema v{dbmod.SCHEMA_VERSION}," in detail and "10 items" in detail and "integrity ok" in detail
    old = tmp_path / "old.db"
    old_database(old, 2)
    up, detail = health.database(old)
    assert up and f"schema v2 (migrated to v{dbmod.SCHEMA_VERSION} when opened)" in detail
    assert dbmod.schema_version(dbmod.connect(old)) == dbmod.SCHEMA_VERSION  # and it was left for connect()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    up, detail = health.database(junk)
    assert not up and "cannot be read as an SQLite database" in detail
    assert junk.read_bytes() == b"not a database at all" * 100
    assert health.database(tmp_path / "missing.db") == (False, f"{tmp_path / 'missing.db'} does not exist")
    assert not health.database(tmp_path)[0]


def test_checking_does_not_write(db_file):
    before = db_file.read_bytes()
    health.check(db_file, load=False, browser=False)
    assert db_file.read_bytes() == before


def test_weights_without_loading(tmp_path):
    assert health._weights("all-minilm-l6-v2", "st")[0]
    assert health._weights("smollm2-135m", "lm")[0]
    up, detail = health._weights(str(tmp_path / "nowhere"), "lm")
    assert not up and "not a local folder" in detail
    up, detail = health._weights("someorg/not-downloaded", "lm")
    assert not up and "would need the network" in detail
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{oops", encoding="utf-8")
    up, detail = health._weights(str(broken), "st")
    assert not up and "not valid JSON" in detail


def test_command_exit_codes(capsys, db_file, tmp_path):
    code, report = run_cli(capsys, "--no-load", "--db", str(db_file))
    assert code == 0 and report["ok"]
    assert [p["name"] for p in report["parts"]] == ["database", "language model", "embedding model", "chromium"]
    assert all(p["up"] for p in report["parts"][:3])
    junk = tmp_path / "junk.db"
    junk.write_text("hello")
    code, report = run_cli(capsys, "--no-load", "--db", str(junk), "--model", str(tmp_path / "nowhere"))
    assert code == 1 and not report["ok"]
    down = {p["name"] for p in report["parts"] if not p["up"]}
    assert {"database", "language model"} <= down


def test_chromium_is_optional(capsys, db_file, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    result = health.check(db_file, load=False)
    chromium = result.part("chromium")
    assert not chromium.up and not chromium.required and "PNG export is off" in chromium.detail
    assert result.ok
    assert result.lines()[-1] == "all required parts are up"


def test_a_probe_that_raises_is_reported_not_raised(monkeypatch, db_file):
    def boom(*a, **k):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(health, "language_model", boom)
    result = health.check(db_file, load=False, browser=False)
    part = result.part("language model")
    assert not part.up and part.detail == "RuntimeError: CUDA out of memory" and not result.ok
    assert "a required part is down: language model" in result.lines()[-1]


@pytest.mark.slow
def test_real_models_load_and_score(db_file, real_models):
    result = health.check(db_file, models=real_models, browser=False)
    assert result.ok, result.lines()
    again = health.check(db_file, models=real_models, browser=False)
    assert "already loaded in this process" in again.part("language model").detail
    assert "already loaded in this process" in again.part("embedding model").detail


@pytest.mark.slow
def test_unknown_model_names_through_the_command(db_file, tmp_path):
    """A name that is neither embedded nor a folder is a hub id: offline it is a clear 'down', exit 1."""
    out = subprocess.run([sys.executable, "-m", "recsys", "health", "--db", str(db_file), "--model", "no-such-model",
                          "--embedder", "no-such-embedder", "--json"], cwd=ROOT, capture_output=True, text=True,
                         env=child_env(HF_HUB_OFFLINE="1"), timeout=300)
    assert out.returncode == 1, out.stderr[-2000:]
    parts = {p["name"]: p for p in json.loads(out.stdout)["parts"]}
    assert parts["database"]["up"]
    assert "could not load language model 'no-such-model'" in parts["language model"]["detail"]
    assert "could not load embedding model 'no-such-embedder'" in parts["embedding model"]["detail"]
