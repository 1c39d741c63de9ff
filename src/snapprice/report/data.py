"""What the report shows, read from PostgreSQL and shaped with polars (one frame per section)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from typing import Any

import polars as pl
from psycopg import sql
from sqlalchemy import TextClause
from sqlalchemy.engine import Connection, Engine

from snapprice.alerts.rules import fetch_alerts
from snapprice.report.groups import GroupsSection, collect_groups
from snapprice.store.sql import statement

# Strict dtypes of every frame, declared once.
SERIES = {"sku": pl.String, "platform": pl.String, "day": pl.Date, "price": pl.Float64, "currency": pl.String}
BEST = {"sku": pl.String, "platform": pl.String, "price": pl.Float64, "currency": pl.String,
        "title": pl.String, "url": pl.String, "captured_at": pl.Datetime("us", "UTC"),
        "landed": pl.Float64, "unit_price": pl.Float64, "unit": pl.String, "item_id": pl.String}
# The best table's other measures, per platform in ReportData.best as "<measure>:<platform>".
MEASURES = ("landed", "unit_price", "unit", "item_id")
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

# Alerts embedded in the page (newest first); the page says how many there are in all.
MAX_ALERTS = 5_000


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
    alerts: list[dict[str, Any]]  # the newest MAX_ALERTS of counts["alerts"]
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per section read (SQL + frames)
    # Days with data a SKU's window statistics need before the page shows them ([report]).
    min_history_days: int = 7
    groups: GroupsSection | None = None  # the last run's multi-image groups (bounded)


def _frame(conn: Connection, query: TextClause, params: dict[str, Any], schema: dict[str, Any]) -> pl.DataFrame:
    result = conn.execute(query, params)
    at = {name: i for i, name in enumerate(result.keys())}
    rows = result.all()
    return pl.DataFrame({k: [r[at[k]] for r in rows] for k in schema}, schema=schema)


def _copied(conn: Connection, query: TextClause, params: dict[str, Any], schema: dict[str, Any]) -> pl.DataFrame:
    """A big result as CSV from a ``COPY (…) TO STDOUT WITH (FORMAT csv, HEADER)`` statement,
    parsed by polars: for the 1.2 M chart points of 10 k SKUs, a second instead of several
    building Python rows. psycopg binds the values (client side: COPY takes no parameters)."""
    compiled = query.compile(dialect=conn.dialect)
    values = {name: params[name] for name in compiled.params}  # the ones the statement uses
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(str(compiled), values) as copy:
        data = b"".join(bytes(chunk) for chunk in copy)
    frame = pl.read_csv(io.BytesIO(data), schema_overrides=schema, try_parse_dates=False)
    return frame.select(list(schema)).cast(schema)


def _series(conn: Connection, p: dict[str, Any]) -> pl.DataFrame:
    return _copied(conn, statement("report/daily_series"), p, SERIES)


def _best(conn: Connection, p: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    long = _frame(conn, statement("report/best_prices"), p, BEST)
    window = _frame(conn, statement("report/window_stats"), p, WINDOW)
    platforms = sorted(long["platform"].unique().to_list())
    if long.is_empty():
        return long.select("sku"), platforms
    cheapest = (long.sort(["sku", "price", "platform"]).group_by("sku", maintain_order=True)
                .agg(pl.col("platform").first().alias("cheapest"), pl.col("price").first().alias("best"),
                     pl.col("price").max().alias("worst"), pl.col("platform").count().alias("n_platforms"),
                     pl.col("currency").first().alias("currency"), pl.col("title").first().alias("title"),
                     pl.col("url").first().alias("url")))
    wide = long.pivot(on="platform", index="sku", values="price")
    for measure in MEASURES:
        other = long.select("sku", (measure + ":" + pl.col("platform")).alias("platform"), measure)
        wide = wide.join(other.pivot(on="platform", index="sku", values=measure), on="sku", how="left")
    best = (cheapest.join(wide, on="sku", how="left").join(window, on="sku", how="left")
            .with_columns(pl.when(pl.col("n_platforms") > 1)
                          .then((pl.col("worst") / pl.col("best") - 1) * 100).alias("gap_pct"))
            .sort("sku"))
    return best, platforms


def _moves(conn: Connection, p: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame]:
    moves = _frame(conn, statement("report/price_moves"), p, MOVES)
    moves = moves.with_columns(
        (pl.col("last_price") - pl.col("first_price")).alias("change"),
        ((pl.col("last_price") / pl.col("first_price") - 1) * 100).alias("change_pct"))
    drops = moves.filter(pl.col("change") < 0).sort(["change_pct", "listing_id"]).head(10)
    rises = moves.filter(pl.col("change") > 0).sort(["change_pct", "listing_id"], descending=[True, False]).head(10)
    return drops, rises


def _churn(conn: Connection, p: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame]:
    appeared = _frame(conn, statement("report/appeared"), p, CHURN)
    disappeared = _frame(conn, statement("report/disappeared"), p, CHURN)
    return appeared.sort(["at", "listing_id"], descending=[True, False]), disappeared.sort(
        ["at", "listing_id"], descending=[True, False])


def _health(conn: Connection, p: dict[str, Any]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    runs = _frame(conn, statement("report/runs"), p, RUNS)
    quota = _frame(conn, statement("report/quota"), p, QUOTA)
    quota = quota.with_columns(
        pl.col("quota").map_elements(lambda s: _quota_part(s, "today"), return_dtype=pl.Int64).alias("used"),
        pl.col("quota").map_elements(lambda s: _quota_part(s, "max"), return_dtype=pl.Int64).alias("limit"))
    rejects = _frame(conn, statement("report/top_rejects"), p, REJECTS)
    return runs, quota, rejects


def _quota_part(quota: str | None, key: str) -> int | None:
    """`today:95 max:1000 …` (the gateway's api_info) → 95 / 1000."""
    m = re.search(rf"\b{key}:(\d+)", quota or "")
    return int(m.group(1)) if m else None


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - started


# The report's reads in groups of about equal weight (the chart series is the heaviest),
# run side by side when an engine is given: each group on its own connection.
_GROUPS = (("daily_series",), ("price_moves",), ("best+window", "appeared+gone"),
           ("runs+quota", "alerts", "groups", "listing_count"))


def _read(name: str, conn: Connection, p: dict[str, Any], out: dict[str, Any]) -> None:
    if name == "daily_series":
        out["series"] = _series(conn, p)
    elif name == "best+window":
        out["best"], out["platforms"] = _best(conn, p)
    elif name == "price_moves":
        out["drops"], out["rises"] = _moves(conn, p)
    elif name == "appeared+gone":
        out["appeared"], out["disappeared"] = _churn(conn, p)
    elif name == "runs+quota":
        out["runs"], out["quota"], out["rejects"] = _health(conn, p)
    elif name == "alerts":
        out["alerts"] = fetch_alerts(conn, since=p["since_ts"], sku=p["sku"], limit=MAX_ALERTS)
        out["n_alerts"] = int(conn.execute(statement("report/alert_count"), p).scalar_one())
    elif name == "groups":
        out["groups"] = collect_groups(conn, p["sku"])
    elif name == "listing_count":
        out["listings"] = int(conn.execute(statement("report/listing_count"), p).scalar_one())
    else:  # pragma: no cover - a name of _GROUPS without a reader
        raise ValueError(name)


def _read_group(names: tuple[str, ...], conn: Connection, p: dict[str, Any], out: dict[str, Any],
                t: dict[str, float]) -> None:
    for name in names:
        with _timed(t, name):
            _read(name, conn, p, out)


@contextmanager
def _reader(engine: Engine, snapshot: str | None = None) -> Iterator[Connection]:
    """A read-only REPEATABLE READ connection; given ``snapshot`` (an exported one), it sees
    exactly what the connection that exported it sees."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if snapshot is not None:
            # A utility statement takes no parameters: the id goes in as a quoted literal.
            conn.connection.driver_connection.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(snapshot))
        # The chart series of 10 k SKUs is ~1 M groups: hashed in memory, not sorted on disk.
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        yield conn
        conn.rollback()


def read(engine: Engine, since: date, sku: str | None, until: datetime | None = None,
         min_history_days: int = 7) -> ReportData:
    """What ``snapprice report`` reads: ``collect`` with its sections side by side on one snapshot."""
    with _reader(engine) as conn:
        return collect(conn, since, sku, until, min_history_days, engine=engine)


def collect(conn: Connection, since: date, sku: str | None, until: datetime | None = None,
            min_history_days: int = 7, *, engine: Engine | None = None) -> ReportData:
    """Everything the report shows for the period from ``since`` (UTC day) on.

    With ``engine`` the reads run side by side on connections of their own, every one on
    the snapshot of ``conn``'s transaction (``pg_export_snapshot``: ``conn`` must be in a
    REPEATABLE READ transaction), so a run that commits meanwhile shows in no section or in
    all of them. Without it, one after the other on ``conn``."""
    until = until or datetime.now(UTC)
    since_ts = datetime.combine(since, time_of_day(), tzinfo=UTC)
    p = {"since": since, "since_ts": since_ts, "sku": sku}
    t: dict[str, float] = {}
    out: dict[str, Any] = {}
    if engine is None:
        for names in _GROUPS:
            _read_group(names, conn, p, out, t)
    else:
        snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        with ThreadPoolExecutor(max_workers=len(_GROUPS) - 1, thread_name_prefix="report") as pool:
            def side(names: tuple[str, ...]) -> None:
                with _reader(engine, snapshot) as other:
                    _read_group(names, other, p, out, t)

            futures = [pool.submit(side, names) for names in _GROUPS[1:]]
            _read_group(_GROUPS[0], conn, p, out, t)  # the heaviest here, while the others run
            for f in futures:
                f.result()
    series, best = out["series"], out["best"]
    platforms = sorted(set(out["platforms"]) | set(series["platform"].unique().to_list()))
    runs = out["runs"]
    counts = {
        "skus": series["sku"].n_unique(),
        "listings": out["listings"],
        "runs": runs.height,
        "runs_failed": runs.filter(pl.col("status") == "failed").height,
        "alerts": out["n_alerts"],
    }
    return ReportData(since, until, sku, series, best, platforms, out["drops"], out["rises"], out["appeared"],
                      out["disappeared"], runs, out["quota"], out["rejects"], out["alerts"], counts, t,
                      min_history_days, out["groups"])


def sku_exists(conn: Connection, sku: str) -> bool:
    """Whether the SKU is in the catalog or has ever been matched."""
    return bool(conn.execute(statement("report/sku_exists"), {"sku": sku}).scalar_one())


def biggest_changes(engine: Engine, run_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The run's largest price moves against each listing's previous snapshot."""
    with engine.connect() as conn:
        rows = conn.execute(statement("report/biggest_changes"), {"run": run_id, "limit": limit}).mappings().all()
    return [{k: (str(v) if v is not None and k != "title" else v) for k, v in r.items()} for r in rows]
