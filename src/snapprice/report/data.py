"""What the report shows, read from PostgreSQL and shaped with polars (one frame per section)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import polars as pl
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from snapprice.alerts.rules import fetch_alerts

# Strict dtypes of every frame, declared once.
SERIES = {"sku": pl.String, "platform": pl.String, "day": pl.Date, "price": pl.Float64, "currency": pl.String}
BEST = {"sku": pl.String, "platform": pl.String, "price": pl.Float64, "currency": pl.String,
        "title": pl.String, "url": pl.String, "captured_at": pl.Datetime("us", "UTC")}
WINDOW = {"sku": pl.String, "avg_30": pl.Float64, "low_90": pl.Float64, "pct_vs_avg_30": pl.Float64,
          "is_lowest_90": pl.Boolean, "days_90": pl.Int64}
MOVES = {"listing_id": pl.Int64, "sku": pl.String, "platform": pl.String, "item_id": pl.String,
         "title": pl.String, "url": pl.String, "first_price": pl.Float64, "last_price": pl.Float64,
         "first_at": pl.Datetime("us", "UTC"), "last_at": pl.Datetime("us", "UTC"), "currency": pl.String}
CHURN = {"listing_id": pl.Int64, "sku": pl.String, "platform": pl.String, "item_id": pl.String,
         "title": pl.String, "url": pl.String, "price": pl.Float64, "at": pl.Datetime("us", "UTC")}
RUNS = {"run_id": pl.Int64, "kind": pl.String, "status": pl.String, "started_at": pl.Datetime("us", "UTC"),
        "finished_at": pl.Datetime("us", "UTC"), "searches": pl.Int64, "failed": pl.Int64,
        "snapshots": pl.Int64, "rejects": pl.Int64}
QUOTA = {"platform": pl.String, "requests": pl.Int64, "cached": pl.Int64, "errors": pl.Int64,
         "quota": pl.String, "used": pl.Int64, "limit": pl.Int64}
REJECTS = {"stage": pl.String, "reason": pl.String, "n": pl.Int64}


@dataclass(frozen=True)
class ReportData:
    since: date
    until: datetime
    sku: str | None
    series: pl.DataFrame  # per SKU, platform and day: the cheapest matched offer
    best: pl.DataFrame  # per SKU: best price per platform (wide), cheapest, gap %, window stats
    platforms: list[str]
    drops: pl.DataFrame
    rises: pl.DataFrame
    appeared: pl.DataFrame
    disappeared: pl.DataFrame
    runs: pl.DataFrame
    quota: pl.DataFrame
    rejects: pl.DataFrame
    alerts: list[dict[str, Any]]
    counts: dict[str, int]


def _frame(conn: Connection, sql: str, params: dict[str, Any], schema: dict[str, Any]) -> pl.DataFrame:
    rows = conn.execute(text(sql), params).mappings().all()
    return pl.DataFrame([{k: r[k] for k in schema} for r in rows], schema=schema, orient="row")


_SKU_FILTER = "(CAST(:sku AS text) IS NULL OR m.sku = :sku)"


def _series(conn: Connection, p: dict[str, Any]) -> pl.DataFrame:
    return _frame(conn, f"""
        SELECT m.sku, d.platform, d.day, CAST(min(d.min_price) AS float8) AS price, min(d.currency) AS currency
        FROM daily_price AS d JOIN match AS m USING (listing_id)
        WHERE d.day >= :since AND {_SKU_FILTER}
        GROUP BY m.sku, d.platform, d.day ORDER BY 1, 2, 3""", p, SERIES)


def _best(conn: Connection, p: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    long = _frame(conn, f"""
        SELECT m.sku, m.platform, CAST(m.effective_price AS float8) AS price, m.currency, m.title, m.url,
               m.captured_at
        FROM sku_best_price AS m WHERE m.captured_at >= :since_ts AND {_SKU_FILTER}""", p, BEST)
    window = _frame(conn, f"""
        SELECT m.sku, CAST(m.avg_30 AS float8) AS avg_30, CAST(m.low_90 AS float8) AS low_90,
               CAST(m.pct_vs_avg_30 AS float8) AS pct_vs_avg_30, m.is_lowest_90, m.days_90
        FROM snapprice_sku_window_stats(:until_day) AS m WHERE m.platform IS NULL AND {_SKU_FILTER}""", p, WINDOW)
    platforms = sorted(long["platform"].unique().to_list())
    if long.is_empty():
        return long.select("sku"), platforms
    cheapest = (long.sort(["sku", "price", "platform"]).group_by("sku", maintain_order=True)
                .agg(pl.col("platform").first().alias("cheapest"), pl.col("price").first().alias("best"),
                     pl.col("price").max().alias("worst"), pl.col("platform").count().alias("n_platforms"),
                     pl.col("currency").first().alias("currency"), pl.col("title").first().alias("title"),
                     pl.col("url").first().alias("url")))
    wide = long.pivot(on="platform", index="sku", values="price")
    best = (cheapest.join(wide, on="sku", how="left").join(window, on="sku", how="left")
            .with_columns(pl.when(pl.col("n_platforms") > 1)
                          .then((pl.col("worst") / pl.col("best") - 1) * 100).alias("gap_pct"))
            .sort("sku"))
    return best, platforms


def _moves(conn: Connection, p: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame]:
    moves = _frame(conn, f"""
        WITH s AS (
            SELECT s.listing_id, s.captured_at, coalesce(s.promo_price, s.price_low) AS price, s.currency,
                   row_number() OVER (PARTITION BY s.listing_id ORDER BY s.captured_at) AS nth_first,
                   row_number() OVER (PARTITION BY s.listing_id ORDER BY s.captured_at DESC) AS nth_last
            FROM price_snapshot AS s WHERE s.captured_at >= :since_ts
        ), ends AS (
            SELECT listing_id,
                   CAST(min(price) FILTER (WHERE nth_first = 1) AS float8) AS first_price,
                   CAST(min(price) FILTER (WHERE nth_last = 1) AS float8) AS last_price,
                   min(captured_at) AS first_at, max(captured_at) AS last_at,
                   min(currency) FILTER (WHERE nth_last = 1) AS currency
            FROM s WHERE nth_first = 1 OR nth_last = 1 GROUP BY listing_id
        )
        SELECT e.*, l.platform, l.item_id, l.title, l.url,
               (SELECT min(m.sku) FROM match AS m WHERE m.listing_id = e.listing_id) AS sku
        FROM ends AS e JOIN listing AS l USING (listing_id)
        WHERE e.last_at > e.first_at AND e.last_price <> e.first_price
          AND (CAST(:sku AS text) IS NULL
               OR e.listing_id IN (SELECT listing_id FROM match AS m WHERE {_SKU_FILTER}))""", p, MOVES)
    moves = moves.with_columns(
        (pl.col("last_price") - pl.col("first_price")).alias("change"),
        ((pl.col("last_price") / pl.col("first_price") - 1) * 100).alias("change_pct"))
    drops = moves.filter(pl.col("change") < 0).sort(["change_pct", "listing_id"]).head(10)
    rises = moves.filter(pl.col("change") > 0).sort(["change_pct", "listing_id"], descending=[True, False]).head(10)
    return drops, rises


def _churn(conn: Connection, p: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame]:
    appeared = _frame(conn, f"""
        SELECT DISTINCT ON (l.listing_id) l.listing_id, m.sku, l.platform, l.item_id, l.title, l.url,
               CAST(lp.effective_price AS float8) AS price, l.first_seen AS at
        FROM listing AS l JOIN match AS m USING (listing_id) JOIN latest_price AS lp USING (listing_id)
        WHERE l.first_seen >= :since_ts AND {_SKU_FILTER}
        ORDER BY l.listing_id, m.sku""", p, CHURN)
    # Gone: absent from the newest run (of the period) that returned its SKU on its platform.
    disappeared = _frame(conn, f"""
        WITH seen AS (
            SELECT s.listing_id, max(s.run_id) AS last_run, max(s.captured_at) AS last_at
            FROM price_snapshot AS s WHERE s.captured_at >= :since_ts GROUP BY s.listing_id
        ), newest AS (
            SELECT m.sku, l.platform, max(s.run_id) AS run_id
            FROM price_snapshot AS s JOIN match AS m USING (listing_id) JOIN listing AS l USING (listing_id)
            WHERE s.captured_at >= :since_ts GROUP BY m.sku, l.platform
        )
        SELECT DISTINCT ON (l.listing_id) l.listing_id, m.sku, l.platform, l.item_id, l.title, l.url,
               CAST(lp.effective_price AS float8) AS price, seen.last_at AS at
        FROM seen JOIN listing AS l USING (listing_id) JOIN match AS m USING (listing_id)
        JOIN newest AS n ON n.sku = m.sku AND n.platform = l.platform
        JOIN latest_price AS lp ON lp.listing_id = l.listing_id
        WHERE seen.last_run < n.run_id AND {_SKU_FILTER}
        ORDER BY l.listing_id, m.sku""", p, CHURN)
    return appeared.sort(["at", "listing_id"], descending=[True, False]), disappeared.sort(
        ["at", "listing_id"], descending=[True, False])


def _health(conn: Connection, p: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    runs = _frame(conn, """
        SELECT r.run_id, r.kind, r.status, r.started_at, r.finished_at,
               (SELECT count(*) FROM search_task t WHERE t.run_id = r.run_id AND t.status = 'done') AS searches,
               (SELECT count(*) FROM search_task t WHERE t.run_id = r.run_id AND t.status = 'failed') AS failed,
               (SELECT count(*) FROM price_snapshot s WHERE s.run_id = r.run_id) AS snapshots,
               (SELECT count(*) FROM reject j WHERE j.run_id = r.run_id) AS rejects
        FROM run AS r WHERE r.started_at >= :since_ts ORDER BY r.run_id DESC""", p, RUNS)
    quota = _frame(conn, """
        SELECT q.platform, q.requests, q.cached, q.errors, z.quota, NULL AS used, NULL AS limit
        FROM (SELECT platform, count(*) FILTER (WHERE NOT cached) AS requests,
                     count(*) FILTER (WHERE cached) AS cached,
                     count(*) FILTER (WHERE http_status >= 400) AS errors
              FROM raw_response WHERE received_at >= :since_ts GROUP BY platform) AS q
        LEFT JOIN LATERAL (SELECT r.quota FROM raw_response AS r
                           WHERE r.platform = q.platform AND r.quota IS NOT NULL
                           ORDER BY r.received_at DESC LIMIT 1) AS z ON true
        ORDER BY q.platform""", p, QUOTA)
    quota = quota.with_columns(
        pl.col("quota").map_elements(lambda s: _quota_part(s, "today"), return_dtype=pl.Int64).alias("used"),
        pl.col("quota").map_elements(lambda s: _quota_part(s, "max"), return_dtype=pl.Int64).alias("limit"))
    rejects = _frame(conn, """
        SELECT j.stage, j.reason, count(*) AS n FROM reject AS j JOIN run AS r USING (run_id)
        WHERE r.started_at >= :since_ts GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 10""", p, REJECTS)
    return runs, quota, rejects


def _quota_part(quota: str | None, key: str) -> int | None:
    """`today:95 max:1000 …` (the gateway's api_info) → 95 / 1000."""
    m = re.search(rf"\b{key}:(\d+)", quota or "")
    return int(m.group(1)) if m else None


def collect(conn: Connection, since: date, sku: str | None, until: datetime | None = None) -> ReportData:
    """Everything the report shows for the period from ``since`` (UTC day) on."""
    until = until or datetime.now(UTC)
    since_ts = datetime.combine(since, time(), tzinfo=UTC)
    p = {"since": since, "since_ts": since_ts, "sku": sku, "until_day": until.date()}
    series = _series(conn, p)
    best, platforms = _best(conn, p)
    platforms = sorted(set(platforms) | set(series["platform"].unique().to_list()))
    drops, rises = _moves(conn, p)
    appeared, disappeared = _churn(conn, p)
    runs, quota, rejects = _health(conn, p)
    alerts = fetch_alerts(conn, since=since_ts, sku=sku, limit=200)
    counts = {
        "skus": series["sku"].n_unique(),
        "listings": int(conn.execute(text(
            "SELECT count(DISTINCT s.listing_id) FROM price_snapshot AS s "
            "WHERE s.captured_at >= :since_ts AND (CAST(:sku AS text) IS NULL OR s.listing_id IN "
            "(SELECT listing_id FROM match WHERE sku = :sku))"), p).scalar_one()),
        "runs": runs.height,
        "runs_failed": runs.filter(pl.col("status") == "failed").height,
        "alerts": len(alerts),
    }
    return ReportData(since, until, sku, series, best, platforms, drops, rises, appeared, disappeared,
                      runs, quota, rejects, alerts, counts)


def biggest_changes(engine: Engine, run_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The run's largest price moves against each listing's previous snapshot."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.platform, c.item_id, left(c.title, 40) AS title, c.prev_price, c.price,"
            " c.change_pct FROM price_change AS c JOIN price_snapshot AS s"
            " ON s.listing_id = c.listing_id AND s.captured_at = c.captured_at"
            " WHERE s.run_id = %(r)s ORDER BY abs(c.change_pct) DESC NULLS LAST LIMIT %(n)s",
            {"r": run_id, "n": limit},
        ).mappings().all()
    return [{k: (str(v) if v is not None and k != "title" else v) for k, v in r.items()} for r in rows]
