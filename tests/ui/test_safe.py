import pytest

from recsys.errors import ConfigError
from recsys.ui.safe import import_roots, server_path


def test_server_paths_outside_the_import_roots_are_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("RECSYS_IMPORT_ROOTS", raising=False)
    for path in ("/etc/passwd", str(tmp_path / "x.csv"), "../../../etc/shadow"):
        with pytest.raises(ConfigError, match="server paths are limited"):
            server_path(path)
    assert server_path("  ") is None


def test_folders_named_in_the_environment_are_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_IMPORT_ROOTS", str(tmp_path))
    assert tmp_path.resolve() in import_roots()
    assert server_path(str(tmp_path / "sub" / "items.csv")) == str((tmp_path / "sub" / "items.csv").resolve())
    with pytest.raises(ConfigError):
        server_path(str(tmp_path) + "-sibling/items.csv")


def test_csv_exports_cannot_carry_spreadsheet_formulas():
    import pandas as pd

    from recsys.ui.safe import csv_text

    text = csv_text(pd.DataFrame({"title": ["=HYPERLINK(\"x\")", "@SUM(A1)", "Up"], "score": [-1.5, 2.0, 0.1]}))
    assert "'=HYPERLINK" in text and "'@SUM" in text and "\nUp," in text
    assert ",-1.5" in text  # numbers stay numbers
