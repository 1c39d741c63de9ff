"""Bait and outlier guard: price_flag of a run's snapshots, and alerts never raised on them."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from snapprice.alerts.rules import evaluate_in
from snapprice.models import ListingSnapshot
from snapprice.settings import AlertSettings, FlagSettings
from snapprice.store.flags import flag_in
from snapprice.store.loader import load_snapshots
from snapprice.store.runs import create_run

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def snap(item, price, title=None, platform="taobao"):
    return ListingSnapshot(
        platform=platform, item_id=item, title=title or f"悦品保温杯 {item}", shop="s", url=None, pic_url=None,
        price_low=Decimal(price), price_high=Decimal(price), promo_price=None, original_price=None,
        currency="CNY", sales_lower_bound=None, sales_text=None, rank=1,
    )


def flags(conn, run):
    return dict(conn.execute(sa.text(
        "SELECT l.item_id, s.price_flag FROM price_snapshot s JOIN listing l USING (listing_id) "
        "WHERE s.run_id = :r"), {"r": run}).all())


def run_with(conn, at, items, skus=("SKU-1",)):
    run = create_run(conn, kind="manual", catalog=None, config_digest=None)
    load_snapshots(conn, run, at, items, skus=list(skus))
    return run


HONEST = [snap("a", "100"), snap("b", "92"), snap("c", "118", platform="jd"), snap("d", "71", platform="1688")]


def test_bait_titles_cheap_accessories_and_decoys_are_flagged_a_clearance_is_not(conn):
    run = run_with(conn, T0, [
        *HONEST,
        snap("dep", "5", "【定金】悦品保温杯 预售"),
        snap("chg", "88", "悦品保温杯 拍下改价"),          # bait by its words, whatever its price
        snap("acc", "12", "悦品保温杯 保护套"),            # an accessory: 12 % of the median
        snap("dec", "650", "【百亿补贴】官方原价 悦品保温杯"),  # a decoy anchor
        snap("clr", "62", "清仓特价 悦品保温杯"),           # an honest clearance at -35 %
        snap("Pre", "9", "悦品保温杯 PRE-ORDER"),          # words match whatever their case
    ])
    assert flag_in(conn, FlagSettings(), run) == 10
    assert flags(conn, run) == {
        "a": "ok", "b": "ok", "c": "ok", "d": "ok", "clr": "ok",
        "dep": "bait_title", "chg": "bait_title", "Pre": "bait_title",
        "acc": "suspect_low", "dec": "suspect_high",
    }
    assert flag_in(conn, FlagSettings(), run) == 0  # idempotent


def test_too_few_listings_for_a_median_leave_only_the_title_and_own_history_rules(conn):
    run = run_with(conn, T0, [snap("a", "100"), snap("acc", "12")])
    flag_in(conn, FlagSettings(), run)
    assert flags(conn, run) == {"a": "ok", "acc": "ok"}
    # The listing's own history: 100, 100, then 20 is under 0.3 of its own median.
    for day in (1, 2):
        flag_in(conn, FlagSettings(), run_with(conn, T0 + timedelta(days=day), [snap("a", "100")]))
    last = run_with(conn, T0 + timedelta(days=3), [snap("a", "20")])
    flag_in(conn, FlagSettings(), last)
    assert flags(conn, last) == {"a": "suspect_low"}


def test_disabled_or_wordless_settings_flag_nothing(conn):
    run = run_with(conn, T0, [*HONEST, snap("dep", "5", "【定金】悦品保温杯")])
    assert flag_in(conn, FlagSettings(enabled=False), run) == 0
    flag_in(conn, FlagSettings(bait_words=[], low_ratio=0.01), run)
    assert flags(conn, run)["dep"] == "ok"


def test_a_flagged_price_is_never_an_alert_nor_the_previous_price(conn):
    cfg = AlertSettings(drop_vs_previous_pct=10, rise_vs_previous_pct=10, drop_vs_average_pct=0,
                        new_low_days=0, reappeared_after_runs=0, max_per_sku_per_day=0)
    first = run_with(conn, T0, HONEST)
    flag_in(conn, FlagSettings(), first)
    evaluate_in(conn, cfg, first)
    # "a" turns into a deposit link at 1.00: flagged, no drop alert.
    second = run_with(conn, T0 + timedelta(days=1), [*HONEST[1:], snap("a", "1", "悦品保温杯 补差价")])
    flag_in(conn, FlagSettings(), second)
    assert flags(conn, second)["a"] == "bait_title"
    assert evaluate_in(conn, cfg, second) == []
    # Back at 100: compared with the 100 before the deposit, not with the 1.00: no rise alert.
    third = run_with(conn, T0 + timedelta(days=2), [*HONEST[1:], snap("a", "100")])
    flag_in(conn, FlagSettings(), third)
    assert evaluate_in(conn, cfg, third) == []


def test_a_flagged_price_is_never_a_skus_best_price_and_landed_price_adds_shipping(conn):
    from dataclasses import replace

    run = run_with(conn, T0, [*HONEST[:3], replace(snap("d", "71"), shipping_fee=Decimal("8")),
                              snap("acc", "12", "悦品保温杯 保护套")])
    best = "SELECT item_id, effective_price, landed_price FROM sku_best_price WHERE sku = 'SKU-1' AND platform = :p"
    assert conn.execute(sa.text(best), {"p": "taobao"}).one()[0] == "acc"  # not yet assessed: counts
    flag_in(conn, FlagSettings(), run)
    assert tuple(conn.execute(sa.text(best), {"p": "taobao"}).one()) == ("d", Decimal("71.0000"), Decimal("79.0000"))
    latest = conn.execute(sa.text("SELECT price_flag, landed_price FROM latest_price lp "
                                  "WHERE item_id = 'acc'")).one()
    assert tuple(latest) == ("suspect_low", None)  # shown as it is, with its flag


def test_a_flagged_price_is_never_a_skus_low_average_or_chart_point(conn):
    from snapprice.store.readpath import refresh_windows
    from snapprice.store.sql import statement

    now = datetime.now(UTC).replace(microsecond=0)
    first = run_with(conn, now - timedelta(days=2), HONEST)
    flag_in(conn, FlagSettings(), first)
    run = run_with(conn, now - timedelta(hours=1), [*HONEST, snap("acc", "12", "悦品保温杯 保护套")])
    flag_in(conn, FlagSettings(), run)
    stats = ("SELECT low_90, is_lowest_90, current_price, days_90 FROM sku_window_stats"
             " WHERE sku = 'SKU-1' AND platform IS NULL")
    computed = tuple(conn.execute(sa.text(stats)).one())  # SKU written since: computed on read
    assert computed == (Decimal("71"), True, Decimal("71"), 2)
    refresh_windows(conn)
    assert tuple(conn.execute(sa.text(stats)).one()) == computed  # and stored alike
    from snapprice.report.data import SERIES, _copied

    day_low = _copied(conn, statement("report/daily_series"),
                      {"since": (now - timedelta(days=3)).date(), "sku": "SKU-1"}, SERIES)
    assert day_low.height and day_low["price"].min() == 71.0
