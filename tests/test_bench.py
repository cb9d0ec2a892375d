"""The benchmark command: its parts measure what they say, and one small real run writes a complete report in
which the engine agrees with the plain loop and a warm request, even in a fresh process, loads no model.
Speed itself is not asserted here: the figures live in docs/speed.md with the command that produced them."""
from __future__ import annotations

import json

import numpy as np
import pytest

from recsys import bench
from recsys.catalog import Catalog, make_item
from recsys.cli import main
from recsys.db import connect


def test_peak_memory_sees_a_transient_allocation():
    with bench.PeakMemory("cpu") as mem:
        block = np.ones(200 * 2**20 // 8)  # 200 MB, touched
        del block
    assert mem.rise_mb >= 150 and mem.peak_mb >= mem.rise_mb
    with bench.PeakMemory("cpu") as quiet:
        pass
    assert quiet.rise_mb < 50


def _add(catalog: Catalog, dataset: str, rows: list[tuple[str, str, float]]) -> None:
    with catalog.db.conn:
        catalog.add_items(make_item({"id": f"{dataset}:{i}", "title": t, "popularity": p, "source_id": i},
                                    dataset=dataset, domain="movies") for i, t, p in rows)
        catalog.add_dataset(dataset, domain="movies")


def test_the_movie_catalog_is_the_union_of_both_movielens_title_lists(tmp_path):
    catalog = Catalog(connect(tmp_path / "b.db"))
    _add(catalog, "ml-latest-small", [("1", "Toy Story (1995)", 10), ("2", "Heat (1995)", 3)])
    _add(catalog, "ml-100k", [("1", "Toy Story (1995)", 5), ("7", "Kolya (1996)", 2)])
    bench.build_movies(catalog, tmp_path / "absent")  # both present: nothing is imported
    items = {i.title: i for i in catalog.dataset_items(bench.MOVIES)}
    assert sorted(items) == ["Heat (1995)", "Kolya (1996)", "Toy Story (1995)"]
    assert items["Toy Story (1995)"].popularity == 15 and items["Kolya (1996)"].id == f"{bench.MOVIES}:100k-7"
    bench.build_movies(catalog, tmp_path / "absent")  # built once
    assert catalog.count("items", bench.MOVIES) == 3


def _report(**over) -> dict:
    r = {"model": "smollm2-135m", "machine": {"device": "cpu"},
         "throughput": {"ratio_cold": 8.5}, "latency": {"warm": {"ms": 40.0}, "cold": {"ms": 3500.0}},
         "indexing": {"seconds": 30.0, "items": 19_220}}
    r.update(over)
    return r


def test_targets_are_judged_only_where_they_apply():
    t = bench.check_targets(_report())
    assert t["apply_here"] and t["engine_over_plain_cold"]["met"] and t["warm_request_ms"]["met"]
    assert not t["cold_request_ms"]["met"] and t["index_19220_s"]["met"]
    assert not bench.check_targets(_report(model="gemma3-270m"))["apply_here"]
    assert "index_19220_s" not in bench.check_targets(_report(indexing={"skipped": "absent"}))


@pytest.mark.slow
def test_a_small_real_run_writes_a_complete_consistent_report(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--demo", "--db", str(tmp_path / "bench.db"), "--device", "cpu", "--plain-pairs", "4",
                 "--repeats", "1", "--skip-indexing", "--quiet", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert "candidates scored per second" in capsys.readouterr().out
    tp, lat = r["throughput"], r["latency"]
    assert r["machine"]["cpu_cores"] >= 1 and len(r["machine"]["load_average_end"]) == 3
    for when in ("start", "end"):  # the machine's speed at the time, beside the figures it moves
        assert set(r["machine"][f"matmul_gflops_{when}"]) == {"bfloat16", "float32"}
        assert all(v > 0 for v in r["machine"][f"matmul_gflops_{when}"].values())
    assert tp["pairs"] == 6 * 50 and tp["plain"]["pairs"] == 4
    assert tp["max_abs_diff_engine_vs_plain"] < 2e-3  # the fast path computes the same numbers
    assert tp["engine_cold"]["candidates_per_s"] > 0 and tp["engine_warm"]["memory"]["peak_mb"] > 0
    assert lat["cold"]["pairs_computed"] == 250 and lat["cold_nothing_cached"]["pairs_computed"] == 300
    assert len(lat["cold"]["runs_ms"]) == 3 and lat["cold"]["ms"] == sorted(lat["cold"]["runs_ms"])[1]
    spinning = lat["cold_threads_spinning"]  # the same request where torch's threads spin between regions
    assert spinning["omp_wait_policy"] == "ACTIVE" and spinning["pairs_computed"] == 250, spinning
    assert spinning["ms"] == sorted(spinning["runs_ms"])[1]
    assert r["precision"]["requested"] == "float32" and tp["engine_cold"]["precision"] == "float32"
    assert tp["plain_same_precision"] == tp["plain"] and tp["ratio_cold_same_precision"] == tp["ratio_cold"]
    assert lat["warm"]["pairs_computed"] == 0 and lat["same_ranking_cold_and_warm"]
    fresh = lat["warm_new_process"]
    assert fresh["pairs_computed"] == 0 and fresh["models_loaded"] == {"lm": False, "embedder": False}
    assert r["indexing"] == {"skipped": "--skip-indexing"}


@pytest.mark.slow
def test_a_bfloat16_run_measures_the_float32_plain_loop_beside_its_own(tmp_path):
    """The engine in bfloat16 (native or emulated) against the plain loop as users write it (float32) and
    against the plain loop in bfloat16: both ratios, and every figure says its precision."""
    out = tmp_path / "bench.json"
    assert main(["bench", "--demo", "--db", str(tmp_path / "bench.db"), "--device", "cpu", "--plain-pairs", "4",
                 "--repeats", "1", "--skip-indexing", "--quiet", "--precision", "bfloat16", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    tp, lat = r["throughput"], r["latency"]
    assert r["cache_key"] == "smollm2-135m@bf16" and r["machine"]["torch_cpu_capability"]
    assert tp["plain"]["precision"] == "float32" and tp["plain_same_precision"]["precision"] == "bfloat16"
    assert tp["engine_cold"]["precision"] == "bfloat16" and lat["precision"] == "bfloat16"
    assert tp["ratio_cold"] != tp["ratio_cold_same_precision"]
    assert tp["max_abs_diff_engine_vs_plain"] < 0.5 and tp["max_abs_diff_engine_vs_float32_plain"] < 1.0
    assert lat["warm_new_process"]["models_loaded"] == {"lm": False, "embedder": False}
