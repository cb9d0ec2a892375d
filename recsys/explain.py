"""Plain sentences built from a recommendation's numbers — why it is in the list, what a like or dislike
changed — never written by a model. Titles are catalog data: the caller says how to show one (`name`)."""
from __future__ import annotations

from collections.abc import Callable

from .types import LM, PRIOR, SIMILARITY, Contribution, Recommendation, Result

Name = Callable[[str], str]
DOWN_TERMS = {"language model": LM, "embedding model": SIMILARITY}  # a part that was down -> the term it removes


def quoted(title: str) -> str:
    return f"“{title}”"


def _reason(c: Contribution) -> str:
    """Which term carries a history item's part, in words."""
    lm, sim = c.term(LM), c.term(SIMILARITY)
    if lm > 0 and sim > 0 and max(lm, sim) < 3 * min(lm, sim):
        return "similar, and the language model links them"
    return "similar in content" if sim >= lm else "the language model links them"


def sentence(rec: Recommendation, degraded: tuple[str, ...] = (), name: Name = quoted) -> str:
    """One sentence: the liked item(s) that pushed this recommendation up most, and the prior's say."""
    items = [c for c in rec.contributions if c.name != PRIOR]
    prior = sum(c.value for c in rec.contributions if c.name == PRIOR)
    up = sorted((c for c in items if c.value > 0), key=lambda c: -c.value)
    scale = max([abs(c.value) for c in rec.contributions] + [1e-12])
    clauses = []
    if up:
        top = up[0]
        if len(up) == 1 or top.value >= 0.5 * sum(c.value for c in up):
            clauses.append(f"mostly because you liked {name(top.label)} ({_reason(top)})")
        else:
            nxt = up[1]
            clauses.append(f"because you liked {name(top.label)} ({_reason(top)}) and {name(nxt.label)} "
                           f"({_reason(nxt)})")
    if prior > 0.25 * scale:
        clauses.append("popular overall" if up else "mostly because it is popular overall")
    elif prior < -0.25 * scale:
        clauses.append("though less popular than most candidates")
    if not clauses:
        clauses.append("no liked item and no popularity sets it apart: it ranks here by small margins")
    text = "; ".join(clauses)
    missing = [term for part, term in DOWN_TERMS.items() if part in degraded]
    if missing and items:
        text += f" (without the {' and '.join('language-model' if t == LM else 'similarity' for t in missing)} " \
                f"term: its model was unavailable)"
    return text[0].upper() + text[1:] + "."


def feedback_changes(before: Result, after: Result, liked: str | None = None, disliked: str | None = None,
                     name: Name = quoted, limit: int = 3) -> list[str]:
    """What a like or dislike changed between two lists: new entries (and how much the liked item adds to them),
    the biggest moves, and what left."""
    old = {r.item.id: r for r in before.recommendations}
    new = {r.item.id: r for r in after.recommendations}
    out = []
    if disliked and disliked in old and disliked not in new:
        out.append(f"{name(old[disliked].item.title)} is gone and will not come back.")
    key = f"history:{liked}" if liked else None
    entered = [r for r in after.recommendations if r.item.id not in old]
    for r in entered[:limit]:
        part = next((c.value for c in r.contributions if c.name == key), None)
        because = f": the item you liked adds {part:+.2f} to its score" if part is not None else ""
        out.append(f"{name(r.item.title)} is new at #{r.rank}{because}.")
    moves = sorted(((old[i].rank - r.rank, r) for i, r in new.items() if i in old and old[i].rank != r.rank),
                   key=lambda m: -abs(m[0]))
    for delta, r in moves[:limit]:
        out.append(f"{name(r.item.title)} moved {'up' if delta > 0 else 'down'} from #{old[r.item.id].rank} "
                   f"to #{r.rank}.")
    left = [r for r in before.recommendations if r.item.id not in new and r.item.id != disliked]
    if left:
        out.append("Left the list: " + ", ".join(name(r.item.title) for r in left[:limit])
                   + (f" and {len(left) - limit} more" if len(left) > limit else "") + ".")
    return out or ["The list did not change."]
