"""`snapprice report` at scale: 10 k SKUs × ~90 daily runs, the SQL apart from our Python and HTML.

    python bench/bench_report.py [--skus 10000] [--listings 8] [--days 90] [--alerts 3000]
    python bench/bench_report.py --skus 1000          # quick mode (~1 min)

Uses DATABASE_URL, else the server on 127.0.0.1:5432; fills a scratch database made with
the real schema (migrate.upgrade) and drops it afterwards (--keep leaves it for a rerun
with --database NAME, which skips the fill). The history is generated on the server
(generate_series): per SKU `--listings` listings spread over 4 platforms, one run a day
at 23:00 UTC, prices that move in steps every few days, promotions, gaps (a listing
missing a run now and then), listings that vanish, and `--alerts` alerts in the period.

Prints, for the default 30-day report: the time of each SQL section (as
snapprice.report.data.collect reads it), the time our Python takes to shape and render,
the whole `snapprice report` command as a user runs it, and the HTML size.
Goals (issue 17): the command < 10 s for 10 k SKUs, the HTML < 3 MB.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa

from snapprice.report import DEFAULT_DAYS
from snapprice.report.data import collect, read
from snapprice.report.page import render
from snapprice.store import migrate
from snapprice.store.database import to_libpq, to_sqlalchemy

SERVER = "postgresql://postgres@127.0.0.1:5432/test"
PLATFORMS = ("taobao", "jd", "1688", "pinduoduo")

# One statement per table, all on the server. Days count back from today: run d is day
# (days - 1 - d) before today, at 23:00 UTC.
FILL = [
    """INSERT INTO run (kind, status, started_at, finished_at, catalog, config_digest)
       SELECT 'scheduled', CASE WHEN d % 29 = 5 THEN 'partial' ELSE 'succeeded' END,
              :t0 + make_interval(days => d), :t0 + make_interval(days => d, mins => 40), 'bench.csv', 'bench'
       FROM generate_series(0, CAST(:days AS int) - 1) AS d ORDER BY d""",
    """INSERT INTO listing (platform, item_id, title, shop, url, first_seen, last_seen, first_run_id, last_run_id)
       SELECT (ARRAY['taobao','jd','1688','pinduoduo'])[1 + (i - 1) % 4], 'item-' || i,
              '商品 ' || ((i - 1) / CAST(:per AS int) + 1) || ' 不锈钢保温杯 500ml 第' || i || '号', '店铺 ' || i % 97,
              'https://item.example/' || i, :t0, :t0 + make_interval(days => CAST(:days AS int) - 1), 1,
              CAST(:days AS int)
       FROM generate_series(1, CAST(:skus AS int) * CAST(:per AS int)) AS i""",
    """INSERT INTO match (sku, listing_id, best_score, best_rank, last_rank, times_seen, first_run_id, last_run_id,
                          first_seen, last_seen)
       SELECT 'SKU-' || lpad(((listing_id - 1) / CAST(:per AS int) + 1)::text, 5, '0'), listing_id, 0.9, 1, 1,
              CAST(:days AS int), 1, CAST(:days AS int),
              first_seen, last_seen
       FROM listing""",
    # Price of listing i on day d: a base per listing, a step every 5-9 days (7 levels),
    # a promotion on 1 day in 11 for a listing in 3; a listing misses 1 run in 23, and one
    # listing in 40 vanishes after two thirds of the period.
    """INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low, price_high, promo_price, currency,
                                   sales_lower_bound, sales_text, rank, score, cached)
       SELECT i, d + 1, :t0 + make_interval(days => d, secs => i % 2400),
              round(base * (0.85 + 0.05 * ((i * 7919 + (d / (5 + i % 5)) * 104729) % 7)), 2),
              NULL,
              CASE WHEN i % 3 = 0 AND (d + i) % 11 = 0 THEN round(base * 0.8, 2) END,
              'CNY', (i * 13 + d * 7) % 5000, NULL, 1 + i % 20, 0.9, false
       FROM generate_series(1, CAST(:skus AS int) * CAST(:per AS int)) AS i
       CROSS JOIN LATERAL (SELECT 20 + (i * 37) % 480 AS base) AS b
       CROSS JOIN generate_series(0, CAST(:days AS int) - 1) AS d
       WHERE (i + d) % 23 <> 0 AND NOT (i % 40 = 0 AND d > CAST(:days AS int) * 2 / 3)
       ORDER BY d, i""",
    """INSERT INTO alert (rule, rule_key, listing_id, crossing_at, run_id, sku, platform, price, reference_price,
                          change_pct, currency, message)
       SELECT 'drop_vs_previous', 'drop_vs_previous:10%', s.listing_id, s.captured_at, s.run_id, m.sku, l.platform,
              coalesce(s.promo_price, s.price_low), s.price_low, -20, 'CNY', 'price fell 20% since the last run'
       FROM price_snapshot AS s
       JOIN listing AS l USING (listing_id)
       JOIN match AS m USING (listing_id)
       WHERE s.promo_price IS NOT NULL AND s.captured_at >= :since
       ORDER BY s.captured_at DESC
       LIMIT CAST(:alerts AS int)""",
]


def _with_database(url: str, name: str) -> str:
    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)


def fill(url: str, skus: int, per: int, days: int, alerts: int) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    t0 = today - timedelta(days=days) + timedelta(hours=23)
    params = {"t0": t0, "days": days, "skus": skus, "per": per, "alerts": alerts,
              "since": today - timedelta(days=DEFAULT_DAYS)}
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT snapprice_ensure_partitions(:t, :m)"), {"t": t0, "m": days // 28 + 2})
        # Foreign keys hold by construction; skipping their per-row triggers halves the fill.
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for sql in FILL:
            started = time.perf_counter()
            n = conn.execute(sa.text(sql), params).rowcount
            table = sql.split("INSERT INTO ", 1)[1].split()[0]
            print(f"  {table:<15} {n:>10,} rows in {time.perf_counter() - started:6.1f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def refresh(url: str) -> None:
    """The rollups of the final read path (issue 17), when this tree has them."""
    cli = [sys.executable, "-m", "snapprice"]
    env = {**os.environ, "DATABASE_URL": url}
    helptext = subprocess.run([*cli, "db", "--help"], capture_output=True, text=True, env=env).stdout
    if "refresh" in helptext:
        started = time.perf_counter()
        subprocess.run([*cli, "db", "refresh"], check=True, env=env)
        print(f"  snapprice db refresh in {time.perf_counter() - started:.1f} s")


def measure(url: str, out: Path) -> None:
    engine = sa.create_engine(url)
    now = datetime.now(UTC)
    since = (now - timedelta(days=DEFAULT_DAYS)).date()
    started = time.perf_counter()
    with engine.connect() as conn:
        data = collect(conn, since, None, now)
    collected = time.perf_counter() - started
    started = time.perf_counter()
    html = render(data)
    rendered = time.perf_counter() - started
    sql = sum(data.timings.values())
    print("\nSQL per section, one after the other on one connection (report.data.collect):")
    for name, secs in sorted(data.timings.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<16} {secs:7.2f} s")
    print(f"  {'sum':<16} {sql:7.2f} s  (all of collect: {collected:.2f} s)")
    started = time.perf_counter()
    side = read(engine, since, None, now)  # as write_report reads: side by side on one snapshot
    print(f"side by side (as `snapprice report` reads): {time.perf_counter() - started:.2f} s; slowest "
          + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(side.timings.items(), key=lambda kv: -kv[1])[:2]))
    engine.dispose()
    print(f"python: HTML {rendered:.2f} s")
    print(f"rows: {data.counts['skus']:,} SKUs, {data.series.height:,} chart points, "
          f"{data.counts['alerts']:,} alerts, {data.best.height:,} best-price rows")

    env = {**os.environ, "DATABASE_URL": url}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snapprice", "report", "--out", str(out)], check=True, env=env)
    command = time.perf_counter() - started
    size = out.stat().st_size
    print(f"\n`snapprice report` (whole command, Python start included): {command:.1f} s (goal < 10 s)")
    print(f"HTML: {size / 1e6:.2f} MB (goal < 3 MB); in-process page {len(html.encode()) / 1e6:.2f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skus", type=int, default=10_000)
    ap.add_argument("--listings", type=int, default=8, help="listings per SKU (over 4 platforms)")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--alerts", type=int, default=3_000)
    ap.add_argument("--keep", action="store_true", help="do not drop the scratch database")
    ap.add_argument("--database", help="reuse this (kept) scratch database: no fill")
    ap.add_argument("--out", type=Path, help="where to write the report (default: a temp dir)")
    args = ap.parse_args()

    server = to_sqlalchemy(os.environ.get("DATABASE_URL") or SERVER)
    name = args.database or f"snapprice_bench_report_{secrets.token_hex(3)}"
    url = _with_database(server, name)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}-out"
    out = args.out or tmp / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.database:
        with psycopg.connect(to_libpq(server), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        if not args.database:
            migrate.upgrade(url)
            snaps = args.skus * args.listings * args.days
            print(f"filling {name}: {args.skus:,} SKUs × {args.listings} listings × {args.days} days "
                  f"(~{snaps / 1e6:.1f} M snapshots)")
            started = time.perf_counter()
            fill(url, args.skus, args.listings, args.days, args.alerts)
            refresh(url)
            print(f"filled in {time.perf_counter() - started:.0f} s")
        measure(url, out)
    finally:
        if args.keep or args.database:
            print(f"kept database {name} (rerun with --database {name}; drop it with "
                  f"psql -c 'DROP DATABASE \"{name}\"')")
        else:
            with psycopg.connect(to_libpq(server), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not args.out:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
