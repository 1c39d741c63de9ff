"""The report's packed data: exact round trip, and small enough for 10 k SKUs in one file."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from snapprice.report.data import BEST, SERIES, WINDOW, ReportData
from snapprice.report.payload import build, decode, encode, natural

SINCE = date(2026, 11, 1)
PLATFORMS = ["1688", "jd", "pinduoduo", "taobao"]


def report(skus: int, days: int) -> ReportData:
    """skus × 4 platforms × days of prices that step every 6 days, as collect() shapes them."""
    n = skus * len(PLATFORMS) * days
    i = pl.col("i")
    series = pl.DataFrame({"i": pl.int_range(0, n, eager=True)}).select(
        ("SKU-" + (i // (len(PLATFORMS) * days)).cast(pl.String).str.zfill(5)).alias("sku"),
        (i // days % len(PLATFORMS)).replace_strict(dict(enumerate(PLATFORMS))).alias("platform"),
        pl.lit(SINCE).dt.offset_by((i % days).cast(pl.String) + "d").alias("day"),
        (20 + (i // (len(PLATFORMS) * days)) % 400 + ((i % days) // 6) % 3 * 1.5).cast(pl.Float64).alias("price"),
        pl.lit("CNY").alias("currency"),
    ).cast(SERIES)
    latest = series.filter(pl.col("day") == pl.col("day").max())
    best = (latest.sort("sku", "price", "platform").group_by("sku", maintain_order=True)
            .agg(pl.col("platform").first().alias("cheapest"), pl.col("price").first().alias("best"),
                 pl.col("currency").first(), pl.lit("保温杯 500ml").alias("title"),
                 pl.lit("https://item.example/1").alias("url"))
            .join(latest.pivot(on="platform", index="sku", values="price"), on="sku")
            .with_columns(pl.lit(12.5).alias("gap_pct"), pl.lit(-3.25).alias("pct_vs_avg_30"),
                          pl.col("best").alias("low_90"), pl.lit(True).alias("is_lowest_90"),
                          pl.lit(days, pl.Int64).alias("days_90")))
    empty = pl.DataFrame()
    return ReportData(SINCE, datetime(2026, 12, 1, tzinfo=UTC), None, series, best, PLATFORMS, empty, empty,
                      empty, empty, empty, empty, empty, [], {"alerts": 0})


def points(data: dict) -> dict[tuple[str, str], list[tuple[str, float]]]:
    s, out, k = data["series"], {}, 0
    for sku, plat, d0, n in zip(s["sku"], s["plat"], s["d0"], s["n"], strict=True):
        cents = 0
        for day, dv in enumerate(s["dv"][k:k + n], d0):
            if dv is not None:
                cents += dv
                key = (data["skus"][sku], data["platforms"][plat])
                out.setdefault(key, []).append(((SINCE + timedelta(days=day)).isoformat(), cents / 100))
        k += n
    return out


def test_series_round_trip_exactly() -> None:
    d = report(7, 9)
    gaps = d.series.filter(pl.col("day") != date(2026, 11, 4))  # a missing day stays missing
    d = ReportData(**{**d.__dict__, "series": gaps})
    data = decode(encode(build(d)))
    expected: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for sku, plat, day, price, _ in gaps.sort("sku", "platform", "day").iter_rows():
        expected.setdefault((sku, plat), []).append((day.isoformat(), price))
    assert points(data) == expected
    i = data["skus"].index("SKU-00003")
    assert data["best"]["low90"][i] == 2450 and data["best"]["is_low"][i] == 1
    assert data["best"]["gap"][i] == 12.5 and data["best"]["vs30"][i] == -3.2


def test_ten_thousand_skus_fit_in_a_megabyte() -> None:
    """10 k SKUs × 4 platforms × 30 days: the whole packed payload (charts and best prices)."""
    blob = encode(build(report(10_000, 30)))
    assert len(blob) < 1_000_000, len(blob)


def test_skus_in_natural_order() -> None:
    assert sorted(["SKU-10", "SKU-2", "A", "SKU-1"], key=natural) == ["A", "SKU-1", "SKU-2", "SKU-10"]
    assert set(BEST) >= {"sku", "price"} and set(WINDOW) >= {"low_90"}


@pytest.mark.parametrize("value", [{"x": [1, None, -2]}, {"t": ["</script><b>", "保温杯"]}])
def test_encode_has_no_markup(value: dict) -> None:
    blob = encode(value)
    assert "<" not in blob and decode(blob) == value


def test_a_sku_without_enough_history_shows_no_low_and_no_average() -> None:
    d = report(3, 9)
    days = pl.Series([1, 6, 7])  # days with data of SKU-00000, -00001, -00002
    d = ReportData(**{**d.__dict__, "best": d.best.sort("sku").with_columns(days.alias("days_90")),
                      "min_history_days": 7})
    b = decode(encode(build(d)))["best"]
    assert b["hist"] == [1, 6, 7]
    assert b["vs30"] == [None, None, -3.2] and b["is_low"] == [0, 0, 1]
    assert b["low90"][:2] == [None, None] and b["low90"][2] is not None
    assert b["p"][0][0] is not None  # the current price is shown all the same
