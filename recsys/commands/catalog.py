"""`catalog`: what a database holds."""
from __future__ import annotations

import json

from ..catalog import open_catalog


def register(sub) -> None:
    p = sub.add_parser("catalog", help="summarise a database: datasets, items, interactions, caches")
    p.add_argument("--db", default=None, help="SQLite database (default: the embedded demo catalog)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    summary = open_catalog(args.db).summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{'dataset':<22}{'domain':<10}{'items':>8}{'interactions':>14}{'sequences':>11}")
    for d in summary["datasets"]:
        print(f"{d['name']:<22}{d['domain']:<10}{d['items']:>8}{d['interactions']:>14}{d['sequences']:>11}")
    print(f"total items {summary['items']}, interactions {summary['interactions']}, cached pair scores "
          f"{summary['cached_pair_scores']}, embeddings {summary['embeddings']}, schema v{summary['schema_version']}")
    return 0
