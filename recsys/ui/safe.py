"""Catalog text in Markdown-capable places (labels, captions, markdown) shown literally.

Every ASCII punctuation character is backslash-escaped (CommonMark allows that for all of them), so links,
emphasis, raw HTML, Streamlit's `:color[...]` directives and `$…$` maths stay plain characters.
"""
from __future__ import annotations

import os
import string
from pathlib import Path

from recsys.errors import ConfigError

_ESCAPE = {ord(c): "\\" + c for c in string.punctuation}


def md(text: object, limit: int | None = None) -> str:
    text = " ".join(str(text).split())  # newlines would start new Markdown blocks
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.translate(_ESCAPE)


def import_roots() -> list[Path]:
    """Folders whose files the app may import by server path: the shared datasets, the project's data/imports,
    and any in $RECSYS_IMPORT_ROOTS (os.pathsep-separated). Anything else must be uploaded."""
    from recsys.config import DATA_DIR
    from recsys.datasets import shared_data_dir

    extra = [Path(p) for p in os.environ.get("RECSYS_IMPORT_ROOTS", "").split(os.pathsep) if p.strip()]
    return [p.resolve() for p in (shared_data_dir(), DATA_DIR / "imports", *extra)]


def server_path(path: str) -> str | None:
    """A server path typed into the app, refused unless it lies inside an import root (so a viewer of a shared
    demo cannot read arbitrary files through the importers' error messages)."""
    path = path.strip()
    if not path:
        return None
    resolved = Path(path).expanduser().resolve()
    roots = import_roots()
    if not any(resolved == r or r in resolved.parents for r in roots):
        raise ConfigError(f"server paths are limited to {', '.join(map(str, roots))}; upload the file instead, "
                          "or add its folder to RECSYS_IMPORT_ROOTS")
    return str(resolved)


def csv_text(frame) -> str:
    """A DataFrame as CSV in which no text cell can run as a spreadsheet formula (a leading =, +, -, @ is quoted)."""
    def guard(value):
        return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

    return frame.map(guard).to_csv(index=False)
