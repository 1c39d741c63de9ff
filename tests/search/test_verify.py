import pytest
import sqlalchemy as sa

from snapprice import run
from snapprice.search import executor
from snapprice.search.verify import score_from_distance
from snapprice.settings import load_settings
from tests.flowkit import CREDS, make_setup


@pytest.mark.parametrize(("d", "score"), [(0, 1.0), (8, 0.75), (16, 0.5), (32, 0.0), (64, 0.0)])
def test_score_from_distance(d, score):
    assert score_from_distance(d) == score


@pytest.mark.integration
def test_visual_scores_keep_weak_results_out_of_matches(clean_db, database_url, tmp_path):
    setup = make_setup(tmp_path, database_url, platforms=("taobao",), items=10)
    text = setup.config.read_text().replace("[search]\n", "[search]\nverify_matches = true\nmatch_min_score = 0.8\n")
    setup.config.write_text(text)
    settings = load_settings(setup.config, environ=CREDS)
    try:
        run_id = run.start_run(clean_db, settings, kind="manual", catalog="c")
        run.ingest(clean_db, settings, run_id, setup.catalog.csv_path)
        summary = executor.execute_searches(clean_db, settings, run_id)
    finally:
        setup.sandbox.stop()
    assert summary.done > 0 and summary.failed == 0
    with clean_db.connect() as c:
        scores = [r[0] for r in c.execute(sa.text("SELECT score FROM price_snapshot")).all()]
        unmatched_weak = c.execute(sa.text(
            "SELECT count(*) FROM price_snapshot s WHERE s.score < 0.8"
            " AND NOT EXISTS (SELECT 1 FROM match m WHERE m.listing_id = s.listing_id)")).scalar()
        weak_matched = c.execute(sa.text("SELECT count(*) FROM match WHERE best_score < 0.8")).scalar()
        n_matches = c.execute(sa.text("SELECT count(*) FROM match")).scalar()
    assert scores and all(s is not None for s in scores), "every result picture was fetched and scored"
    assert max(scores) > 0.9  # the product's own listings look like the query
    assert weak_matched == 0 and n_matches > 0
    print(f"\nverify: {len(scores)} snapshots scored, {unmatched_weak} weak ones kept unmatched")
