"""Reviews that stick (match reject / confirm / import) and matches retired by catalog changes."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from snapprice.errors import ConfigError
from snapprice.models import ListingSnapshot
from snapprice.store import review
from snapprice.store.loader import load_snapshots
from snapprice.store.runs import create_run

pytestmark = pytest.mark.integration


def snap(item, price, platform="taobao"):
    return ListingSnapshot(
        platform=platform, item_id=item, title=f"t{item}", shop="s", url=None, pic_url=None,
        price_low=Decimal(price), price_high=Decimal(price), promo_price=None, original_price=None,
        currency="CNY", sales_lower_bound=None, sales_text=None, rank=1,
    )


def rows(conn, sql, **params):
    return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


def best(conn, sku):
    return rows(conn, "SELECT item_id, effective_price FROM sku_best_price WHERE sku = :s ORDER BY 1", s=sku)


def load(conn, at, items, skus):
    run = create_run(conn, kind="manual", catalog=None, config_digest=None)
    load_snapshots(conn, run, at, items, skus=skus)
    return run


def test_a_rejected_listing_never_counts_again_and_history_is_kept(conn):
    t0 = datetime.now(UTC) - timedelta(days=2)
    load(conn, t0, [snap("bait", "1"), snap("real", "99")], ["A", "B"])
    assert best(conn, "A") == [("bait", Decimal("1.0000"))]

    done = review.apply(conn, [review.DecisionRow("A", "taobao", "bait", "reject", "a deposit")])
    assert (done.decisions, done.retired) == (1, 1)
    assert best(conn, "A") == [("real", Decimal("99.0000"))]
    assert best(conn, "B") == [("bait", Decimal("1.0000"))]  # only A's pair was rejected
    assert rows(conn, "SELECT sku, reason FROM match_retired") == [("A", "rejected")]

    # The next run finds the bait again: it is not matched to A again, still to B.
    load(conn, t0 + timedelta(days=1), [snap("bait", "1"), snap("real", "98")], ["A", "B"])
    assert best(conn, "A") == [("real", Decimal("98.0000"))]
    assert rows(conn, "SELECT count(*) FROM match WHERE sku = 'A'") == [(1,)]
    assert best(conn, "B") == [("bait", Decimal("1.0000"))]
    # The listing's own history is untouched.
    assert rows(conn, "SELECT count(*) FROM price_snapshot s JOIN listing l USING (listing_id) "
                      "WHERE l.item_id = 'bait'") == [(2,)]


def test_confirm_after_reject_brings_the_match_back_and_later_runs_match_again(conn):
    t0 = datetime.now(UTC) - timedelta(days=2)
    load(conn, t0, [snap("x", "10")], ["A"])
    review.apply(conn, [review.DecisionRow("A", "taobao", "x", "reject")])
    assert best(conn, "A") == []
    done = review.apply(conn, [review.DecisionRow("A", "taobao", "x", "confirm")])
    assert done.restored == 1
    assert best(conn, "A") == [("x", Decimal("10.0000"))]
    load(conn, t0 + timedelta(days=1), [snap("x", "11")], ["A"])
    assert best(conn, "A") == [("x", Decimal("11.0000"))]
    assert rows(conn, "SELECT decision FROM match_decision") == [("confirm",)]


def test_unknown_skus_and_listings_are_named(conn):
    load(conn, datetime.now(UTC), [snap("x", "10")], ["A"])
    bad = review.unknown(conn, [
        review.DecisionRow("A", "taobao", "x", "reject"),
        review.DecisionRow("NOPE", "taobao", "x", "reject"),
        review.DecisionRow("A", "jd", "x", "reject"),
    ])
    assert set(bad) == {1, 2}
    assert "unknown SKU 'NOPE'" in bad[1]
    assert "unknown listing jd:x" in bad[2]


def test_import_file_is_refused_line_by_line(tmp_path):
    f = tmp_path / "decisions.csv"
    f.write_text("sku,platform,item_id,decision,note\n"
                 "A,taobao,1,reject,deposit\n"
                 ",taobao,2,reject,\n"
                 "A,taobao,3,maybe,\n"
                 "\n"
                 "B,jd,4,CONFIRM,\n", encoding="utf-8")
    got, lines, refused = review.read_import(f)
    assert [(r.sku, r.item_id, r.decision) for r in got] == [("A", "1", "reject"), ("B", "4", "confirm")]
    assert lines == [2, 6]
    assert [(r.line, r.reason) for r in refused] == [
        (3, "empty sku"), (4, "decision 'maybe' is not reject or confirm")]
    (tmp_path / "bad.csv").write_text("sku,listing\nA,taobao:1\n")
    with pytest.raises(ConfigError, match="lacks platform, item_id, decision"):
        review.read_import(tmp_path / "bad.csv")
    with pytest.raises(ConfigError, match="does not exist"):
        review.read_import(tmp_path / "none.csv")


def test_catalog_changes_retire_dropped_and_reimaged_skus_only(conn):
    d = {k: c * 64 for k, c in {"a": "a", "b": "b", "c": "c", "b2": "d"}.items()}
    conn.execute(sa.text(
        "INSERT INTO catalog_item (sku, image_ref, content_digest) VALUES "
        "('A', 'a.jpg', :a), ('B', 'b.jpg', :b), ('C', 'c.jpg', :c)"), d)
    load(conn, datetime.now(UTC), [snap("x", "10"), snap("y", "20", platform="jd")], ["A", "B", "C"])
    # Today's catalog: A unchanged, B has a new picture, C is gone; D is new (no matches).
    moved = review.retire_catalog_changes(conn, ["A", "B", "D"], [("A", d["a"]), ("B", d["b2"]), ("D", d["c"])])
    assert moved == {"sku_dropped": 2, "sku_reimaged": 2}
    assert rows(conn, "SELECT DISTINCT sku FROM match ORDER BY 1") == [("A",)]
    assert rows(conn, "SELECT sku, reason, count(*) FROM match_retired GROUP BY 1, 2 ORDER BY 1") == [
        ("B", "sku_reimaged", 2), ("C", "sku_dropped", 2)]
    # A SKU whose picture failed to load today is still in the catalog: nothing retired.
    assert review.retire_catalog_changes(conn, ["A"], []) == {}
    assert rows(conn, "SELECT DISTINCT sku FROM match ORDER BY 1") == [("A",)]
