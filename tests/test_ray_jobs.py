"""Evaluation and precompute on a local Ray runtime (2 CPUs) against the same work in one process: the same
per-user ranks, metrics and pair scores; a worker that dies once is replaced, twice stops the run with its
committed shards kept; bad addresses fail at once, by name."""
from __future__ import annotations

import os
import socket
import sys
import time
from functools import partial

import pytest

from recsys import db as dbmod
from recsys.catalog import Catalog
from recsys.config import ScoringConfig
from recsys.distributed import DistributedError, Plan, check_address, import_ray
from recsys.errors import ModelLoadError
from recsys.evaluate.run import EvalSpec, run_evaluation
from recsys.precompute import precompute
from recsys.ray_jobs import evaluate_on_ray, open_snapshot, precompute_on_ray, snapshot
from recsys.recommend import Models
from tests.conftest import add_small_catalog
from tests.evaluate.conftest import make_log

ray = pytest.importorskip("ray", reason="Ray is the optional group of requirements-ray.txt (make test installs it)")
CHEAP = ("pop", "random", "bm25")  # no language model: the failure tests stay fast


FLOAT32 = {"RECSYS_PRECISION": "float32"}  # bfloat16 scores move with the batch a pair is scored in


@pytest.fixture(scope="module")
def runtime():
    saved = {k: os.environ.get(k) for k in FLOAT32}
    os.environ.update(FLOAT32)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": FLOAT32})
    yield ray
    ray.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def one_thread():
    """As each 1-CPU Ray worker computes (Ray sets OMP_NUM_THREADS=1): float32 sums differ in their last bits
    with the thread count, so one process matches the workers bit for bit only with the same count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_same(a, b) -> None:
    assert a.user_ids == b.user_ids
    for name, m in a.methods.items():
        assert m.ranks.tolist() == b.methods[name].ranks.tolist(), name
        assert m.metrics == b.methods[name].metrics, name
        assert m.ci95 == b.methods[name].ci95, name
    assert a.comparisons == b.comparisons


@pytest.mark.slow
def test_evaluation_on_two_workers_equals_one_process(runtime, one_thread):
    spec = EvalSpec(dataset="toy", methods=("pop", "embed", "lm", "fused"), n_negatives=5, n_boot=200)
    one = run_evaluation(make_log(n_users=30), spec, Models(device="cpu"))
    catalog = make_log(n_users=30)
    many = evaluate_on_ray(catalog, spec, partial(Models, device="cpu"), plan=Plan(workers=2), shard_users=8)
    assert_same(one, many)
    assert many.timings["shards"] == 4 and many.timings["shards_reused"] == 0
    assert catalog.db.execute("SELECT COUNT(*) FROM eval_shards").fetchone()[0] == 4
    lm_rows = catalog.db.execute("SELECT COUNT(*) FROM pair_scores").fetchone()[0]
    assert lm_rows == one.timings["lm_pairs_computed"] > 0  # the workers' scores, written by the driver
    again = evaluate_on_ray(catalog, spec, partial(Models, device="cpu"), plan=Plan(workers=2), shard_users=8)
    assert again.timings["shards_reused"] == 4  # nothing left to score: read back from eval_shards
    assert_same(one, again)


@pytest.mark.slow
def test_precompute_on_two_workers_fills_the_same_pair_scores(runtime, one_thread, tmp_path):
    config = ScoringConfig()
    catalogs = []
    for name in ("one", "many"):
        c = Catalog(dbmod.connect(tmp_path / f"{name}.db"))
        add_small_catalog(c)
        catalogs.append(c)
    a = precompute(catalogs[0], "m", Models(device="cpu"), config, neighbours=3, progress=False, neutral_chunk=5)
    b = precompute_on_ray(catalogs[1], "m", partial(Models, device="cpu"), config, 3, plan=Plan(workers=2),
                          shard_items=5, neutral_chunk=5, progress=False)
    rows = "SELECT model, template, x_hash, y_hash, logprob, n_tokens FROM pair_scores ORDER BY x_hash, y_hash"
    assert catalogs[0].db.execute(rows).fetchall() == catalogs[1].db.execute(rows).fetchall()
    assert (a.pairs, a.computed) == (b.pairs, b.computed) == (40, 40)
    again = precompute_on_ray(catalogs[1], "m", partial(Models, device="cpu"), config, 3, plan=Plan(workers=2),
                              shard_items=5, neutral_chunk=5, progress=False)
    assert again.computed == 0  # resumable: every shard is already in the cache


def test_a_worker_that_dies_mid_shard_is_replaced_and_the_shard_retried_once(runtime, capsys):
    def die_once(job, shard, attempt):
        if shard == 1 and attempt == 0:
            os._exit(1)

    spec = EvalSpec(dataset="toy", methods=CHEAP, n_negatives=5, n_boot=50)
    one = run_evaluation(make_log(), spec, Models(device="cpu"))
    many = evaluate_on_ray(make_log(), spec, partial(Models, device="cpu"), plan=Plan(workers=2),
                           shard_users=10, hook=die_once, show_progress=True)
    assert_same(one, many)
    assert "a worker died during shard 1" in capsys.readouterr().err


def test_a_shard_that_kills_its_worker_twice_stops_the_run_keeping_the_committed_shards(runtime):
    def always_die_on_two(job, shard, attempt):
        if shard == 2:
            os._exit(1)

    spec = EvalSpec(dataset="toy", methods=CHEAP, n_negatives=5, n_boot=50)
    catalog = make_log()
    with pytest.raises(DistributedError, match="shard 2 failed twice.*2 shards of this run committed.*rerun"):
        evaluate_on_ray(catalog, spec, partial(Models, device="cpu"), plan=Plan(workers=1), shard_users=10,
                        hook=always_die_on_two)
    assert [r[0] for r in catalog.db.execute("SELECT shard FROM eval_shards ORDER BY shard")] == [0, 1]
    rerun = evaluate_on_ray(catalog, spec, partial(Models, device="cpu"), plan=Plan(workers=1), shard_users=10)
    assert rerun.timings["shards_reused"] == 2
    assert_same(run_evaluation(make_log(), spec, Models(device="cpu")), rerun)


def test_an_unreachable_ray_address_fails_at_once_naming_it():
    address = f"127.0.0.1:{free_port()}"
    start = time.perf_counter()
    with pytest.raises(DistributedError, match=f"cannot reach the Ray cluster at {address}"):
        check_address(address)
    with pytest.raises(DistributedError, match="ray://127.0.0.1:1 "):
        check_address("ray://127.0.0.1:1")
    assert time.perf_counter() - start < 5


def test_an_unreachable_serving_url_fails_before_any_work(runtime):
    url = f"http://127.0.0.1:{free_port()}"
    spec = EvalSpec(dataset="toy", methods=("lm",), n_negatives=5, n_boot=50)
    with pytest.raises(ModelLoadError, match=f"cannot reach the vLLM server at {url}"):
        evaluate_on_ray(make_log(), spec, partial(Models, device="cpu", backend=f"vllm:{url}"))


def test_without_ray_the_message_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(DistributedError, match="pip install -r requirements-ray.txt"):
        import_ray()


def test_the_snapshot_holds_only_the_dataset_and_the_models_pair_scores():
    catalog = make_log()
    other = make_log(seed=2)
    rows = [dict(r, dataset="other", user_id="x" + r["user_id"]) for r in other.db["interactions"].rows]
    with catalog.db.conn:
        catalog.add_interactions(rows)
        catalog.db["pair_scores"].insert_all([
            {"model": m, "template": "t", "x_hash": "a", "y_hash": "b", "logprob": -1.0, "n_tokens": 1}
            for m in ("smollm2-135m", "smollm2-135m@vllm")], pk=("model", "template", "x_hash", "y_hash"))
    copy = open_snapshot(snapshot(catalog, "toy", "smollm2-135m@vllm"))
    assert {r[0] for r in copy.db.execute("SELECT DISTINCT dataset FROM interactions")} == {"toy"}
    assert [r[0] for r in copy.db.execute("SELECT model FROM pair_scores")] == ["smollm2-135m@vllm"]
    assert len(copy.dataset_items("toy")) == len(catalog.dataset_items("toy")) == 60


def test_the_cli_names_an_unreachable_address_in_one_line(tmp_path, capsys):
    from recsys.cli import main

    address = f"127.0.0.1:{free_port()}"
    c = Catalog(dbmod.connect(tmp_path / "cli.db"))
    add_small_catalog(c)
    start = time.perf_counter()
    code = main(["evaluate", "--db", str(tmp_path / "cli.db"), "--dataset", "m", "--methods", "pop",
                 "--ray", address, "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and time.perf_counter() - start < 10
    assert len(err) == 1 and f"cannot reach the Ray cluster at {address}" in err[0]
