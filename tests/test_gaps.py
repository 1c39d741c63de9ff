"""Filling the schedule's gaps: past slots only, and a gap once filled stays filled."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from snapprice.backfill.gaps import schedule_slots, skus_missing_slots
from snapprice.settings import ScheduleSettings, Settings
from snapprice.store import runs

DAILY_7AM_SHANGHAI = Settings(schedule=ScheduleSettings(cron="0 7 * * *", timezone="Asia/Shanghai"))


def test_slots_after_now_are_not_gaps():
    since, until = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC)
    now = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)  # 06:00 on Dec 5 in Shanghai: that slot is ahead
    slots = schedule_slots(DAILY_7AM_SHANGHAI, since, until, now=now)
    assert [s.isoformat() for s in slots] == [f"2026-12-0{d}T07:00:00+08:00" for d in (2, 3, 4)]
    assert schedule_slots(DAILY_7AM_SHANGHAI, since, until, now=datetime(2026, 12, 1, tzinfo=UTC)) == []


def _searched(conn, kind: str, sku: str, at: datetime) -> None:
    run_id = runs.create_run(conn, kind=kind, catalog="c", config_digest="x")
    item = conn.execute(sa.text("INSERT INTO catalog_item (sku, image_ref) VALUES (:s, :s || '.jpg') "
                                "ON CONFLICT (sku, image_ref) DO UPDATE SET sku = excluded.sku "
                                "RETURNING catalog_item_id"), {"s": sku}).scalar_one()
    conn.execute(sa.text("INSERT INTO image_group VALUES (:r, 0, :i, :d, 1)"), {"r": run_id, "i": item, "d": "0" * 64})
    conn.execute(sa.text("INSERT INTO image_group_member (run_id, group_id, catalog_item_id, distance) "
                         "VALUES (:r, 0, :i, 0)"), {"r": run_id, "i": item})
    conn.execute(sa.text("INSERT INTO search_task (run_id, group_id, platform, page, status, updated_at) "
                         "VALUES (:r, 0, 'jd', 1, 'done', :at)"), {"r": run_id, "at": at})


@pytest.mark.integration
def test_a_gap_a_backfill_filled_stays_filled(clean_db):
    slots = schedule_slots(DAILY_7AM_SHANGHAI, datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 4, tzinfo=UTC),
                           now=datetime(2026, 12, 5, tzinfo=UTC))  # Dec 1, 2, 3 at 07:00 CST
    with clean_db.begin() as conn:
        _searched(conn, "scheduled", "A", slots[0].astimezone(UTC))
        _searched(conn, "scheduled", "A", slots[2].astimezone(UTC))
        _searched(conn, "scheduled", "B", slots[1].astimezone(UTC))
    missing = skus_missing_slots(clean_db, ["A", "B"], slots)
    assert missing == {"A": [slots[1]], "B": [slots[0], slots[2]]}
    with clean_db.begin() as conn:  # the backfill run, two days later, searches both
        later = datetime(2026, 12, 5, tzinfo=UTC)
        _searched(conn, "backfill", "A", later)
        _searched(conn, "backfill", "B", later)
    assert skus_missing_slots(clean_db, ["A", "B"], slots) == {}
