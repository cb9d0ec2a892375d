"""Write the demo interaction log (`data/catalogs/logs/`): 120 invented viewers of the embedded movie catalog.

The log exists so that the Evaluate page (and Review's "Users of a dataset") works from a fresh clone without
any downloaded dataset. It is synthetic and written for this project: each viewer has one or two tastes (sets of
catalog tags), watches 6-14 films of the catalog, picks the next film by its tags' overlap with the taste and with
the film just watched (so order carries signal, as in a real log) and by the film's popularity. Deterministic:
`python -m scripts.make_demo_log` rewrites the same files.
"""
from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "data" / "catalogs" / "movies.jsonl"
OUT = ROOT / "data" / "catalogs" / "logs"
USERS = 120
SEED = 7
TASTES = {
    "family": {"animation", "family", "pixar", "disney", "studio-ghibli", "friendship", "adventure"},
    "horror": {"horror", "slasher", "supernatural", "psychological", "disturbing", "thriller"},
    "sci-fi": {"sci-fi", "space", "dystopia", "cyberpunk", "time-travel", "adventure"},
    "crime": {"crime", "film-noir", "neo-noir", "mystery", "thriller", "revenge", "new-york"},
    "romance": {"romance", "romcom", "comedy", "musical", "new-york"},
    "western": {"western", "revenge", "classic", "epic"},
    "documentary": {"documentary", "nature", "music", "biographical"},
    "action": {"action", "martial-arts", "superhero", "revenge", "adventure"},
    "drama": {"drama", "classic", "coming-of-age", "biographical", "epic"},
}


def load_items() -> list[dict]:
    return [json.loads(line) for line in CATALOG.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    rng = random.Random(SEED)
    items = load_items()
    tags = [set(i["tags"]) for i in items]
    pop = [math.log1p(i.get("popularity") or 0) for i in items]
    names = sorted(TASTES)
    rows = []
    for u in range(USERS):
        taste = set(TASTES[rng.choice(names)])
        if rng.random() < 0.35:
            taste |= TASTES[rng.choice(names)]
        seen: list[int] = []
        clock = 1_600_000_000 + u * 3_600 + rng.randrange(3_600)
        for _ in range(rng.randint(6, 14)):
            weights = []
            for k, t in enumerate(tags):
                if k in seen:
                    weights.append(0.0)
                    continue
                fit = len(t & taste)
                follow = len(t & tags[seen[-1]]) if seen else 0
                weights.append((0.05 + fit + 1.5 * follow) ** 2 * (1 + pop[k] / 12))
            k = rng.choices(range(len(items)), weights=weights)[0]
            seen.append(k)
            clock += rng.randrange(3_600, 7 * 86_400)
            rows.append({"user_id": f"v{u:03d}", "item_id": items[k]["id"].split(":", 1)[1], "timestamp": clock})
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "movies-log.items.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "creator", "year", "tags", "description"])
        for i in items:
            w.writerow([i["id"].split(":", 1)[1], i["title"], i.get("creator", ""), i.get("year", ""),
                        "|".join(i["tags"]), i.get("description", "")])
    with open(OUT / "movies-log.inter.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["user_id", "item_id", "timestamp"])
        w.writeheader()
        w.writerows(rows)
    print(f"{USERS} users, {len(rows)} interactions, {len(items)} items -> {OUT}")


if __name__ == "__main__":
    main()
