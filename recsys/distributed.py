"""Running shards of a heavy job on Ray workers: the runtime, the pool of workers and what happens when one dies.

This module knows nothing about evaluation or precompute (`recsys.ray_jobs` does); it starts or joins a Ray
runtime, keeps a fixed pool of workers busy with shards, hands each finished shard to the driver's `commit`
(the only writer of SQLite), shows progress, and retries a shard once when its worker dies. Ray is optional: it
is imported only here, only when `--ray` is given.
"""
from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import RecsysError

INSTALL = "pip install -r requirements-ray.txt"
DEFAULT_PORT = 6379  # `ray start --head` (the GCS)
CLIENT_PORT = 10001  # `ray://host:10001` (Ray Client)


class DistributedError(RecsysError):
    """Ray is missing, the cluster cannot be reached, or a shard failed on two workers in a row."""


def import_ray():
    try:
        import ray
    except ImportError as e:
        raise DistributedError(f"--ray needs Ray, which is not installed here: {INSTALL}") from e
    return ray


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail at once, naming the address, when nothing listens there (Ray itself would retry for a minute)."""
    if address in ("auto", "local"):
        return
    rest = address.split("://", 1)[1] if "://" in address else address
    host, _, port = rest.rstrip("/").rpartition(":")
    if not host:
        host, port = rest.rstrip("/"), ""
    default = CLIENT_PORT if address.startswith("ray://") else DEFAULT_PORT
    try:
        port_n = int(port) if port else default
    except ValueError as e:
        raise DistributedError(f"Ray address {address!r} is not host:port") from e
    try:
        socket.create_connection((host, port_n), timeout=timeout).close()
    except OSError as e:
        raise DistributedError(f"cannot reach the Ray cluster at {address} ({e}); start its head with "
                               f"`ray start --head --port={port_n}` (see docs/scale.md)") from e


@contextmanager
def ray_runtime(address: str | None = None, num_cpus: int | None = None):
    """Join the cluster at `address`, or start a local runtime on this machine's cores (shut down afterwards)."""
    ray = import_ray()
    if address:
        check_address(address)
    if ray.is_initialized():  # a caller (a test, a notebook) already holds one: use it, leave it running
        yield ray
        return
    if address:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except Exception as e:  # ConnectionError and Ray's own errors
            raise DistributedError(f"cannot join the Ray cluster at {address}: {e}") from e
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@dataclass
class Plan:
    """How many workers of which size: each holds its own copy of the models."""

    workers: int | None = None  # default: the cluster's CPUs (or GPUs) divided by one worker's share
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0

    def count(self, ray) -> int:
        if self.workers:
            return self.workers
        res = ray.cluster_resources()
        if self.gpus_per_worker:
            return max(1, int(res.get("GPU", 0) // self.gpus_per_worker))
        return max(1, int(res.get("CPU", 1) // self.cpus_per_worker))


class Progress:
    """Shards done, units (users, items) per second and the time left, on stderr: a bar on a terminal, a line a
    minute otherwise."""

    def __init__(self, what: str, unit: str, total_units: int, total_shards: int, done_units: int,
                 done_shards: int, show: bool):
        from tqdm import tqdm

        self.shards, self.total_shards = done_shards, total_shards
        self.bar = tqdm(total=total_units, initial=done_units, desc=what, unit=unit, disable=not show,
                        dynamic_ncols=True, file=sys.stderr, mininterval=1 if sys.stderr.isatty() else 60)
        self.bar.set_postfix_str(self._shards(), refresh=False)

    def _shards(self) -> str:
        return f"shards {self.shards}/{self.total_shards}"

    def advance(self, units: int) -> None:
        self.shards += 1
        self.bar.set_postfix_str(self._shards(), refresh=False)
        self.bar.update(units)

    def note(self, message: str) -> None:
        self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


def run_shards(ray, make_worker: Callable[[], object], n_workers: int, todo: list[int],
               submit: Callable[[object, int, int], object], commit: Callable[[int, object], None],
               progress: Progress, what: str = "shard") -> None:
    """Keep `n_workers` busy with the shards in `todo`; `submit(worker, shard, attempt)` returns an ObjectRef,
    `commit(shard, result)` stores a finished shard (on the driver). A worker that dies is replaced and its shard
    retried once; a second death, or an error raised by the work itself, stops the run (committed shards stay)."""
    queue = list(todo)
    attempts: dict[int, int] = {}
    idle = [make_worker() for _ in range(min(n_workers, len(queue)))]
    running: dict = {}  # ObjectRef -> (worker, shard)
    committed = 0
    try:
        while queue or running:
            while queue and idle:
                worker, shard = idle.pop(), queue.pop(0)
                running[submit(worker, shard, attempts.get(shard, 0))] = (worker, shard)
            ready, _ = ray.wait(list(running), num_returns=1)
            ref = ready[0]
            worker, shard = running.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # the work raised: the same input would raise again
                cause = getattr(e, "cause", None)
                if isinstance(cause, RecsysError):
                    raise cause from None
                raise DistributedError(f"{what} {shard} failed on its worker: {e}") from e
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as e:
                attempts[shard] = attempts.get(shard, 0) + 1
                if attempts[shard] > 1:
                    raise DistributedError(
                        f"{what} {shard} failed twice (its worker died each time: {type(e).__name__}); stopped "
                        f"with {committed} {what}s of this run committed; rerun the same command to do the rest"
                    ) from e
                progress.note(f"a worker died during {what} {shard} ({type(e).__name__}); retrying it once on a "
                              "new worker")
                queue.insert(0, shard)
                idle.append(make_worker())
                continue
            commit(shard, result)
            committed += 1
            idle.append(worker)
    finally:
        for ref in running:  # stopping early: what is in flight is not committed
            try:
                ray.cancel(ref)
            except Exception:  # already finished, or its worker is gone
                pass


def elapsed(started: float) -> float:
    return time.perf_counter() - started
