"""Window statistics (sql/migrations/0005_window_stats.sql) on known data, exact numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from snapprice.models import ListingSnapshot
from snapprice.store.loader import load_snapshots
from snapprice.store.runs import create_run

AS_OF = date(2026, 3, 31)


def snap(platform: str, item: str, price: str, promo: str | None = None) -> ListingSnapshot:
    return ListingSnapshot(
        platform=platform, item_id=item, title=f"{platform} {item}", shop="shop", url=None,
        pic_url=None, price_low=Decimal(price), price_high=None,
        promo_price=Decimal(promo) if promo else None, original_price=None, currency="CNY",
        sales_lower_bound=None, sales_text=None, rank=1,
    )


def at(days_before: int, hour: int = 8) -> datetime:
    return datetime.combine(AS_OF - timedelta(days=days_before), time(hour), tzinfo=UTC)


# (days before AS_OF, hour, snapshot); SKU-1 is matched to A and B, SKU-2 to C.
HISTORY = [
    (200, 8, snap("taobao", "A", "10")),  # outside every window
    (150, 8, snap("taobao", "A", "200")),
    (60, 8, snap("taobao", "A", "120")),
    (20, 8, snap("taobao", "A", "100")),
    (20, 20, snap("taobao", "A", "110")),  # same day: the day averages 105
    (10, 8, snap("taobao", "A", "95", promo="80")),  # effective price is the promo
    (0, 8, snap("taobao", "A", "90")),
    (-1, 8, snap("taobao", "A", "1")),  # after AS_OF: ignored
    (5, 9, snap("jd", "B", "50")),
    (1, 9, snap("jd", "B", "45")),
    (0, 10, snap("jd", "C", "30")),
    (200, 9, snap("jd", "D", "70")),  # only outside the windows: no row
]


@pytest.fixture
def history(conn: Connection) -> Connection:
    for days, hour, s in HISTORY:
        run_id = create_run(conn, kind="manual", catalog=None, config_digest=None)
        sku = "SKU-2" if s.item_id == "C" else "SKU-1"
        load_snapshots(conn, run_id, at(days, hour), [s], skus=[sku])
    return conn


def listing_stats(conn: Connection) -> dict[str, dict]:
    rows = conn.execute(
        sa.text("SELECT l.item_id, w.* FROM snapprice_listing_window_stats(:d) AS w JOIN listing AS l "
                "USING (listing_id)"),
        {"d": AS_OF},
    ).mappings().all()
    return {r["item_id"]: dict(r) for r in rows}


D = Decimal


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("A", {"current_price": D("90"), "low_30": D("80"), "high_30": D("110"), "avg_30": D("91.67"),
               "days_30": 3, "pct_vs_avg_30": D("-1.82"), "is_lowest_30": False, "is_new_low_30": False,
               "low_90": D("80"), "high_90": D("120"), "avg_90": D("98.75"), "days_90": 4,
               "pct_vs_avg_90": D("-8.86"), "low_180": D("80"), "high_180": D("200"),
               "avg_180": D("119.00"), "days_180": 5, "pct_vs_avg_180": D("-24.37"),
               "is_lowest_180": False}),
        ("B", {"current_price": D("45"), "low_30": D("45"), "high_30": D("50"), "avg_30": D("47.50"),
               "days_30": 2, "pct_vs_avg_30": D("-5.26"), "is_lowest_30": True, "is_new_low_30": True,
               "is_new_low_180": True}),
        ("C", {"current_price": D("30"), "avg_30": D("30.00"), "days_30": 1, "pct_vs_avg_30": D("0.00"),
               "is_lowest_30": True, "is_new_low_30": False}),
    ],
)
def test_listing_window_stats(history: Connection, item: str, expected: dict) -> None:
    row = listing_stats(history)[item]
    assert {k: row[k] for k in expected} == expected
    assert row["as_of_day"] == AS_OF


def test_listing_outside_the_windows_has_no_row(history: Connection) -> None:
    assert set(listing_stats(history)) == {"A", "B", "C"}


def test_sku_window_stats_per_platform_and_overall(history: Connection) -> None:
    rows = history.execute(
        sa.text("SELECT * FROM snapprice_sku_window_stats(:d) ORDER BY sku, platform NULLS FIRST"),
        {"d": AS_OF},
    ).mappings().all()
    got = {(r["sku"], r["platform"]): r for r in rows}
    assert set(got) == {("SKU-1", None), ("SKU-1", "jd"), ("SKU-1", "taobao"), ("SKU-2", None), ("SKU-2", "jd")}
    overall = got[("SKU-1", None)]
    # one point per run, the cheapest matched offer: 100, 110 (day 105), 80, 50, 45, 90
    assert (overall["current_price"], overall["low_30"], overall["high_30"], overall["avg_30"],
            overall["days_30"], overall["is_lowest_30"]) == (D("90"), D("45"), D("110"), D("74.00"), 5, False)
    jd = got[("SKU-1", "jd")]
    assert (jd["current_price"], jd["low_90"], jd["is_lowest_90"], jd["is_new_low_90"]) == (
        D("45"), D("45"), True, True)
    assert got[("SKU-1", "taobao")]["avg_180"] == D("119.00")


def test_views_are_as_of_today_and_readable(conn: Connection) -> None:
    run_id = create_run(conn, kind="manual", catalog=None, config_digest=None)
    load_snapshots(conn, run_id, datetime.now(UTC), [snap("jd", "T", "12.5")], skus=["SKU-T"])
    row = conn.execute(sa.text("SELECT * FROM listing_window_stats")).mappings().one()
    assert (row["item_id"], row["current_price"], row["days_30"], row["is_lowest_30"]) == ("T", D("12.5"), 1, True)
    assert conn.execute(sa.text("SELECT count(*) FROM sku_window_stats")).scalar_one() == 2  # jd + overall
    for view in ("listing_window_stats", "sku_window_stats", "alert"):
        assert conn.execute(
            sa.text("SELECT has_table_privilege('snapprice_reader', :v, 'SELECT')"), {"v": view}
        ).scalar_one()
