"""`python -m recsys import …`: each format parses, imports and prints its report; errors become messages."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from recsys.datasets import cli
from recsys.db import connect
from recsys.errors import RecsysError

ROOT = Path(__file__).resolve().parents[2]


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="recsys")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_movielens_and_candidates(tmp_path, ml100k_dir, write, capsys):
    dbp = str(tmp_path / "x.db")
    assert run(["import", "movielens", str(ml100k_dir), "--db", dbp, "--dataset", "ml", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "items 4  users 3  interactions 6" in out
    cands = write("c.txt", "1\t2 1\n")
    assert run(["import", "candidates", str(cands), "--db", dbp, "--dataset", "ml", "--name", "c", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["candidates"] == 1


def test_recbole_csv_jsonl(tmp_path, write, capsys):
    dbp = str(tmp_path / "x.db")
    items = write("r/x.item", "item_id:token\ttitle:token_seq\n1\tA\n2\tB\n")
    test = write("r/x.test.inter", "user_id:token\titem_id_list:token_seq\titem_id:token\nu\t1\t2\n")
    assert run(["import", "recbole", "--db", dbp, "--dataset", "r", "--items", str(items), "--inter", str(test),
                "--text-field", "title", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"] == {"test": 1}
    csv_items = write("c/i.tsv", "key\tname\n1\tA\n")
    assert run(["import", "csv", "--db", dbp, "--dataset", "c", "--items", str(csv_items), "--delimiter", "tab",
                "--id-col", "key", "--title-col", "name", "--domain", "news"]) == 0
    assert "domain news" in capsys.readouterr().out
    jl = write("j/i.jsonl", '{"id": 1, "title": "A"}\n')
    assert run(["import", "jsonl", "--db", dbp, "--dataset", "j", "--items", str(jl)]) == 0
    names = [r[0] for r in connect(dbp).execute("SELECT name FROM datasets ORDER BY name")]
    assert names == ["c", "j", "r"]


def test_errors_reach_the_edge_as_recsys_errors(tmp_path, write):
    bad = write("i.csv", "id;title\n1;A\n")
    with pytest.raises(RecsysError, match="semicolon"):
        run(["import", "csv", "--db", str(tmp_path / "x.db"), "--dataset", "c", "--items", str(bad)])


def test_python_m_recsys_import(tmp_path, write):
    items = write("i.csv", "id,title\n1,A\n")
    ok = subprocess.run([sys.executable, "-m", "recsys", "import", "csv", "--db", str(tmp_path / "x.db"),
                         "--dataset", "c", "--items", str(items)], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "items 1" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "recsys", "import", "csv", "--db", str(tmp_path / "x.db"),
                          "--dataset", "c", "--items", str(tmp_path / "missing.csv")], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "missing.csv: file not found" in bad.stderr


@pytest.mark.parametrize("fmt", ["movielens", "recbole", "csv", "jsonl", "candidates", "shared"])
def test_help_of_each_format(fmt, capsys):
    with pytest.raises(SystemExit) as e:
        run(["import", fmt, "--help"])
    assert e.value.code == 0 and "--db" in capsys.readouterr().out
