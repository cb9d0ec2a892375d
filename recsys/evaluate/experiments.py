"""Experimental methods for making the LM term count: any weighted sum of named terms, each normalised
over the candidate set, named by what it contains, so every direction tried is a method the harness can run.

Name grammar: `mix:TERM[W]+TERM[W]+...[@z|@rank]`, e.g. `mix:lm0.5+pop1+embed1@z`. W defaults to 1; `@z`
(default) z-scores each term over the candidates (what `fuse(standardize=True)` does), `@rank` replaces each term
by its centred rank (ties averaged) scaled to unit standard deviation. Terms:

- `pop`     log π(y), the popularity prior
- `embed`   cos(y, H) with the run's embedder (MiniLM by default), recency-weighted history vector
- `lmemb`   the same with the LM's mean-pooled last hidden states (`lm:<run's model>`, recsys/lm_embed.py)
- `lm`      the engine's LM term: per-history-item ℓ, the run's calibration and fusion (product/mixture)
- `lmraw`   per-item raw ℓ, product; `lmtok` per-item PMI divided by the candidate's token count, product
- `list`    PMI of the candidate after ONE prompt listing the recent history (`recsys/history_prompt.py`),
            template `<domain>-list` unless `--template` names a list template (one whose name ends in `-list*`)
- `listraw` the same without calibration
- `bm25`    BM25 of the candidate's text against the history's

All terms come from the user's `Context`, so a run with many `mix:` names costs one LM pass per user.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import fuse as F
from ..embed import history_vector
from ..errors import ConfigError
from ..text import DOMAIN_TEMPLATE, TEMPLATES, template_for
from .methods import Context, Method

TERMS = ("pop", "embed", "lmemb", "lm", "lmraw", "lmtok", "lmcc", "list", "listraw", "bm25")
_TERM = re.compile(r"^(?P<name>" + "|".join(sorted(TERMS, key=len, reverse=True)) + r")(?P<w>\d*\.?\d+)?$")
LM_TERMS = {"lm", "lmraw", "lmtok", "lmcc", "list", "listraw"}
# Content-free inputs for contextual calibration (Zhao et al. 2021), put in the history item's place in the template.
CONTENT_FREE = ("N/A", "[MASK]", "")


def rank_normalise(x: np.ndarray) -> np.ndarray:
    """Centred average ranks over the candidates, unit standard deviation (all-equal input -> zeros)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=np.float64)
    # average the ranks of ties so that equal scores stay equal
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    centred = ranks - ranks.mean()
    sd = centred.std()
    return centred / sd if sd > 1e-12 else centred


def z_normalise(x: np.ndarray) -> np.ndarray:
    centred, sd = F._standardise(np.asarray(x, dtype=np.float64))
    return centred / sd


def _similarity_with(ctx: Context, embedder: str) -> np.ndarray:
    env = ctx.env
    items = [env.items[k] for k in (*ctx.history.tolist(), *ctx.candidates.tolist())]
    vecs = env.models.embedder(embedder).vectors(env.catalog.db, items)
    h = history_vector(vecs[:len(ctx.history)], F.history_weights(len(ctx.history), env.config.gamma))
    return vecs[len(ctx.history):] @ h


def _per_item(ctx: Context, calibration: str, fusion: str, per_token: bool = False,
              neutral: np.ndarray | None = None) -> np.ndarray:
    cfg = ctx.env.config
    ell, empty = ctx.ell
    neutral = empty if neutral is None else neutral
    cal = F.calibrate(ell, neutral, calibration)
    if per_token:
        cal = cal / _token_counts(ctx)[None, :]
    s = F.normalise(cal)
    return F.fuse(s, F.history_weights(len(ctx.lm_history), cfg.gamma), fusion, standardize=False).lm_term


def _content_free(ctx: Context) -> np.ndarray:
    """Mean ℓ(y | content-free x) over CONTENT_FREE: the template's own bias toward y, the same prompt shape as a
    real history item (the ∅ prompt of plain PMI is shorter and phrased differently)."""
    env = ctx.env
    ys = [env.items[k].lm_text() for k in ctx.candidates]
    cf, _ = env.scorer.matrix(env.template, list(CONTENT_FREE), ys)
    return cf.mean(axis=0)


def _token_counts(ctx: Context) -> np.ndarray:
    """Tokens of each candidate's continuation (title + closing), as the pair cache stored them."""
    memo = ctx.__dict__.setdefault("_ntok", None)
    if memo is not None:
        return memo
    env = ctx.env
    scorer = env.scorer
    tkey = scorer._cache_template(env.template)
    from ..text import text_hash

    hashes = [text_hash(env.items[k].lm_text()) for k in ctx.candidates]
    found = {}
    for yh, n in env.catalog.db.execute(
            f"SELECT y_hash, n_tokens FROM pair_scores WHERE model = ? AND template = ? AND x_hash = '' "
            f"AND y_hash IN ({','.join('?' * len(hashes))})", [scorer.model_key, tkey, *hashes]):
        found[yh] = n
    out = np.array([max(int(found.get(h) or 1), 1) for h in hashes], dtype=np.float64)
    ctx.__dict__["_ntok"] = out
    return out


def list_template_for(ctx: Context):
    env = ctx.env
    name = env.config.template
    if name and "-list" in name:
        return template_for(None, name)
    base = DOMAIN_TEMPLATE.get((env.domain or "").lower(), "generic")
    return TEMPLATES.get(f"{base}-list") or TEMPLATES["generic-list"]


def _list_term(ctx: Context, calibration: str) -> np.ndarray:
    from ..history_prompt import list_scores

    key = "_list_ell"
    if key not in ctx.__dict__:
        ctx.__dict__[key] = list_scores(ctx, list_template_for(ctx))
    ell, neutral = ctx.__dict__[key]
    return F.calibrate(ell[None, :], neutral, calibration)[0]


def term(ctx: Context, name: str) -> np.ndarray:
    cfg = ctx.env.config
    if name == "pop":
        return ctx.prior
    if name == "embed":
        return ctx.similarity
    if name == "lmemb":
        return _similarity_with(ctx, f"lm:{cfg.model}")
    if name == "lm":
        return _per_item(ctx, cfg.calibration, cfg.fusion)
    if name == "lmraw":
        return _per_item(ctx, "raw", "product")
    if name == "lmtok":
        return _per_item(ctx, "pmi", "product", per_token=True)
    if name == "lmcc":
        return _per_item(ctx, "pmi", "product", neutral=_content_free(ctx))
    if name == "list":
        return _list_term(ctx, "pmi")
    if name == "listraw":
        return _list_term(ctx, "raw")
    if name == "bm25":
        return ctx.bm25
    raise ConfigError(f"unknown term {name!r}; known: {', '.join(TERMS)}")


def parse_mix(name: str) -> tuple[list[tuple[str, float]], str]:
    """'mix:lm0.5+pop+embed2@rank' -> ([('lm', 0.5), ('pop', 1.0), ('embed', 2.0)], 'rank')."""
    body = name[len("mix:"):]
    body, _, norm = body.partition("@")
    norm = norm or "z"
    if norm not in ("z", "rank"):
        raise ConfigError(f"{name}: normalisation must be @z or @rank")
    terms = []
    for part in body.split("+"):
        m = _TERM.match(part.strip())
        if not m or m.group("name") not in TERMS:
            raise ConfigError(f"{name}: bad term {part!r}; terms: {', '.join(TERMS)}, each with an optional weight")
        terms.append((m.group("name"), float(m.group("w") or 1.0)))
    if not terms:
        raise ConfigError(f"{name}: no terms")
    return terms, norm


def mix_scores(ctx: Context, terms: list[tuple[str, float]], norm: str) -> np.ndarray:
    normalise = rank_normalise if norm == "rank" else z_normalise
    out = np.zeros(len(ctx.candidates))
    for name, weight in terms:
        if weight > 0:
            out += weight * normalise(term(ctx, name))
    return out


@lru_cache(maxsize=None)
def mix_method(name: str) -> Method:
    terms, norm = parse_mix(name)
    desc = " + ".join(f"{w:g}·{t}" for t, w in terms) + f", each term {'rank' if norm == 'rank' else 'z'}-normalised"
    return Method(name, desc, lambda c: mix_scores(c, terms, norm),
                  uses_lm=any(t in LM_TERMS and w > 0 for t, w in terms), reranks=True)


def resolve_extra(name: str) -> Method | None:
    return mix_method(name) if name.startswith("mix:") else None


def paired_table(result, reference: str | None = None, metric: str = "ndcg@10", n_boot: int = 1000,
                 seed: int = 0) -> str:
    """Markdown: every method's metric [95% CI] and its paired difference to `reference` (default: the best
    method without an LM term, i.e. the best embeddings + prior configuration of this run), with a verdict."""
    from . import metrics as M

    methods = result.methods
    no_lm = [n for n in methods if not _uses_lm(n)]
    reference = reference or max(no_lm, key=lambda n: methods[n].metrics[metric])
    ref = M.per_user(methods[reference].ranks)[metric]
    lines = [f"Reference (best without an LM term): `{reference}`; {result.users} users, {result.spec.dataset} "
             f"({result.spec.split}).\n",
             f"| method | {metric} [95% CI] | Δ vs `{reference}` [95% CI] | beyond the interval |", "|---|---|---|---|"]
    for n, m in sorted(methods.items(), key=lambda kv: -kv[1].metrics[metric]):
        lo, hi = m.ci95.get(metric, (float("nan"),) * 2)
        cell = f"{m.metrics[metric]:.2f} [{lo:.1f}, {hi:.1f}]"
        if n == reference:
            lines.append(f"| `{n}` | {cell} | — | — |")
            continue
        d, dlo, dhi = (100 * v for v in M.paired_difference(M.per_user(m.ranks)[metric], ref, n_boot, seed))
        verdict = "better" if dlo > 0 else "worse" if dhi < 0 else "no"
        lines.append(f"| `{n}` | {cell} | {d:+.2f} [{dlo:+.1f}, {dhi:+.1f}] | {verdict} |")
    return "\n".join(lines)


def _uses_lm(name: str) -> bool:
    if name.startswith("mix:"):
        return mix_method(name).uses_lm
    return name.startswith("lm") or name == "fused"


def main(argv: list[str] | None = None) -> int:
    """`python -m recsys.evaluate.experiments DB [ID ...]`: paired tables of stored evaluations (default: all)."""
    import argparse

    from ..db import connect
    from .run import list_evaluations, load_evaluation

    p = argparse.ArgumentParser(prog="python -m recsys.evaluate.experiments",
                                description="Paired NDCG@10 tables (each method against the best without an LM "
                                            "term) of evaluations stored in a database.")
    p.add_argument("db", help="an existing evaluation database")
    p.add_argument("ids", nargs="*", help="evaluation ids (default: all)")
    args = p.parse_args(argv)
    if not Path(args.db).is_file():
        p.error(f"{args.db}: no such database")
    db = connect(args.db)
    for i in args.ids or [e.id for e in list_evaluations(db)]:
        r = load_evaluation(db, i)
        print(f"\n### {r.spec.dataset} {r.spec.split} ({i})\n")
        print(paired_table(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
