"""The catalog precompute: ℓ(y|∅) for every item and ℓ(y|x) for each item's nearest neighbours, under the keys
requests use, resumable, and invalidated by an edited title."""
from __future__ import annotations

import numpy as np
import pytest

from recsys.catalog import Catalog
from recsys.cli import main
from recsys.config import ScoringConfig
from recsys.precompute import nearest_neighbours, precompute
from recsys.recommend import recommend
from recsys.types import Query

CFG = ScoringConfig()


def test_nearest_neighbours_are_the_most_similar_other_rows_best_first():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(40, 8)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    near = nearest_neighbours(m, 5)
    sims = m @ m.T
    for i in range(40):
        others = [j for j in np.argsort(-sims[i], kind="stable") if j != i]
        assert near[i].tolist() == others[:5]
    assert nearest_neighbours(m[:3], 10).shape == (3, 2)  # never more than the other items
    assert nearest_neighbours(m[:1], 4).shape == (1, 0)


def _pairs(catalog: Catalog) -> int:
    return catalog.db["pair_scores"].count


def test_scores_neutral_and_neighbour_pairs_once_and_resumes(catalog, fake_models):
    first = precompute(catalog, "m", fake_models, CFG, neighbours=3, limit=4, progress=False)
    assert first.items == 4 and first.pairs == 4 + 4 * 3 and first.computed == first.pairs
    assert _pairs(catalog) == first.computed
    rest = precompute(catalog, "m", fake_models, CFG, neighbours=3, progress=False)
    assert rest.pairs == 10 + 30 and rest.computed == rest.pairs - first.pairs  # only what the first run lacked
    again = precompute(catalog, "m", fake_models, CFG, neighbours=3, progress=False)
    assert again.computed == 0 and _pairs(catalog) == 40


def test_an_edited_title_is_scored_afresh(catalog, fake_models):
    precompute(catalog, "m", fake_models, CFG, neighbours=2, progress=False)
    with catalog.db.conn:
        catalog.db.execute("UPDATE items SET title = 'Toy Story (1995)' WHERE id = 'm:toy-story'")
    report = precompute(catalog, "m", fake_models, CFG, neighbours=2, progress=False)
    assert report.computed >= 3  # its ℓ(y|∅), its own neighbour pairs, and pairs where it is a neighbour


def test_neutral_can_be_left_out(catalog, fake_models):
    report = precompute(catalog, "m", fake_models, CFG, neighbours=1, neutral=False, progress=False)
    assert report.pairs == 10 and catalog.db.execute(
        "SELECT count(*) FROM pair_scores WHERE x_hash = ''").fetchone()[0] == 0


def test_cli_rejects_an_unknown_dataset_before_any_work(catalog, capsys):
    path = catalog.db.execute("PRAGMA database_list").fetchone()[2]
    assert main(["precompute", "--db", path, "--neighbours", "2", "--dataset", "nope", "--quiet"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_request_over_precomputed_pairs_scores_nothing_with_the_real_model(catalog, real_models, capsys):
    path = catalog.db.execute("PRAGMA database_list").fetchone()[2]
    argv = ["precompute", "--db", path, "--neighbours", "1", "--dataset", "m", "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    assert "m: 10 items × 1 neighbours + ℓ(y|∅): 20 pairs, 20 scored now" in capsys.readouterr().out
    ids, matrix = real_models.embedder(CFG.embedder).dataset_matrix(catalog, "m")
    q = Query(history=(ids[0],), candidates=(ids[nearest_neighbours(matrix, 1)[0][0]],), top=1)
    result = recommend(catalog, q, real_models)
    assert result.pairs_computed == 0  # the request found every score under the same keys
    assert main(argv) == 0
    assert "20 pairs, 0 scored now" in capsys.readouterr().out
