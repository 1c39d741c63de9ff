"""The read path (sql/migrations/0012_read_path.sql): the current-state tables and stored
window statistics equal what the views computed from raw snapshots before them, after
loads, a resumed run, a replay, a bulk load with triggers off, and a change of day zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from snapprice.models import ListingSnapshot
from snapprice.store import readpath
from snapprice.store.loader import load_snapshots
from snapprice.store.runs import create_run

pytestmark = pytest.mark.integration

# The views as 0009_effective_price.sql defined them, over every snapshot: the reference.
REFERENCE = {
    "latest_price": """
        SELECT DISTINCT ON (s.listing_id) l.listing_id, l.platform, l.item_id, l.title, l.shop, l.url,
               s.run_id, s.captured_at, s.price_low, s.price_high, s.promo_price,
               CAST(coalesce(s.promo_price, s.price_low) AS numeric(18,4)) AS effective_price, s.currency,
               s.sales_lower_bound, s.sales_text, s.rank, s.score
        FROM price_snapshot AS s JOIN listing AS l USING (listing_id)
        ORDER BY s.listing_id, s.captured_at DESC, s.run_id DESC""",
    "sku_best_price": """
        WITH matched AS (
            SELECT m.sku, l.platform, m.listing_id, m.best_score, s.run_id, s.captured_at,
                   CAST(coalesce(s.promo_price, s.price_low) AS numeric(18,4)) AS effective_price,
                   s.price_low, s.promo_price, s.currency, s.sales_lower_bound,
                   l.item_id, l.title, l.shop, l.url
            FROM match AS m
            JOIN listing AS l ON l.listing_id = m.listing_id
            JOIN price_snapshot AS s ON s.listing_id = m.listing_id
        ), newest AS (
            SELECT sku, platform, max(run_id) AS run_id FROM matched GROUP BY sku, platform
        )
        SELECT DISTINCT ON (mt.sku, mt.platform)
            mt.sku, mt.platform, mt.listing_id, mt.item_id, mt.title, mt.shop, mt.url,
            mt.effective_price, mt.price_low, mt.promo_price, mt.currency, mt.sales_lower_bound,
            mt.best_score AS score, mt.run_id, mt.captured_at
        FROM matched AS mt JOIN newest AS n USING (sku, platform, run_id)
        ORDER BY mt.sku, mt.platform, mt.effective_price ASC, mt.listing_id""",
    "price_change": """
        SELECT listing_id, platform, item_id, title, currency, prev_captured_at, captured_at, prev_price, price,
               price - prev_price AS change,
               CASE WHEN prev_price > 0 THEN round(100 * (price - prev_price) / prev_price, 2) END AS change_pct
        FROM (
            SELECT l.listing_id, l.platform, l.item_id, l.title, s.currency, s.captured_at,
                   CAST(coalesce(s.promo_price, s.price_low) AS numeric(18,4)) AS price,
                   lag(coalesce(s.promo_price, s.price_low)) OVER w AS prev_price,
                   lag(s.captured_at) OVER w AS prev_captured_at
            FROM price_snapshot AS s JOIN listing AS l USING (listing_id)
            WINDOW w AS (PARTITION BY s.listing_id ORDER BY s.captured_at, s.run_id)
        ) AS t
        WHERE prev_price IS NOT NULL AND price IS DISTINCT FROM prev_price""",
    "sku_window_stats": "SELECT * FROM snapprice_sku_window_stats(snapprice_today())",
    # 0025: the daily rollup per SKU and platform (unflagged prices of matched listings).
    "sku_daily_price": """
        SELECT m.sku, l.platform, (s.captured_at AT TIME ZONE snapprice_day_zone())::date AS day,
               min(coalesce(s.promo_price, s.price_low)) AS min_price, min(s.currency) AS currency
        FROM price_snapshot AS s JOIN match AS m USING (listing_id) JOIN listing AS l USING (listing_id)
        WHERE coalesce(s.price_flag, 'ok') = 'ok'
        GROUP BY 1, 2, 3""",
    "listing_window_stats": """
        SELECT l.platform, l.item_id, l.title, l.shop, w.*
        FROM snapprice_listing_window_stats(snapprice_today()) AS w JOIN listing AS l USING (listing_id)""",
}

NOW = datetime.now(UTC).replace(microsecond=0)


def snap(item: str, price: str, *, promo: str | None = None, platform: str = "taobao",
         rank: int = 1) -> ListingSnapshot:
    return ListingSnapshot(
        platform=platform, item_id=item, title=f"t{item}", shop="s", url=None, pic_url=None,
        price_low=Decimal(price), price_high=None, promo_price=Decimal(promo) if promo else None,
        original_price=None, currency="CNY", sales_lower_bound=None, sales_text=None, rank=rank,
    )


def rows(conn: Connection, sql: str) -> list[tuple]:
    return sorted((tuple(r) for r in conn.execute(sa.text(sql)).all()), key=repr)


def assert_views_match_reference(conn: Connection) -> None:
    for view, reference in REFERENCE.items():
        width = len(conn.execute(sa.text(f"SELECT * FROM ({reference}) AS r LIMIT 0")).keys())
        # The contract's columns; columns added later at the end (0020: flags, price facts)
        # are tested where they are made.
        got = sorted((tuple(r)[:width] for r in conn.execute(sa.text(f"SELECT * FROM {view}")).all()), key=repr)
        want = rows(conn, reference)
        assert got == want, view
        assert want or view == "price_change", f"{view}: the test has no data to compare"


def load(conn: Connection, run: int, at: datetime, snaps: list[ListingSnapshot], sku: str, **kw: object) -> None:
    load_snapshots(conn, run, at, snaps, skus=[sku], **kw)


def new_run(conn: Connection) -> int:
    return create_run(conn, kind="manual", catalog=None, config_digest=None)


@pytest.fixture
def history(conn: Connection) -> Connection:
    """Ten daily runs of two SKUs on two platforms: prices that move, a promotion, a listing
    that vanishes, one that appears, a day one platform is missing."""
    for day in range(10, 0, -1):
        run = new_run(conn)
        at = NOW - timedelta(days=day)
        a = [snap("A1", str(100 - day % 3), promo="80" if day == 4 else None), snap("A2", "105", rank=2)]
        if day > 5:
            a.append(snap("A3", str(90 + day), rank=3))  # vanishes after day 5
        load(conn, run, at, a, "SKU-A")
        if day != 7:  # jd missed a day
            b = [snap("B1", str(50 + day), platform="jd")]
            if day < 4:
                b.append(snap("B2", "49", platform="jd", rank=2))  # new, cheaper
            load(conn, run, at + timedelta(minutes=3), b, "SKU-B")
        load(conn, run, at + timedelta(minutes=5), [snap("A1", "55", platform="jd")], "SKU-A")
    return conn


def test_views_equal_the_reference_after_loads(history: Connection) -> None:
    assert_views_match_reference(history)  # windows and days computed on read (every SKU written)
    readpath.refresh_windows(history)
    assert readpath.refresh_days(history) > 0
    assert history.execute(sa.text("SELECT count(*) FROM sku_window_dirty")).scalar_one() == 0
    assert history.execute(sa.text("SELECT count(*) FROM sku_day_dirty")).scalar_one() == 0
    assert_views_match_reference(history)  # windows and days stored
    assert rows(history, "SELECT sku, platform, day, price, currency FROM sku_day") \
        == rows(history, REFERENCE["sku_daily_price"])
    stored = rows(history, "SELECT * FROM sku_window WHERE as_of_day = snapprice_today()")
    assert stored == rows(history, REFERENCE["sku_window_stats"])


def test_a_load_after_the_refresh_is_seen_at_once(history: Connection) -> None:
    readpath.refresh_windows(history)
    run = new_run(history)
    load(history, run, NOW, [snap("B1", "20", platform="jd")], "SKU-B")
    assert rows(history, "SELECT DISTINCT sku FROM sku_window_dirty") == [("SKU-B",)]
    assert_views_match_reference(history)
    assert readpath.refresh_windows(history) == 1  # only the SKU written
    assert_views_match_reference(history)
    readpath.refresh_days(history)
    load(history, new_run(history), NOW, [snap("B1", "19", platform="jd")], "SKU-B")
    assert rows(history, "SELECT sku, day FROM sku_day_dirty") == [("SKU-B", NOW.date())]  # UTC days here
    assert_views_match_reference(history)  # the stored days, and the one written computed now
    assert readpath.refresh_days(history) == 1
    assert_views_match_reference(history)


def assert_days_match(conn: Connection) -> None:
    """sku_daily_price alone (the other references predate the price flags)."""
    got, want = rows(conn, "SELECT * FROM sku_daily_price"), rows(conn, REFERENCE["sku_daily_price"])
    assert got == want and want


def test_the_daily_rollup_follows_flags_match_changes_and_a_new_zone(history: Connection) -> None:
    readpath.refresh_days(history)
    history.execute(sa.text("UPDATE price_snapshot SET price_flag = 'suspect_low' WHERE price_low < 52"))
    history.execute(sa.text("DELETE FROM match WHERE listing_id IN "
                            "(SELECT listing_id FROM listing WHERE item_id = 'A2')"))  # a match retired
    assert_days_match(history)
    readpath.refresh_days(history)
    assert_days_match(history)
    load(history, new_run(history), NOW - timedelta(days=3, minutes=1), [snap("A2", "1", rank=2)], "SKU-A")
    readpath.refresh_days(history)  # the listing matched again: all its days are back
    assert_days_match(history)
    readpath.use_day_zone(history, "Pacific/Kiritimati")  # +14 h: other days
    assert history.execute(sa.text("SELECT count(*) FROM sku_day")).scalar_one() == 0
    assert_days_match(history)  # computed from the snapshots until rebuilt
    assert readpath.refresh_days(history) == -1
    assert_days_match(history)


def test_a_resumed_run_and_a_repeated_batch(history: Connection) -> None:
    run = new_run(history)
    load(history, run, NOW - timedelta(minutes=30), [snap("A1", "70")], "SKU-A")
    # resumed later: the rest of the run's tasks, and one task's batch again (no change)
    load(history, run, NOW - timedelta(minutes=10), [snap("A2", "60", rank=2)], "SKU-A")
    load(history, run, NOW - timedelta(minutes=10), [snap("A2", "61", rank=2)], "SKU-A")
    load(history, run, NOW - timedelta(minutes=5), [snap("B1", "44", platform="jd")], "SKU-B")
    assert_views_match_reference(history)
    assert history.execute(sa.text(
        "SELECT effective_price FROM latest_price WHERE item_id = 'A2'")).scalar_one() == Decimal("60")


def test_a_replay_that_rewrites_history_fixes_them(history: Connection) -> None:
    raw = history.execute(sa.text(
        "SELECT run_id, captured_at FROM price_snapshot JOIN listing USING (listing_id) "
        "WHERE item_id = 'A1' AND platform = 'taobao' ORDER BY captured_at LIMIT 1 OFFSET 4")).one()
    # the parser fixed: that snapshot's price was 10 times too high
    load(history, raw.run_id, raw.captured_at, [snap("A1", "9.9")], "SKU-A", update_existing=True)
    assert history.execute(sa.text(
        "SELECT count(*) FROM price_change WHERE price = 9.9 OR prev_price = 9.9")).scalar_one() == 2
    assert_views_match_reference(history)
    readpath.refresh_windows(history)
    assert_views_match_reference(history)


def test_an_older_snapshot_arriving_late(history: Connection) -> None:
    # A replay into the first run of an archived response not loaded then: older than the
    # listings' newest snapshots (captured_at is the original time; runs keep their order).
    first = history.execute(sa.text("SELECT min(run_id) FROM run")).scalar_one()
    load(history, first, NOW - timedelta(days=10, minutes=-30), [snap("A1", "1"), snap("NEW", "5")], "SKU-A")
    assert_views_match_reference(history)


def test_deleted_snapshots_and_listings(history: Connection) -> None:
    history.execute(sa.text("DELETE FROM price_snapshot WHERE captured_at > :t"), {"t": NOW - timedelta(days=2)})
    history.execute(sa.text("DELETE FROM listing WHERE item_id = 'B2'"))
    assert_views_match_reference(history)


def test_history_written_with_triggers_off_needs_a_refresh(history: Connection) -> None:
    readpath.refresh_windows(history)
    history.execute(sa.text("SET LOCAL session_replication_role = replica"))
    history.execute(sa.text(
        "INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low, currency) "
        "SELECT listing_id, run_id, captured_at + interval '1 hour', price_low / 2, currency "
        "FROM price_snapshot WHERE captured_at > :t"), {"t": NOW - timedelta(days=3)})
    history.execute(sa.text("SET LOCAL session_replication_role = DEFAULT"))
    assert rows(history, "SELECT * FROM latest_price") != rows(history, REFERENCE["latest_price"])
    readpath.refresh(history)
    assert_views_match_reference(history)


def test_a_missing_sku_or_listing_is_empty(history: Connection) -> None:
    readpath.refresh_windows(history)
    for sql in ("SELECT * FROM latest_price WHERE listing_id = -1",
                "SELECT * FROM daily_price WHERE listing_id = -1",
                "SELECT * FROM price_change WHERE listing_id = -1",
                "SELECT * FROM listing_window_stats WHERE listing_id = -1",
                "SELECT * FROM sku_best_price WHERE sku = 'NO-SUCH'",
                "SELECT * FROM sku_window_stats WHERE sku = 'NO-SUCH'"):
        assert history.execute(sa.text(sql)).all() == [], sql


def test_one_sku_reads_its_own_rows(history: Connection) -> None:
    readpath.refresh_windows(history)
    for view in ("sku_best_price", "sku_window_stats"):
        one = rows(history, f"SELECT * FROM {view} WHERE sku = 'SKU-B'")
        assert one and one == [r for r in rows(history, f"SELECT * FROM {view}") if r[0] == "SKU-B"]


def test_days_with_data_counts_the_skus_local_days(history: Connection) -> None:
    got = dict(history.execute(sa.text(
        "SELECT coalesce(platform, '*'), days_with_data FROM sku_window_stats WHERE sku = 'SKU-B'")).all())
    # SKU-B: jd on 9 of the 10 days (as of today, which has no run yet)
    assert got == {"*": 9, "jd": 9}


SHANGHAI_07_00 = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)  # 2026-03-11 07:00 in Asia/Shanghai


def test_a_run_at_seven_in_shanghai_lands_on_its_own_local_date(conn: Connection) -> None:
    assert readpath.day_zone(conn) == "UTC"
    assert readpath.use_day_zone(conn, "Asia/Shanghai")
    assert not readpath.use_day_zone(conn, "Asia/Shanghai")  # unchanged: nothing to drop
    for days in (1, 0):
        load(conn, new_run(conn), SHANGHAI_07_00 - timedelta(days=days), [snap("Z", str(10 + days))], "SKU-Z")
    assert conn.execute(sa.text("SELECT day, min_price FROM daily_price ORDER BY day")).all() == [
        (date(2026, 3, 10), Decimal("11")), (date(2026, 3, 11), Decimal("10"))]
    stats = conn.execute(sa.text(
        "SELECT as_of_day, current_price, days_30, days_with_data FROM snapprice_sku_window_stats(:d) "
        "WHERE platform IS NULL"), {"d": date(2026, 3, 11)}).one()
    assert tuple(stats) == (date(2026, 3, 11), Decimal("10"), 2, 2)
    # In UTC the same run is filed under the day before.
    assert readpath.use_day_zone(conn, "UTC")
    assert conn.execute(sa.text("SELECT max(day) FROM daily_price")).scalar_one() == date(2026, 3, 10)


def test_an_unknown_zone_is_refused(conn: Connection) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="time zone"):
        readpath.use_day_zone(conn, "Mars/Olympus")


def test_db_refresh_rebuilds_what_a_bulk_load_bypassed(clean_db: sa.Engine, database_url: str, tmp_path) -> None:
    import os
    import subprocess
    import sys

    with clean_db.begin() as c:
        run = new_run(c)
        load(c, run, NOW - timedelta(days=1), [snap("R1", "10"), snap("R2", "20")], "SKU-R")
        c.execute(sa.text("SET LOCAL session_replication_role = replica"))
        c.execute(sa.text("DELETE FROM listing_current"))
    cfg = tmp_path / "c.toml"
    cfg.write_text("[report]\ntimezone = 'UTC'\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "snapprice", "--config", str(cfg), "db", "refresh"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DATABASE_URL": database_url})
    assert out.returncode == 0, out.stderr
    assert "days in UTC" in out.stdout
    with clean_db.connect() as c:
        assert rows(c, "SELECT item_id, effective_price FROM latest_price") == [
            ("R1", Decimal("10")), ("R2", Decimal("20"))]
        assert c.execute(sa.text("SELECT count(*) FROM sku_window_day")).scalar_one() == 2


def test_a_flag_set_in_place_follows_without_rebuilding_history(history: Connection) -> None:
    """0026: the run-end flag UPDATE touches listing_current's flag only; a price fix rebuilds."""
    changes = "SELECT ctid::text, listing_id FROM listing_change ORDER BY 2, 1"
    before = rows(history, changes)
    history.execute(sa.text("UPDATE price_snapshot SET price_flag = 'ok'"))
    history.execute(sa.text("UPDATE price_snapshot SET price_flag = 'suspect_low' WHERE price_low < 52"))
    assert rows(history, changes) == before  # no listing rebuilt from its history
    flags = """SELECT lp.item_id, lp.price_flag, s.price_flag FROM latest_price AS lp
               JOIN price_snapshot AS s USING (listing_id, captured_at, run_id)"""
    got = rows(history, flags)
    assert got and all(a == b for _, a, b in got) and ("B2", "suspect_low", "suspect_low") in got
    history.execute(sa.text("UPDATE price_snapshot SET price_low = price_low + 1 WHERE listing_id IN "
                            "(SELECT listing_id FROM listing WHERE item_id = 'A3')"))
    assert rows(history, changes) != before  # a price changed: that listing is rebuilt
    assert rows(history, "SELECT * FROM price_change") == rows(history, REFERENCE["price_change"])
