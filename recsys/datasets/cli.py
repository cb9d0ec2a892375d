"""`python -m recsys import FORMAT …`: a thin edge over the importers; prints the report (or JSON with --json)."""
from __future__ import annotations

import argparse
import json
import sys

from ..catalog import open_catalog
from ..config import DEFAULT_DB
from .candidates import import_candidates
from .common import DOMAINS, ImportReport
from .generic import Columns, import_table
from .movielens import VARIANTS, import_movielens
from .recbole import import_recbole
from .shared import SHARED, import_shared


def _options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=str(DEFAULT_DB), help="SQLite database (default: %(default)s)")
    common.add_argument("--max-bad-lines", type=int, default=0, metavar="N",
                        help="skip and report up to N malformed lines instead of stopping at the first (default 0)")
    common.add_argument("--json", action="store_true", help="print the report as JSON")
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    return common


def _named(domain: str) -> argparse.ArgumentParser:
    named = argparse.ArgumentParser(add_help=False)
    named.add_argument("--dataset", required=True, help="dataset name; prefixes item ids (NAME:id); replaces a "
                                                         "dataset of that name")
    named.add_argument("--domain", choices=DOMAINS, default=domain, help="what the items are (default %(default)s)")
    return named


def _encoding(parser: argparse.ArgumentParser, default: str = "utf-8") -> None:
    parser.add_argument("--encoding", default=default, help="text encoding of the files (default %(default)s)")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import", help="import a dataset: MovieLens, RecBole/UniSRec, CSV, JSONL or candidate lists",
        description="Import a dataset into the database, all-or-nothing, and report what was stored and what "
                    "was wrong (duplicate ids, missing titles, unknown items, malformed lines).")
    formats = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")
    common = _options()

    p = formats.add_parser("movielens", parents=[common, _named("movies")], help="a MovieLens folder",
                           description="ML-100K (u.data, u.item), ML-1M/10M (ratings.dat, movies.dat) or ml-latest "
                                       "(ratings.csv, movies.csv); the layout is detected from the files.")
    p.add_argument("folder", help="the MovieLens folder")
    p.add_argument("--variant", choices=list(VARIANTS), help="force the layout instead of detecting it")
    _encoding(p)
    p.set_defaults(func=_movielens)

    p = formats.add_parser("recbole", parents=[common, _named("generic")], help="RecBole/UniSRec atomic files",
                           description="An .item (or UniSRec .text) file and .inter files with field:type headers; "
                                       "the split of each .inter file is read from its name (.train., .valid., "
                                       ".test.).")
    p.add_argument("--items", required=True, help="the .item file (or UniSRec .text)")
    p.add_argument("--inter", action="append", default=[], metavar="FILE",
                   help=".inter file; repeat for each split")
    p.add_argument("--text-field", help="item field used as the item text (default: the first token_seq field)")
    p.add_argument("--item2index", help="UniSRec map original id -> index used in .inter files (default: the "
                                        ".item2index next to a .text items file)")
    _encoding(p)
    p.set_defaults(func=_recbole)

    for fmt in ("csv", "jsonl"):
        p = formats.add_parser(fmt, parents=[common, _named("generic")], help=f"generic {fmt.upper()} files",
                               description=f"An item file (id, title, optional text fields) and optionally an "
                                           f"interaction file (user, item, optional timestamp/rating), "
                                           f"{'CSV with a header row' if fmt == 'csv' else 'one JSON object per line'}."
                                           " Columns left unnamed are looked up among common names.")
        p.add_argument("--items", required=True, help="the item file")
        p.add_argument("--interactions", help="the interaction file")
        if fmt == "csv":
            p.add_argument("--delimiter", default=",", help="field separator; 'tab' or '\\t' for tabs (default ,)")
        for role in ("id", "title", "tags", "creator", "year", "user", "item", "timestamp", "rating"):
            p.add_argument(f"--{role}-col", help=f"column holding the {role}")
        p.add_argument("--description-col", action="append", default=[], metavar="COL",
                       help="column of extra item text; repeat to join several")
        _encoding(p)
        p.set_defaults(func=_table, table_format=fmt)

    p = formats.add_parser("candidates", parents=[common], help="LLMRank candidate lists for an imported dataset",
                           description="One line per user: user_id<TAB>space-separated item ids (the dataset's "
                                       "original ids, or UniSRec indices with --item2index).")
    p.add_argument("file", help="the candidate file")
    p.add_argument("--dataset", required=True, help="the imported dataset the lists belong to")
    p.add_argument("--name", default="default", help="name of the candidate set (default %(default)s)")
    p.add_argument("--item2index", help="UniSRec map original id -> index, when the lists hold indices")
    _encoding(p)
    p.set_defaults(func=_candidates)

    p = formats.add_parser("shared", parents=[common], help="one of the development datasets in ../shared/data",
                           description=f"Import a development dataset with the right flags: {', '.join(SHARED)}.")
    p.add_argument("name", choices=list(SHARED))
    p.add_argument("--dataset", help="dataset name (default: the folder name)")
    p.add_argument("--data-dir", help="folder holding the datasets (default: $RECSYS_SHARED_DATA or ../shared/data)")
    p.set_defaults(func=_shared)


def _progress(args) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _open(args):
    """The database; the default one gets its demo catalogs first, as everywhere else (see `open_catalog`)."""
    return open_catalog(args.db).db


def _print(report: ImportReport, args) -> int:
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(report.lines()))
    return 0


def _movielens(args) -> int:
    db = _open(args)
    return _print(import_movielens(db, args.dataset, args.folder, variant=args.variant, domain=args.domain,
                                   encoding=args.encoding, max_bad_lines=args.max_bad_lines,
                                   progress=_progress(args)), args)


def _recbole(args) -> int:
    db = _open(args)
    return _print(import_recbole(db, args.dataset, items=args.items, inter=args.inter, text_field=args.text_field,
                                 item2index=args.item2index, domain=args.domain, encoding=args.encoding,
                                 max_bad_lines=args.max_bad_lines, progress=_progress(args)), args)


def _table(args) -> int:
    columns = Columns(id=args.id_col, title=args.title_col, description=tuple(args.description_col),
                      tags=args.tags_col, creator=args.creator_col, year=args.year_col, user=args.user_col,
                      item=args.item_col, timestamp=args.timestamp_col, rating=args.rating_col)
    delimiter = getattr(args, "delimiter", ",")
    delimiter = "\t" if delimiter in ("tab", "\\t") else delimiter
    db = _open(args)
    return _print(import_table(db, args.dataset, items=args.items, interactions=args.interactions,
                               fmt=args.table_format, columns=columns, delimiter=delimiter, domain=args.domain,
                               encoding=args.encoding, max_bad_lines=args.max_bad_lines, progress=_progress(args)),
                  args)


def _candidates(args) -> int:
    db = _open(args)
    return _print(import_candidates(db, args.dataset, args.file, name=args.name, item2index=args.item2index,
                                    encoding=args.encoding, max_bad_lines=args.max_bad_lines,
                                    progress=_progress(args)), args)


def _shared(args) -> int:
    db = _open(args)
    return _print(import_shared(db, args.name, dataset=args.dataset, data_dir=args.data_dir,
                                max_bad_lines=args.max_bad_lines, progress=_progress(args)), args)
