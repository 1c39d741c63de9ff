"""Retention: `db prune` removes old raw responses (and, if asked, whole old snapshot months)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from snapprice.backfill.replay import replay
from snapprice.models import ListingSnapshot
from snapprice.settings import Settings
from snapprice.store.loader import load_snapshots
from snapprice.store.retention import prune
from snapprice.store.runs import create_run

NOW = datetime.now(UTC).replace(microsecond=0)
AGES = (200, 120, 95, 60, 1)  # days ago of each run (one raw response per page, 3 pages)


def _run(conn: Connection, days_ago: int) -> int:
    at = NOW - timedelta(days=days_ago)
    conn.execute(sa.text("SELECT snapprice_ensure_partitions(:at, 0)"), {"at": at})
    run_id = create_run(conn, kind="scheduled", catalog="c.csv", config_digest="x")
    conn.execute(sa.text("UPDATE run SET started_at = :at WHERE run_id = :r"), {"at": at, "r": run_id})
    for page in (1, 2, 3):
        conn.execute(sa.text(
            "INSERT INTO raw_response (run_id, group_id, platform, marketplace, protocol, page, requested_at, "
            "received_at, http_status, request, body) VALUES (:r, 0, 'jd', 'jd', 'gateway', :p, :at, :at, 200, "
            "'{}', '{\"items\": []}')"), {"r": run_id, "p": page, "at": at})
    snap = ListingSnapshot(platform="jd", item_id="A", title="lamp", shop=None, url=None, pic_url=None,
                           price_low=Decimal("10"), price_high=None, promo_price=None, original_price=None,
                           currency="CNY", sales_lower_bound=None, sales_text=None, rank=1)
    gone = replace(snap, item_id=f"GONE-{days_ago}")  # seen in this run only
    load_snapshots(conn, run_id, at, [snap, gone], skus=["SKU-1"])
    return run_id


@pytest.fixture
def history(clean_db: Engine) -> dict[int, int]:
    with clean_db.begin() as conn:
        return {age: _run(conn, age) for age in AGES}


def _state(engine: Engine) -> tuple[list[int], int, list[str]]:
    with engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT run_id FROM raw_response ORDER BY 1")).scalars().all()
        snaps = conn.execute(sa.text("SELECT count(*) FROM price_snapshot")).scalar_one()
        parts = conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'price_snapshot'::regclass ORDER BY 1")).scalars().all()
    return list(raw), snaps, list(parts)


def test_dry_run_changes_nothing(history: dict[int, int], clean_db: Engine) -> None:
    before = _state(clean_db)
    s = prune(clean_db, NOW, raw_days=90, snapshot_days=150, dry_run=True)
    assert (s.raw_rows, s.raw_runs, s.batches) == (9, 3, 0)
    assert s.raw_oldest == NOW - timedelta(days=200) and s.raw_newest == NOW - timedelta(days=95)
    # the month of the run 200 days ago (other tests of the session may leave empty old months)
    assert [m.rows for m in s.snapshot_months if m.rows] == [2]
    assert _state(clean_db) == before


def test_prune_removes_old_raw_responses_only(history: dict[int, int], clean_db: Engine) -> None:
    raw_before, snaps_before, parts_before = _state(clean_db)
    assert len(raw_before) == 3 * len(AGES)
    s = prune(clean_db, NOW, raw_days=90, batch=2)
    assert (s.raw_rows, s.batches, s.snapshot_cutoff, s.snapshot_months) == (9, 5, None, [])
    raw, snaps, parts = _state(clean_db)
    assert raw == [history[60]] * 3 + [history[1]] * 3
    assert (snaps, parts) == (snaps_before, parts_before)  # snapshots untouched
    again = prune(clean_db, NOW, raw_days=90, batch=2)
    assert again.nothing and again.batches == 0 and _state(clean_db) == (raw, snaps, parts)


def test_snapshot_days_drops_whole_old_months(history: dict[int, int], clean_db: Engine) -> None:
    _, _, parts_before = _state(clean_db)
    s = prune(clean_db, NOW, raw_days=90, snapshot_days=150)
    old = (NOW - timedelta(days=200)).strftime("price_snapshot_%Y%m")
    dropped = [m.partition for m in s.snapshot_months]
    assert old in dropped and all(m.rows == 0 for m in s.snapshot_months if m.partition != old)
    raw, snaps, parts = _state(clean_db)
    assert len(raw) == 6 and snaps == 2 * (len(AGES) - 1) and parts == [p for p in parts_before if p not in dropped]
    assert "price_snapshot_default" in parts
    with clean_db.connect() as conn:  # the read path no longer shows the dropped month's listing
        latest = conn.execute(sa.text("SELECT item_id FROM latest_price ORDER BY 1")).scalars().all()
    assert latest == ["A", "GONE-1", "GONE-120", "GONE-60", "GONE-95"]
    assert prune(clean_db, NOW, raw_days=90, snapshot_days=150).nothing


def test_replay_reports_pruned_runs(history: dict[int, int], clean_db: Engine) -> None:
    prune(clean_db, NOW, raw_days=90)
    s = replay(clean_db, Settings(), NOW - timedelta(days=365), NOW + timedelta(days=1))
    assert s.pruned_runs == [history[200], history[120], history[95]]
    # the six responses left are replayed (these bodies are refused as unparsable: a reject each)
    assert s.responses + s.rejects == 6 and s.runs <= {history[60], history[1]}


def test_cli_prune(history: dict[int, int], clean_db: Engine, database_url: str) -> None:
    from typer.testing import CliRunner

    from snapprice.cli.db import app

    env = {"DATABASE_URL": database_url}
    dry = CliRunner().invoke(app, ["prune", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would delete 9 received before" in dry.output and "dry run: nothing was changed" in dry.output
    assert "snapshots: kept forever" in dry.output
    done = CliRunner().invoke(app, ["prune"], env=env)
    assert done.exit_code == 0 and "deleted 9 received before" in done.output
    again = CliRunner().invoke(app, ["prune"], env=env)
    assert again.exit_code == 0 and "raw responses: none received before" in again.output
