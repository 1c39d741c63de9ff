"""The report's data for the page's script: columnar JSON, gzip, base64 (one inline string).

Prices travel as integer cents; a chart line as its first day, then one value a day: null
for a day without a price, else the cent *difference* from the previous price (mostly 0,
which gzip packs to almost nothing), so 10 k SKUs × 4 platforms × 30 days fit in well under a
megabyte. The page unpacks it with the browser's
own ``DecompressionStream`` and draws only the rows and charts in view.

>>> blob = encode({"a": [1, None]})
>>> decode(blob)
{'a': [1, None]}
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl

from snapprice.report.data import ReportData

# Colour-blind-friendly (Okabe–Ito based), fixed per platform so every chart agrees.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C6D1F", "#444444")
KNOWN = {"taobao": "#E8590C", "1688": "#0072B2", "jd": "#C92A2A", "pinduoduo": "#2B8A3E", "tmall": "#862E9C"}


def platform_colour(platform: str, order: Sequence[str]) -> str:
    if platform in KNOWN:
        return KNOWN[platform]
    return PALETTE[order.index(platform) % len(PALETTE)] if platform in order else PALETTE[-1]


def natural(key: str) -> list[Any]:
    """Sort key that puts SKU-2 before SKU-10.

    >>> sorted(["SKU-10", "SKU-2", "sku-1"], key=natural)
    ['sku-1', 'SKU-2', 'SKU-10']
    """
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", key) if t]


def encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def decode(blob: str) -> dict[str, Any]:
    """The payload back (for tests and for anyone reading a report with a script)."""
    data: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(blob)))
    return data


def _cents(col: str) -> pl.Expr:
    return (pl.col(col) * 100).round(0).cast(pl.Int64)


def _round(col: str, digits: int = 1) -> pl.Expr:
    return pl.col(col).round(digits)


def _skus(d: ReportData) -> pl.DataFrame:
    """Every SKU with a price in the period, in natural order, with its position."""
    names = set(d.series["sku"].unique().to_list())
    if "sku" in d.best.columns:
        names |= set(d.best["sku"].unique().to_list())
    ordered = sorted(names, key=natural)
    return pl.DataFrame({"sku": ordered, "i": list(range(len(ordered)))},
                        schema={"sku": pl.String, "i": pl.Int64})


def _measure(b: pl.DataFrame, col: str, expr: Any) -> list[Any]:
    return b.select(expr(col)).to_series().to_list() if col in b.columns else [None] * b.height


def _best(d: ReportData, skus: pl.DataFrame, currencies: list[str]) -> dict[str, Any]:
    """Per SKU (aligned with ``skus``): cents per platform, cheapest platform, gap, window stats."""
    if "cheapest" not in d.best.columns:
        n = skus.height
        return {"title": [""] * n, "url": [None] * n, "cur": [0] * n,
                **{k: [[None] * n for _ in d.platforms] for k in ("p", "pl", "pu", "pk", "iid")},
                "cheapest": [None] * n, "gap": [None] * n, "vs30": [None] * n, "low90": [None] * n,
                "is_low": [0] * n, "hist": [0] * n}
    plat_index = {p: i for i, p in enumerate(d.platforms)}
    cur_index = {c: i for i, c in enumerate(currencies)}
    b = skus.join(d.best, on="sku", how="left").sort("i")
    if "days_90" not in b.columns:  # no window statistics read: no history to speak of
        b = b.with_columns(pl.lit(None, pl.Int64).alias("days_90"))
    # Honest history: a low or an average of a few days is no statistic; the page says "new".
    known = pl.col("days_90").fill_null(0) >= d.min_history_days
    b = b.with_columns(pl.when(known).then(pl.col(c)).alias(c) for c in ("pct_vs_avg_30", "low_90", "is_lowest_90"))
    return {
        "title": b["title"].fill_null("").to_list(),
        "url": b["url"].to_list(),
        "cur": [cur_index.get((c or "CNY").strip(), 0) for c in b["currency"].to_list()],
        "p": [_measure(b, p, _cents) for p in d.platforms],
        # The same offers compared another way: shipping included, and per unit (kind in "pk").
        "pl": [_measure(b, "landed:" + p, _cents) for p in d.platforms],
        "pu": [_measure(b, "unit_price:" + p, _cents) for p in d.platforms],
        "pk": [_measure(b, "unit:" + p, pl.col) for p in d.platforms],
        "iid": [_measure(b, "item_id:" + p, pl.col) for p in d.platforms],  # for review decisions
        "cheapest": [plat_index.get(c) if c is not None else None for c in b["cheapest"].to_list()],
        "gap": b.select(_round("gap_pct")).to_series().to_list(),
        "vs30": b.select(_round("pct_vs_avg_30")).to_series().to_list(),
        "low90": b.select(_cents("low_90")).to_series().to_list(),
        "is_low": b["is_lowest_90"].fill_null(False).cast(pl.Int8).to_list(),
        "hist": b["days_90"].fill_null(0).to_list(),  # days with data in the 90-day window
    }


def _series(d: ReportData, skus: pl.DataFrame) -> dict[str, Any]:
    """Chart lines per (SKU, platform): the first day ``d0`` and the number of days ``n`` it
    spans; then per day of that span (flat ``dv``) null when there is no price that day, else
    the price in cents minus the previous price of the line (the first one absolute)."""
    if d.series.is_empty():
        return {"sku": [], "plat": [], "d0": [], "n": [], "dv": []}
    plat_index = {p: i for i, p in enumerate(d.platforms)}
    n_plat = len(d.platforms)
    # One integer sorts the 1 M points: the line (SKU position × platforms + platform), then the day.
    s = (d.series.lazy().join(skus.lazy(), on="sku")
         .select((pl.col("i") * n_plat
                  + pl.col("platform").replace_strict(plat_index, return_dtype=pl.Int64)).alias("line"),
                 (pl.col("day") - pl.lit(d.since)).dt.total_days().cast(pl.Int64).alias("off"),
                 _cents("price").alias("c"))
         .sort(pl.col("line") * 65_536 + pl.col("off"))
         .collect())
    first = (pl.col("line") != pl.col("line").shift()).fill_null(True)
    s = s.with_columns(first.alias("first"),
                       pl.when(first).then(pl.col("c")).otherwise(pl.col("c").diff()).alias("dv"),
                       pl.when(first).then(0).otherwise(pl.col("off").diff() - 1).alias("gap"))
    lines = (s.with_row_index("at").filter(pl.col("first"))
             .with_columns(pl.col("at").shift(-1, fill_value=s.height).alias("end")))
    # Days without a price are rare: splice their nulls in between slices of the values.
    gaps = s.with_row_index("at").filter(pl.col("gap") > 0)
    dv = s["dv"]
    if gaps.is_empty():
        values = dv.to_list()
    else:
        values, done = [], 0
        for at, gap in zip(gaps["at"].to_list(), gaps["gap"].to_list(), strict=True):
            values += dv.slice(done, at - done).to_list()
            values += [None] * gap
            done = at
        values += dv.slice(done).to_list()
    offs = s["off"]
    last_off = offs.gather(lines["end"] - 1)
    return {"sku": (lines["line"] // n_plat).to_list(), "plat": (lines["line"] % n_plat).to_list(),
            "d0": lines["off"].to_list(), "n": (last_off - lines["off"] + 1).to_list(), "dv": values}


def _alerts(d: ReportData, currencies: list[str]) -> dict[str, Any]:
    a = d.alerts
    cur_index = {c: i for i, c in enumerate(currencies)}

    def at(v: datetime) -> int:
        return int(v.timestamp())

    return {
        "rule": [r["rule"] for r in a], "sku": [r.get("sku") or "" for r in a],
        "plat": [r["platform"] for r in a], "title": [r.get("title") or "" for r in a],
        "url": [r.get("url") for r in a], "msg": [r["message"] for r in a],
        "price": [round(float(r["price"]) * 100) for r in a],
        "cur": [cur_index.get((r["currency"] or "CNY").strip(), 0) for r in a],
        "at": [at(r["crossing_at"]) for r in a],
    }


def build(d: ReportData) -> dict[str, Any]:
    """Everything the page's script draws, as plain JSON values."""
    skus = _skus(d)
    currencies = sorted({"CNY"} | {(c or "CNY").strip() for c in d.series["currency"].unique().to_list()}
                        | {(c or "CNY").strip() for c in (d.best["currency"].unique().to_list()
                                                          if "currency" in d.best.columns else [])}
                        | {(a["currency"] or "CNY").strip() for a in d.alerts})
    return {
        "since": d.since.isoformat(),
        "platforms": d.platforms,
        "colours": [platform_colour(p, d.platforms) for p in d.platforms],
        "currencies": currencies,
        "skus": skus["sku"].to_list(),
        "best": _best(d, skus, currencies),
        "series": _series(d, skus),
        "alerts": _alerts(d, currencies),
        "alerts_total": d.counts["alerts"],
        "min_hist": d.min_history_days,
    }
