"""Fixtures of the app tests: a copy of the test database per test, or one shared by the tests that load real
models (its pair cache turns later requests into lookups); $RECSYS_DB points the app at it."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from tests.ui.app_helpers import build_app_db

# the app's background ℓ(y|∅) scoring would race the requests whose scored pairs these tests count;
# tests/ui/test_neutral.py runs it on its own
os.environ.setdefault("RECSYS_PRECOMPUTE_NEUTRAL", "0")


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    return build_app_db(tmp_path_factory.mktemp("appdb") / "template.db")


@pytest.fixture
def app_db(template_db, tmp_path, monkeypatch) -> Path:
    """A fresh copy per test (its sessions and labels are its own)."""
    path = tmp_path / "app.db"
    shutil.copy(template_db, path)
    monkeypatch.setenv("RECSYS_DB", str(path))
    return path


@pytest.fixture(scope="session")
def shared_db(tmp_path_factory) -> Path:
    return build_app_db(tmp_path_factory.mktemp("shareddb") / "shared.db")


@pytest.fixture
def model_db(shared_db, monkeypatch) -> Path:
    """The database of the tests that load real models, shared so that its caches fill once."""
    monkeypatch.setenv("RECSYS_DB", str(shared_db))
    return shared_db
