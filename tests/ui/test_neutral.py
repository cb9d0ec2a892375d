"""ℓ(y|∅) of the embedded catalogs, scored in the background when the app starts: afterwards a cold request
scores only its history's prompts, one fewer."""
from __future__ import annotations

import pytest

from recsys.config import ScoringConfig
from recsys.recommend import Models, recommend
from recsys.types import Query
from recsys.ui import neutral


@pytest.mark.slow
def test_the_background_job_scores_every_demo_item_once_and_a_cold_request_then_skips_the_neutral_prompt(
        demo_catalog, tmp_path):
    path = demo_catalog.db.execute("PRAGMA database_list").fetchone()[2]
    models = Models(device="cpu")
    job = neutral.start(path, models, only=("movies",))
    job.thread.join(timeout=1200)
    items = demo_catalog.dataset("movies").items
    assert job.finished and not job.error and job.done == job.total == items and job.computed > 0
    assert "ready for all" in job.line()
    again = neutral.start(path, models, only=("movies",))  # a restart finds everything cached
    again.thread.join(timeout=1200)
    assert again.finished and again.computed == 0
    cfg = ScoringConfig(n_candidates=10, n_popular=0, max_history=2)
    result = recommend(demo_catalog, Query(history=("movies:toy-story", "movies:up"), config=cfg, top=5), models)
    assert result.pairs_computed == 2 * result.candidates_considered  # ℓ(y|∅) of every candidate was there


def test_the_settings_show_the_precision_in_use_and_why(app_db):
    from tests.ui.app_helpers import new_app, problems

    at = new_app()
    assert at.selectbox(key="set_precision").value == "float32"  # $RECSYS_PRECISION (the suite pins float32)
    assert any("In use: language model float32 (asked for)" in c.value for c in at.sidebar.caption)
    at.selectbox(key="set_precision").set_value("bfloat16").run()
    assert problems(at) == []
    assert any("language model bfloat16" in c.value for c in at.sidebar.caption)


def test_the_demo_step_and_the_background_job_share_one_function_so_the_job_finds_everything_cached(
        demo_catalog, fake_models):
    from recsys import demo

    path = demo_catalog.db.execute("PRAGMA database_list").fetchone()[2]
    seen: list[tuple[str, int, int]] = []
    scored = demo.score_neutral(demo_catalog, fake_models, progress=lambda *a: seen.append(a))
    items = sum(d.items for d in demo.demo_datasets(demo_catalog))
    assert scored == fake_models.fake.pairs == items > 0 and seen[-1][1:] == (items, items)
    calls = fake_models.fake.calls
    job = neutral.start(path, fake_models)
    job.thread.join(timeout=60)
    assert job.finished and not job.error and job.done == job.total == items
    assert job.computed == 0 and fake_models.fake.calls == calls  # nothing scored twice, no model call at all
