"""`python -m recsys loadtest`: many real browsers walking the app at once (recsys/loadtest.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..loadtest import MAX_SESSIONS, MAX_WALKS, Plan


def register(sub) -> None:
    p = sub.add_parser(
        "loadtest", help="N real Chromium sessions walking the app at once: latencies, errors, lost records",
        description="Start the app on 127.0.0.1 with its own copy of the demo database, let N headless Chromium "
                    "sessions walk it at once (example history, like, dislike, re-rank, three labels and a blind "
                    "A/B judgement on the Review page, reload), report each step's median and p95 latency and "
                    "every error a page showed, then check the database holds each session's records exactly "
                    "once. Exit code 1 when a check fails. See docs/load.md.")
    p.add_argument("--sessions", type=int, default=8, metavar="N",
                   help=f"browser sessions at once (1-{MAX_SESSIONS}; default 8)")
    p.add_argument("--walks", type=int, default=1, help=f"walks per session, one after another (1-{MAX_WALKS})")
    p.add_argument("--timeout", type=float, default=900.0, metavar="SECONDS",
                   help="limit on the whole run, database and server start included (default 900)")
    p.add_argument("--kill-one", action="store_true",
                   help="one more session, closed abruptly during its re-rank: checks nothing is half-written "
                        "and the others go on")
    p.add_argument("--examples", type=int, default=4,
                   help="distinct example histories the sessions spread over (1-4; the database precomputes them)")
    p.add_argument("--db-from", type=Path, default=None, metavar="FILE",
                   help="copy this database (e.g. data/recsys.db after `python -m recsys demo`) instead of the "
                        "cached load-test one (built on first use)")
    p.add_argument("--port", type=int, default=None, help="the app's port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-lm", action="store_true",
                   help="walk without the language model (quick: checks records and errors, not model latency)")
    p.add_argument("--nice-browsers", action="store_true",
                   help="run the browsers (and this command) at the lowest CPU priority, the app server at its "
                        "own: the server's part of each step as if the browsers were on other machines (this "
                        "process stays at that priority)")
    p.add_argument("--json", default=None, metavar="FILE", help="write the whole report as JSON")
    p.add_argument("--log", type=Path, default=None, metavar="FILE", help="keep the app server's log here")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import loadtest

    plan = Plan(sessions=args.sessions, walks=args.walks, timeout=args.timeout, kill_one=args.kill_one,
                port=args.port, db_from=args.db_from, examples=args.examples, no_lm=args.no_lm, log=args.log,
                nice_browsers=args.nice_browsers)
    report = loadtest.run(plan, say=lambda text: print(text, file=sys.stderr))
    report["command"] = "python -m recsys " + " ".join(sys.argv[1:])
    print(loadtest.format_report(report))
    if args.json:
        loadtest.write_json(report, args.json)
        print(f"report written to {args.json}", file=sys.stderr)
    return 0 if report["ok"] else 1
