from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from snapprice.models import ListingSnapshot
from snapprice.store.loader import load_snapshots, validate_snapshot
from snapprice.store.runs import create_run

pytestmark = pytest.mark.integration

T1 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def snap(item="1", price="10.00", promo=None, rank=1, **kw):
    base = dict(platform="taobao", item_id=item, title=f"item {item}", shop="shop", url=None,
                pic_url=None, price_low=Decimal(price) if price is not None else None,
                price_high=Decimal(price) if price is not None else None,
                promo_price=Decimal(promo) if promo else None, original_price=None,
                currency="CNY", sales_lower_bound=100, sales_text="100+人付款", rank=rank)
    base.update(kw)
    return ListingSnapshot(**base)


def rows(conn, sql):
    return [tuple(r) for r in conn.execute(sa.text(sql)).all()]


def test_same_batch_twice_changes_nothing(conn):
    run = create_run(conn, kind="manual", catalog="c", config_digest="d")
    batch = [snap("1", "10.00"), snap("2", "20.00", "18.00", rank=2)]
    first = load_snapshots(conn, run, T1, batch, skus=["A"])
    assert (first.listings, first.snapshots, first.matches) == (2, 2, 2)
    before = rows(conn, "SELECT * FROM price_snapshot ORDER BY listing_id") + rows(
        conn, "SELECT * FROM listing ORDER BY listing_id") + rows(conn, "SELECT * FROM match")
    again = load_snapshots(conn, run, T1, batch, skus=["A"])
    assert (again.listings, again.snapshots, again.matches) == (0, 0, 0)
    after = rows(conn, "SELECT * FROM price_snapshot ORDER BY listing_id") + rows(
        conn, "SELECT * FROM listing ORDER BY listing_id") + rows(conn, "SELECT * FROM match")
    assert before == after


def test_listing_keeps_first_seen_and_moves_last_seen(conn):
    r1 = create_run(conn, kind="manual", catalog="c", config_digest="d")
    r2 = create_run(conn, kind="manual", catalog="c", config_digest="d")
    load_snapshots(conn, r1, T1, [snap("1", "10.00")], skus=["A"])
    load_snapshots(conn, r2, T2, [snap("1", "12.00", title="new title")], skus=["A"])
    (first, last, title, first_run, last_run), = rows(
        conn, "SELECT first_seen, last_seen, title, first_run_id, last_run_id FROM listing")
    assert (first, last, title, first_run, last_run) == (T1, T2, "new title", r1, r2)
    assert rows(conn, "SELECT times_seen, last_run_id FROM match") == [(2, r2)]
    assert rows(conn, "SELECT count(*) FROM price_snapshot") == [(2,)]


def test_one_snapshot_per_listing_and_run(conn):
    run = create_run(conn, kind="manual", catalog="c", config_digest="d")
    load_snapshots(conn, run, T1, [snap("1", "10.00", rank=3)], skus=["A"], group_id=0)
    later = datetime(2026, 11, 20, 8, 5, tzinfo=UTC)
    res = load_snapshots(conn, run, later, [snap("1", "10.00", rank=1)], skus=["B"], group_id=1)
    assert res.snapshots == 0 and res.matches == 1
    assert rows(conn, "SELECT count(*), min(rank) FROM price_snapshot") == [(1, 3)]
    assert rows(conn, "SELECT sku FROM match ORDER BY sku") == [("A",), ("B",)]


def test_update_existing_rewrites_values_for_replay(conn):
    run = create_run(conn, kind="manual", catalog="c", config_digest="d")
    load_snapshots(conn, run, T1, [snap("1", "10.00")])
    res = load_snapshots(conn, run, T1, [snap("1", "11.00")], update_existing=True)
    assert res.snapshots == 1
    assert rows(conn, "SELECT price_low FROM price_snapshot") == [(Decimal("11.0000"),)]
    res = load_snapshots(conn, run, T1, [snap("1", "11.00")], update_existing=True)
    assert res.snapshots == 0


def test_price_facts_are_stored_and_a_replay_fills_them_in(conn):
    run = create_run(conn, kind="manual", catalog="c", config_digest="d")
    load_snapshots(conn, run, T1, [snap("1", "10.00", location="浙江 杭州", shop_type="tmall")])
    assert rows(conn, "SELECT shipping_fee, coupon_amount, price_after_coupon FROM price_snapshot") == [
        (None, None, None)]
    # A parser that now reads the shipping fee and the coupon: the replay adds them.
    facts = dict(shipping_fee=Decimal("8"), coupon_amount=Decimal("2"), price_after_coupon=Decimal("8"),
                 location="浙江 杭州", shop_type="tmall", repurchase_rate=0.25)
    res = load_snapshots(conn, run, T1, [snap("1", "10.00", **facts)], update_existing=True)
    assert res.snapshots == 1
    assert rows(conn, "SELECT shipping_fee, coupon_amount, price_after_coupon FROM price_snapshot") == [
        (Decimal("8.0000"), Decimal("2.0000"), Decimal("8.0000"))]
    assert rows(conn, "SELECT location, shop_type, repurchase_rate FROM listing") == [("浙江 杭州", "tmall", 0.25)]
    # A later sighting that does not say keeps what is known.
    load_snapshots(conn, create_run(conn, kind="manual", catalog="c", config_digest="d"), T2, [snap("1", "9.00")])
    assert rows(conn, "SELECT location, shop_type, repurchase_rate FROM listing") == [("浙江 杭州", "tmall", 0.25)]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (snap("9", price="NaN"), "not finite"),
        (snap("9", price="-1"), "negative"),
        (snap("9", price="999999999999"), "absurd"),
        (snap("9", price=None), "no price"),
        (snap("9", shipping_fee=Decimal("-5")), "negative"),
        (snap("9", currency="yuan"), "bad currency"),
        (snap("9", price_high=Decimal("1")), "price_high below price_low"),
        (snap("", price="1"), "missing platform or item id"),
    ],
)
def test_bad_row_is_rejected_and_good_rows_load(conn, bad, reason):
    assert reason in (validate_snapshot(bad) or "")
    run = create_run(conn, kind="manual", catalog="c", config_digest="d")
    res = load_snapshots(conn, run, T1, [snap("1"), bad, snap("2")])
    assert res.snapshots == 2
    assert len(res.rejects) == 1
    ((stage, why, detail),) = rows(conn, "SELECT stage, reason, detail FROM reject")
    assert (stage, why) == ("load", "invalid_row") and reason in detail
    # reloading records the reject once, not twice
    load_snapshots(conn, run, T1, [snap("1"), bad, snap("2")])
    assert rows(conn, "SELECT count(*) FROM reject") == [(1,)]


def test_listing_and_match_added_by_a_concurrent_loader_are_merged(clean_db):
    # The other loader's rows are uncommitted when ours starts: our plain INSERT waits, hits
    # the unique keys when it commits, and the upsert fallback merges into its rows instead.
    import threading

    with clean_db.begin() as c:
        r1 = create_run(c, kind="manual", catalog="c", config_digest="d")
        r2 = create_run(c, kind="manual", catalog="c", config_digest="d")
    other = clean_db.connect()
    other.begin()
    load_snapshots(other, r1, T1, [snap("1", "10.00")], skus=["A"])
    result = {}

    def ours():
        with clean_db.begin() as c:
            result["res"] = load_snapshots(c, r2, T2, [snap("1", "12.00", title="new"), snap("2")], skus=["A"])

    t = threading.Thread(target=ours)
    t.start()
    t.join(0.5)
    assert t.is_alive()  # blocked on the other loader's uncommitted listing
    other.commit()
    other.close()
    t.join(10)
    res = result["res"]
    assert (res.listings, res.snapshots, res.matches) == (2, 2, 2)
    with clean_db.connect() as c:
        assert rows(c, "SELECT item_id, first_seen, last_seen, title, first_run_id, last_run_id "
                       "FROM listing ORDER BY item_id") == [("1", T1, T2, "new", r1, r2),
                                                            ("2", T2, T2, "item 2", r2, r2)]
        assert rows(c, "SELECT l.item_id, m.times_seen, m.last_run_id FROM match m JOIN listing l USING (listing_id)"
                       " ORDER BY 1") == [("1", 2, r2), ("2", 1, r2)]
        assert rows(c, "SELECT count(*) FROM price_snapshot") == [(3,)]


def test_the_pack_follows_the_title_and_unit_price_reads_it(conn):
    run = create_run(conn, kind="manual", catalog="c", config_digest="d")
    load_snapshots(conn, run, T1, [snap("1", "59.90", title="可口可乐 330ml×24罐", pack_unit="ml",
                                        pack_count=Decimal("7920"))])
    assert rows(conn, "SELECT pack_unit, pack_count, unit_price(59.90, pack_unit, pack_count) FROM listing") == [
        ("ml", Decimal("7920"), Decimal("7.5631"))]
    # The seller retitles the listing without a pack: the old pack no longer holds.
    load_snapshots(conn, create_run(conn, kind="manual", catalog="c", config_digest="d"), T2,
                   [snap("1", "3.00", title="可口可乐 单罐")])
    assert rows(conn, "SELECT pack_unit, pack_count FROM listing") == [(None, None)]
    assert rows(conn, "SELECT unit_price(5, 'piece', 2), unit_price(5, NULL, NULL), unit_price(NULL, 'g', 500)") == [
        (Decimal("2.5000"), None, None)]
