"""Fixtures of the reliability tests: a catalog in a real file, child processes, and the shared ml-100k."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recsys.datasets import shared_data_dir
from reliability.figures import FIGURES

ROOT = Path(__file__).resolve().parents[2]
WORKERS = Path(__file__).with_name("workers.py")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: the project and tests/ importable, quiet tokenizers."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    env["TOKENIZERS_PARALLELISM"] = "false"
    env.update(extra)
    return env


@pytest.fixture
def db_file(catalog) -> Path:
    """The path of a real SQLite file holding the small 10-movie catalog (dataset 'm')."""
    path = Path(catalog.db.execute("PRAGMA database_list").fetchone()[2])
    catalog.db.close()
    return path


@pytest.fixture
def spawn():
    """spawn(args, **env) -> a Popen of `python ARGS` in the project root; all are killed at teardown."""
    procs: list[subprocess.Popen] = []

    def _spawn(args: list[str], **env: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=child_env(**env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield _spawn
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate()


@pytest.fixture
def worker(spawn):
    """worker(kind, db, go, *args) -> a Popen of tests/reliability/workers.py."""
    return lambda *args: spawn([str(WORKERS), *map(str, args)])


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    folder = shared_data_dir() / "ml-100k"
    if not (folder / "u.data").is_file():
        pytest.skip(f"ml-100k is not in {shared_data_dir()} (set RECSYS_SHARED_DATA)")
    return folder


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("reliability figures")
        for key in sorted(FIGURES):
            terminalreporter.write_line(f"{key}: {FIGURES[key]:,}")
