"""`python -m recsys evaluate` on a real import of ML-100K with the real models (slow; skips without the data)."""
from __future__ import annotations

import json

import pytest

from recsys.cli import main
from recsys.datasets import import_shared, shared_data_dir
from recsys.db import connect

DATA = shared_data_dir()


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "ml-100k").is_dir(), reason=f"shared dataset ml-100k not found at {DATA / 'ml-100k'} "
                                                             "(set RECSYS_SHARED_DATA to the datasets folder)")
def test_evaluate_command_on_ml_100k(tmp_path, capsys):
    db_path = tmp_path / "eval.db"
    import_shared(connect(db_path), "ml-100k")
    out, report = tmp_path / "r.json", tmp_path / "r.md"
    args = ["evaluate", "--db", str(db_path), "--dataset", "ml-100k", "--protocol", "llmrank20", "--limit-users", "3",
            "--methods", "random,pop,embed,fused", "--seed", "0", "--json", str(out), "--report", str(report),
            "--quiet", "--bootstrap", "100"]
    assert main(args) == 0
    d = json.loads(out.read_text())
    assert (d["protocol"], d["dataset"], d["users"]) == ("llmrank20", "ml-100k", 3)
    assert set(d["methods"]) == {"random", "pop", "embed", "fused"}
    assert set(d["methods"]["fused"]["ci95"]) >= {"ndcg@10", "hr@10", "mrr"}
    assert d["settings"]["model_cache_key"].startswith("smollm2-135m")
    assert report.read_text().startswith("# Evaluation: ml-100k")
    assert (tmp_path / "r.roc.html").exists()
    assert "| `fused` |" in capsys.readouterr().out
    # stored and listed; the rerun reads every LM pair from the cache
    assert main(["evaluate", "--db", str(db_path), "--list"]) == 0
    assert "ml-100k" in capsys.readouterr().out
    assert main([*args, "--no-store"]) == 0
    assert json.loads(out.read_text())["timings"]["lm_pairs_computed"] == 0
    assert main(["evaluate", "--db", str(db_path), "--dataset", "ml-100k", "--methods", "nope", "--quiet"]) == 2
