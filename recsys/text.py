"""Item text: normalisation, and the per-domain prompt templates that the language model reads.

Item text is data, never prompt structure: it is folded to one line and its double quotes are replaced, so
a title cannot close the quotation the template opens around it.
"""
from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass

from .errors import ConfigError

_WS = re.compile(r"\s+")
# "Matrix, The (1999)" -> "The Matrix (1999)"; also A/An and a few European articles used in MovieLens.
_ARTICLE = re.compile(r"^(?P<body>.+?), (?P<art>The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El|Los|Las)(?P<rest>\s*\(.*\))?$")
_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))


def normalize(text: str | None) -> str:
    """Unescape HTML entities, drop control characters, fold whitespace, move trailing articles to the front."""
    if not text:
        return ""
    text = html.unescape(str(text)).translate(_CONTROL)
    text = unicodedata.normalize("NFC", _WS.sub(" ", text)).strip()
    m = _ARTICLE.match(text)
    if m:
        art = m.group("art")
        sep = "" if art.endswith("'") else " "
        text = f"{art}{sep}{m.group('body')}{m.group('rest') or ''}"
    return text


def quote_safe(text: str) -> str:
    """Make text safe to place between the template's double quotes."""
    return _WS.sub(" ", text.replace('"', "'").replace("\u201c", "'").replace("\u201d", "'")).strip()


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Template:
    """prompt(x) = context.format(x=...); the candidate's text and `closing` follow it.

    `neutral` is the same prompt around a neutral context, for ℓ(y|∅) (PMI calibration). A list template
    (`separator` set, e.g. ",") reads x as an already joined list (`history_prompt.join_history`) and removes the
    separator from each candidate's text, so no title can add or end a list entry.
    """

    name: str
    context: str
    neutral: str
    closing: str = '"'
    separator: str = ""

    def prompt(self, x: str) -> str:
        return self.context.format(x=quote_safe(x))

    def safe(self, y: str) -> str:
        """An item's text as it may stand in this template's slot."""
        text = quote_safe(y)
        return _WS.sub(" ", text.replace(self.separator, " ")).strip() if self.separator else text

    def continuation(self, y: str) -> str:
        return self.safe(y) + self.closing

    @property
    def key(self) -> str:
        """Cache key: the name plus a hash of the wording, so an edited template never reuses old scores."""
        wording = self.context + "|" + self.neutral + "|" + self.closing + (f"|{self.separator}" if self.separator else "")
        return f"{self.name}-{text_hash(wording)[:8]}"


def _domain_template(name: str, noun: str, verb: str) -> Template:
    return Template(
        name=name,
        context=f'Someone who {verb} the {noun} "{{x}}" will also {_base(verb)} the {noun} "',
        neutral=f'Someone will {_base(verb)} the {noun} "',
    )


def _base(verb: str) -> str:
    return {"enjoyed": "enjoy", "liked": "like", "read": "read", "watched": "watch"}.get(verb, verb)


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        _domain_template("movie", "movie", "enjoyed"),
        _domain_template("music", "song", "enjoyed"),
        _domain_template("news", "news article", "read"),
        _domain_template("video", "video", "enjoyed"),
        _domain_template("paper", "paper", "read"),
        _domain_template("product", "product", "liked"),
        _domain_template("generic", "item", "liked"),
    )
}



def _list_template(name: str, plural: str) -> Template:
    """The whole recent history as one comma-separated list ("Movies like A, B, C, " + candidate), the format that
    did best for GPT-2 in Sileo et al. 2022; `{x}` is the joined list (recsys/history_prompt.py)."""
    return Template(name=name, context=f"{plural} like {{x}}, ", neutral=f"{plural} like ", closing=",", separator=",")


def _sequence_template(name: str, noun: str, plural: str, verb: str) -> Template:
    """The history as an ordered story with the next item in quotes (domain wording, no list idiom)."""
    return Template(name=name, context=f'Someone {verb} these {plural}, in this order: {{x}}. The next {noun} '
                                       f'they {verb} was "',
                    neutral=f'The next {noun} someone {verb} was "')


# Experimental templates: list formats over the whole recent history.
for _t in (_list_template("movie-list", "Movies"), _list_template("music-list", "Artists"),
           _list_template("product-list", "Products"), _list_template("news-list", "News articles"),
           _list_template("video-list", "Videos"), _list_template("paper-list", "Papers"),
           _list_template("generic-list", "Items"),
           _sequence_template("movie-list-seq", "movie", "movies", "watched"),
           _sequence_template("music-list-seq", "artist", "artists", "listened to"),
           _sequence_template("product-list-seq", "product", "products", "bought")):
    TEMPLATES[_t.name] = _t

# Dataset domains as the importers and demo catalogs name them -> template name.
DOMAIN_TEMPLATE = {
    "movies": "movie", "movie": "movie", "music": "music", "songs": "music", "news": "news",
    "videos": "video", "video": "video", "papers": "paper", "paper": "paper",
    "products": "product", "product": "product",
}


def template_for(domain: str | None, name: str | None = None) -> Template:
    """The named template, else the domain's, else the generic one."""
    if name:
        if name not in TEMPLATES:
            raise ConfigError(f"unknown template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
        return TEMPLATES[name]
    return TEMPLATES[DOMAIN_TEMPLATE.get((domain or "").lower(), "generic")]


def register_template(template: Template) -> None:
    """Add or replace a template (configurable wording for a new domain or an experiment)."""
    TEMPLATES[template.name] = template
