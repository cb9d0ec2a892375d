"""`python -m recsys …`: a thin edge over the library. Each command lives in a module with `register(sub)`;
named engine errors become one-line messages and a non-zero exit code."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from .errors import RecsysError

# command modules, each exposing register(subparsers) that sets `func` on its parser
COMMANDS = [
    "recsys.commands.recommend",
    "recsys.commands.catalog",
    "recsys.datasets.cli",
    "recsys.evaluate.cli",
    "recsys.evaluate.faithfulness",
    "recsys.bench",
    "recsys.precompute",
    "recsys.health",
    "recsys.demo",
    "recsys.commands.loadtest",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recsys", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and name.startswith(e.name):
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.func(args) or 0
    except RecsysError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; scores computed so far are kept in the pair cache", file=sys.stderr)
        return 130
