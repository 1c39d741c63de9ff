import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

from snapprice.models import ListingSnapshot
from snapprice.store.loader import ensure_partitions, load_snapshots
from snapprice.store.runs import create_run

pytestmark = pytest.mark.integration


def q(conn, sql, **params):
    return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


def snap(item, price, promo=None, platform="taobao", sales=None, rank=1):
    return ListingSnapshot(
        platform=platform, item_id=item, title=f"t{item}", shop="s", url=None, pic_url=None,
        price_low=Decimal(price), price_high=Decimal(price),
        promo_price=Decimal(promo) if promo else None, original_price=None, currency="CNY",
        sales_lower_bound=sales, sales_text=None, rank=rank,
    )


def test_tables_views_and_indexes_exist(conn):
    names = {r[0] for r in q(conn, "SELECT table_name FROM information_schema.tables "
                                   "WHERE table_schema = current_schema()")}
    assert {"run", "catalog_item", "image_hash", "image_group", "search_task", "raw_response",
            "listing", "price_snapshot", "match", "reject", "latest_price", "daily_price",
            "sku_best_price", "price_change"} <= names
    idx = q(conn, "SELECT indexdef FROM pg_indexes WHERE indexname = 'price_snapshot_captured_brin'")
    assert "brin" in idx[0][0].lower()
    assert q(conn, "SELECT partstrat FROM pg_partitioned_table "
                   "WHERE partrelid = 'price_snapshot'::regclass") == [("r",)]


# The views are an API (docs/schema.md): their columns, in this order, of these types.
VIEW_COLUMNS = {
    "latest_price": [
        ("listing_id", "bigint"), ("platform", "text"), ("item_id", "text"), ("title", "text"), ("shop", "text"),
        ("url", "text"), ("run_id", "bigint"), ("captured_at", "timestamp with time zone"),
        ("price_low", "numeric(18,4)"), ("price_high", "numeric(18,4)"), ("promo_price", "numeric(18,4)"),
        ("effective_price", "numeric(18,4)"), ("currency", "character(3)"), ("sales_lower_bound", "bigint"),
        ("sales_text", "text"), ("rank", "integer"), ("score", "real"),
        ("price_flag", "text"), ("shipping_fee", "numeric(18,4)"), ("landed_price", "numeric(18,4)"),
        ("coupon_amount", "numeric(18,4)"), ("price_after_coupon", "numeric(18,4)"), ("unit_price", "numeric"),
        ("location", "text"), ("shop_type", "text")],
    "daily_price": [
        ("listing_id", "bigint"), ("platform", "text"), ("item_id", "text"), ("day", "date"),
        ("min_price", "numeric"), ("max_price", "numeric"), ("avg_price", "numeric"), ("last_price", "numeric"),
        ("sales_lower_bound", "bigint"), ("n_snapshots", "bigint"), ("currency", "bpchar")],
    "sku_best_price": [
        ("sku", "text"), ("platform", "text"), ("listing_id", "bigint"), ("item_id", "text"), ("title", "text"),
        ("shop", "text"), ("url", "text"), ("effective_price", "numeric(18,4)"), ("price_low", "numeric(18,4)"),
        ("promo_price", "numeric(18,4)"), ("currency", "character(3)"), ("sales_lower_bound", "bigint"),
        ("score", "real"), ("run_id", "bigint"), ("captured_at", "timestamp with time zone"),
        ("shipping_fee", "numeric(18,4)"), ("landed_price", "numeric(18,4)"), ("unit_price", "numeric"),
        ("location", "text"), ("shop_type", "text")],
    "price_change": [
        ("listing_id", "bigint"), ("platform", "text"), ("item_id", "text"), ("title", "text"),
        ("currency", "character(3)"), ("prev_captured_at", "timestamp with time zone"),
        ("captured_at", "timestamp with time zone"), ("prev_price", "numeric"), ("price", "numeric(18,4)"),
        ("change", "numeric"), ("change_pct", "numeric")],
}


@pytest.mark.parametrize("view", sorted(VIEW_COLUMNS))
def test_view_columns_are_the_contract(conn, view):
    assert q(conn, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                   "WHERE attrelid = CAST(:v AS regclass) AND attnum > 0 ORDER BY attnum", v=view) == VIEW_COLUMNS[view]


def test_effective_price_is_the_promotion_else_the_price_and_inlined(conn):
    assert q(conn, "SELECT effective_price(NULL, 5), effective_price(3, 5), effective_price(NULL, NULL)") == [
        (5, 3, None)]
    assert q(conn, "SELECT provolatile, proparallel FROM pg_proc WHERE proname = 'effective_price'") == [("i", "s")]
    # The planner inlines the call: plans are those of the coalesce it stands for.
    plan = "\n".join(r[0] for r in q(conn, "EXPLAIN VERBOSE SELECT effective_price(promo_price, price_low) "
                                            "FROM price_snapshot"))
    assert re.search(r"COALESCE\((\w+)\.promo_price, \1\.price_low\)", plan), plan
    assert "effective_price" not in plan
    conn.execute(sa.text("SET LOCAL ROLE snapprice_reader"))  # what analysts use may call it
    assert q(conn, "SELECT effective_price(1, 2)") == [(1,)]


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        ("INSERT INTO run (kind) VALUES ('weekly')", "run_kind_check"),
        ("INSERT INTO listing (platform, item_id, first_seen, last_seen) "
         "VALUES ('taobao', '', now(), now())", "listing_item_id_check"),
        ("INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low) "
         "SELECT l, r, now(), -1 FROM (SELECT max(listing_id) l FROM listing) a, "
         "(SELECT max(run_id) r FROM run) b", "price_snapshot_price_low_check"),
        ("INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low, currency) "
         "SELECT l, r, now(), 1, 'cny' FROM (SELECT max(listing_id) l FROM listing) a, "
         "(SELECT max(run_id) r FROM run) b", "price_snapshot_currency_check"),
        ("INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low) "
         "VALUES (999999, 999999, now(), 1)", "price_snapshot_listing_id_fkey"),
    ],
)
def test_constraints(conn, sql, constraint):
    run = create_run(conn, kind="manual", catalog=None, config_digest=None)
    load_snapshots(conn, run, datetime.now(UTC), [snap("1", "5")])
    with pytest.raises((IntegrityError, DBAPIError)) as err, conn.begin_nested():
        conn.execute(sa.text(sql))
    assert constraint in str(err.value)


def test_partition_routing_and_strays(conn):
    run = create_run(conn, kind="manual", catalog=None, config_digest=None)
    now = datetime.now(UTC)
    load_snapshots(conn, run, now, [snap("1", "5")])
    part = q(conn, "SELECT tableoid::regclass::text FROM price_snapshot")[0][0]
    assert part == f"price_snapshot_{now:%Y%m}"
    # a stray far in the future lands in the default partition ...
    far = datetime(2031, 3, 4, tzinfo=UTC)
    conn.execute(sa.text("INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low) "
                         "SELECT listing_id, :r, :t, 1 FROM listing"), {"r": run, "t": far})
    assert q(conn, "SELECT count(*) FROM price_snapshot_default") == [(1,)]
    # ... and moves to its own month when that partition is created
    assert ensure_partitions(conn, far, 0) == 1
    assert q(conn, "SELECT count(*) FROM price_snapshot_default") == [(0,)]
    assert q(conn, "SELECT count(*) FROM price_snapshot_203103") == [(1,)]
    assert ensure_partitions(conn, far, 0) == 0


def test_views_on_known_data(conn):
    d1 = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)
    r1 = create_run(conn, kind="manual", catalog=None, config_digest=None)
    r2 = create_run(conn, kind="manual", catalog=None, config_digest=None)
    r3 = create_run(conn, kind="manual", catalog=None, config_digest=None)
    load_snapshots(conn, r1, d1, [snap("a", "100", sales=10), snap("b", "90", "80"),
                                  snap("j", "85", platform="jd")], skus=["SKU1"])
    load_snapshots(conn, r2, d1 + timedelta(hours=5), [snap("a", "120"), snap("b", "90", "70")],
                   skus=["SKU1"])
    load_snapshots(conn, r3, d1 + timedelta(days=1), [snap("a", "60"), snap("j", "99", platform="jd")],
                   skus=["SKU1"])

    latest = q(conn, "SELECT item_id, effective_price, run_id FROM latest_price ORDER BY item_id")
    assert latest == [("a", Decimal("60.0000"), r3), ("b", Decimal("70.0000"), r2),
                      ("j", Decimal("99.0000"), r3)]

    daily = q(conn, "SELECT item_id, day::text, min_price, max_price, avg_price, last_price, "
                    "n_snapshots FROM daily_price WHERE item_id = 'a' ORDER BY day")
    assert daily == [
        ("a", "2026-11-10", Decimal("100.0000"), Decimal("120.0000"), Decimal("110.00"),
         Decimal("120.0000"), 2),
        ("a", "2026-11-11", Decimal("60.0000"), Decimal("60.0000"), Decimal("60.00"),
         Decimal("60.0000"), 1),
    ]

    # taobao: newest run with SKU1's taobao matches is r3, which only saw "a"
    best = q(conn, "SELECT sku, platform, item_id, effective_price FROM sku_best_price ORDER BY platform")
    assert best == [("SKU1", "jd", "j", Decimal("99.0000")),
                    ("SKU1", "taobao", "a", Decimal("60.0000"))]

    changes = q(conn, "SELECT item_id, prev_price, price, change, change_pct FROM price_change "
                      "ORDER BY item_id, captured_at")
    assert changes == [
        ("a", Decimal("100.0000"), Decimal("120.0000"), Decimal("20.0000"), Decimal("20.00")),
        ("a", Decimal("120.0000"), Decimal("60.0000"), Decimal("-60.0000"), Decimal("-50.00")),
        ("b", Decimal("80.0000"), Decimal("70.0000"), Decimal("-10.0000"), Decimal("-12.50")),
        ("j", Decimal("85.0000"), Decimal("99.0000"), Decimal("14.0000"), Decimal("16.47")),
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO run (kind) VALUES ('manual')",
        "UPDATE listing SET title = 'x'",
        "DELETE FROM price_snapshot",
        "CREATE TABLE sneaky (x int)",
    ],
)
def test_reader_role_cannot_write(conn, sql):
    run = create_run(conn, kind="manual", catalog=None, config_digest=None)
    load_snapshots(conn, run, datetime.now(UTC), [snap("1", "5")])
    conn.execute(sa.text("SET LOCAL ROLE snapprice_reader"))
    assert q(conn, "SELECT count(*) FROM latest_price") == [(1,)]
    with pytest.raises(DBAPIError, match="permission denied"), conn.begin_nested():
        conn.execute(sa.text(sql))


def test_example_queries_run_and_answer(conn):
    """sql/queries must never rot: each runs on known data and returns rows."""
    from snapprice.paths import queries_dir

    d1 = datetime.now(UTC) - timedelta(days=2)
    r1 = create_run(conn, kind="manual", catalog=None, config_digest=None)
    r2 = create_run(conn, kind="manual", catalog=None, config_digest=None)
    load_snapshots(conn, r1, d1, [snap("a", "100", sales=10), snap("gone", "50", sales=5),
                                  snap("j", "80", platform="jd")], skus=["SKU-00001"])
    load_snapshots(conn, r2, d1 + timedelta(days=1), [snap("a", "90", sales=20),
                                                      snap("j", "85", platform="jd")],
                   skus=["SKU-00001"])
    files = sorted(queries_dir().glob("*.sql"))
    assert len(files) >= 5
    answers = {f.name: q(conn, f.read_text()) for f in files}
    assert all(answers.values()), [n for n, rows in answers.items() if not rows]
    assert answers["02_cheapest_platform_per_sku_today.sql"][0][:3] == (
        "SKU-00001", "jd", Decimal("85.0000"))
    assert [r[1] for r in answers["04_listings_that_disappeared.sql"]] == ["gone"]
    assert answers["03_biggest_drops_this_week.sql"][0][1] == "a"
