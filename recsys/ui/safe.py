"""Catalog text in Markdown-capable places (labels, captions, markdown) shown literally.

Every ASCII punctuation character is backslash-escaped (CommonMark allows that for all of them), so links,
emphasis, raw HTML, Streamlit's `:color[...]` directives and `$…$` maths stay plain characters.
"""
from __future__ import annotations

import string

_ESCAPE = {ord(c): "\\" + c for c in string.punctuation}


def md(text: object, limit: int | None = None) -> str:
    text = " ".join(str(text).split())  # newlines would start new Markdown blocks
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.translate(_ESCAPE)
