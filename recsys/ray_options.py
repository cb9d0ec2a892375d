"""The `--ray` flags shared by `evaluate` and `precompute` (argparse only: Ray itself is imported when used)."""
from __future__ import annotations


def add_ray_options(p, unit: str, default_shard: str) -> None:
    g = p.add_argument_group("distributed (Ray; docs/scale.md)")
    g.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="split the work into shards on Ray workers: a local runtime on this machine's cores, or "
                        "the cluster at ADDRESS (host:6379, ray://host:10001, auto); needs requirements-ray.txt")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="Ray workers, each with its own copy of the models (default: CPUs or GPUs / per worker)")
    g.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="C", help="default %(default)s")
    g.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G", help="default %(default)s")
    g.add_argument("--shard-size", type=int, default=None, metavar="N",
                   help=f"{unit} per shard, the unit of work, commit and retry (default {default_shard})")


def plan_from_args(args):
    from .distributed import Plan

    if args.workers is not None and args.workers < 1:
        from .errors import ConfigError

        raise ConfigError("--workers must be >= 1")
    return Plan(workers=args.workers, cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker)
