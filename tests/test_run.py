"""run_snapshot owns a run's lifecycle, its error path included."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from snapprice import run
from snapprice.settings import DatabaseSettings, Settings

pytestmark = pytest.mark.integration


def _settings() -> Settings:
    settings = Settings(database=DatabaseSettings(url="postgresql://owner:db-Pa55@db.example/prices"))
    settings.secrets["taobao"] = {"key": SecretStr("k-123456"), "secret": SecretStr("s-abcdef")}
    return settings


def test_a_failing_stage_closes_the_run_failed_with_no_secret_in_its_message(clean_db):
    def ingest(*_args, **_kwargs):
        raise RuntimeError("upstream said: bad key k-123456 / s-abcdef for owner:db-Pa55")

    steps = replace(run.Steps(), ingest=ingest)
    with pytest.raises(RuntimeError):
        run.run_snapshot(clean_db, _settings(), catalog="c.csv", steps=steps)
    with clean_db.connect() as conn:
        status, message = conn.execute(sa.text("SELECT status, message FROM run")).one()
    assert status == "failed"
    assert message == "RuntimeError: upstream said: bad key *** / *** for owner:***"


def test_the_steps_run_in_order_and_the_run_closes(clean_db):
    seen = []
    steps = run.Steps(
        ingest=lambda *a, **k: seen.append("ingest"),
        search=lambda *a, **k: seen.append("search") or run.SearchSummary(done=0),
        close=lambda engine, run_id, error=None: seen.append("close") or run.close_run(engine, run_id, error=error),
        alerts=lambda *a, **k: seen.append("alerts") or [],
    )
    result = run.run_snapshot(clean_db, _settings(), catalog="c.csv", steps=steps)
    assert seen == ["ingest", "search", "close", "alerts"]
    assert result["status"] == "succeeded" and result["alerts"] == 0
    assert result["searches"]["done"] == 0


def test_a_run_sees_the_other_runs_that_are_live(clean_db):
    with run.live(clean_db, 7) as first:
        assert first == []
        with run.live(clean_db, 8) as second:
            assert second == [7]
    with run.live(clean_db, 9) as third:  # 7 and 8 ended: their locks are gone
        assert third == []


def test_a_trial_run_reads_only_the_first_rows(clean_db, tmp_path):
    from snapprice.sandbox.catalogs import generate_catalog
    from snapprice.sandbox.testing import shared_world

    catalog = generate_catalog(shared_world(20, 7), tmp_path / "catalog", 8, dup_rate=0.25, seed=3)
    steps = run.Steps(search=lambda *a, **k: run.SearchSummary(), alerts=lambda *a, **k: [])
    result = run.run_snapshot(clean_db, _settings(), catalog=catalog.csv_path, limit=3, steps=steps)
    assert result["n_images"] == 3, result


def test_a_full_run_retires_the_matches_of_skus_the_catalog_dropped(clean_db, tmp_path):
    from datetime import UTC, datetime
    from decimal import Decimal

    from snapprice.models import ListingSnapshot
    from snapprice.sandbox.catalogs import generate_catalog
    from snapprice.sandbox.testing import shared_world
    from snapprice.store.loader import load_snapshots
    from snapprice.store.runs import create_run

    catalog = generate_catalog(shared_world(20, 7), tmp_path / "catalog", 4, dup_rate=0.0, seed=3)
    skus = sorted({line.split(",")[0] for line in catalog.csv_path.read_text().splitlines()[1:]})
    with clean_db.begin() as conn:
        earlier = create_run(conn, kind="manual", catalog=None, config_digest=None)
        load_snapshots(conn, earlier, datetime.now(UTC), [ListingSnapshot(
            platform="taobao", item_id="1", title="t", shop="s", url=None, pic_url=None,
            price_low=Decimal("5"), price_high=Decimal("5"), promo_price=None, original_price=None,
            currency="CNY", sales_lower_bound=None, sales_text=None, rank=1)], skus=[skus[0], "GONE"])
    steps = run.Steps(search=lambda *a, **k: run.SearchSummary(), alerts=lambda *a, **k: [])
    # A trial run (--limit) is not the whole catalog: it retires nothing.
    run.run_snapshot(clean_db, _settings(), catalog=catalog.csv_path, limit=1, steps=steps)
    with clean_db.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM match_retired")).scalar_one() == 0
    run.run_snapshot(clean_db, _settings(), catalog=catalog.csv_path, steps=steps)
    with clean_db.connect() as conn:
        assert conn.execute(sa.text("SELECT sku FROM match ORDER BY 1")).scalars().all() == [skus[0]]
        assert conn.execute(sa.text("SELECT sku, reason FROM match_retired")).all() == [("GONE", "sku_dropped")]
