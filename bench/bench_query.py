"""The read path at scale: every view and example query on a year of generated history.

    python bench/bench_query.py [--snapshots 50M] [--keep] [--reuse DBNAME]

Generates a realistic history straight into a scratch database on DATABASE_URL or
127.0.0.1:5432 (created with the real migrations, dropped afterwards unless --keep): SKUs,
listings on 4 platforms (two at a time per platform; some vanish and are replaced), a match
per listing, one scheduled run a day at 07:00 Asia/Shanghai for a year, snapshots with
prices that move about weekly, promotions, ranges, growing sales, missed days and whole
platform outages. All rows are made by server-side SQL (generate_series), a month at a
time: 5 M snapshots take a few minutes, 50 M well under an hour.

Then, warm cache, it times every view and every sql/queries/*.sql for one SKU / one
listing (goal < 20 ms) and for all (goal < 1 s where the issue sets one), a run's load of
80 k snapshots through the real loader into the full table vs the same load into a table
holding one earlier run (goal >= 0.9) and vs psql \\copy of the same snapshot rows (goal >=
0.7), `db refresh` of the rollups, and the bytes per snapshot. Prints a table, then the
EXPLAIN ANALYZE of everything over its goal. Works on any schema version (the views and
queries are the contract), so a baseline can be taken before the read path exists.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import sqlalchemy as sa

from bench_load import scratch_database, server_url
from snapprice.models import ListingSnapshot
from snapprice.paths import sql_dir
from snapprice.store import migrate
from snapprice.store.database import to_libpq
from snapprice.store.loader import load_snapshots
from snapprice.store.runs import create_run

PLATFORMS = ("taobao", "1688", "jd", "pinduoduo")
SNAPSHOTS_PER_SKU_YEAR = 8 * 365 * 0.94  # 8 live listings, ~6 % missed (gaps, outages)
ONE_KEY_MS = 20.0
ALL_S = 1.0

# Deterministic noise in [0, 1) from integers, in SQL.
_U = "((hashint8(({x})::bigint) & 2147483647) / 2147483648.0)"


def u(expr: str) -> str:
    return _U.format(x=expr)


def parse_count(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: a count like 5M, 500k or 2000000")
    return int(float(m[1]) * {"": 1, "k": 10**3, "m": 10**6}[m[2].lower()])


@dataclass
class Shape:
    skus: int
    days: int
    first_start: datetime  # start of the first run (07:00 Asia/Shanghai = 23:00 UTC)


def generate(conn: psycopg.Connection, shape: Shape) -> None:
    """Runs, listings, matches and snapshots of ``shape`` by INSERT … SELECT on the server."""
    s, d = shape.skus, shape.days
    p = {"t0": shape.first_start, "days": d, "skus": s}
    t = time.perf_counter()
    conn.execute("SELECT snapprice_ensure_partitions(%(t0)s, %(m)s)", {"t0": shape.first_start, "m": d // 28 + 2})
    conn.execute("""
        INSERT INTO run (run_id, kind, status, started_at, finished_at, catalog, n_snapshots)
        OVERRIDING SYSTEM VALUE
        SELECT d + 1, 'scheduled', 'succeeded', %(t0)s + d * interval '1 day',
               %(t0)s + d * interval '1 day' + interval '70 minutes', 'bench', 0
        FROM generate_series(0, %(days)s - 1) AS d""", p)
    conn.execute("SELECT setval(pg_get_serial_sequence('run', 'run_id'), %(days)s)", p)
    # 12 listing slots per SKU: 3 per platform. Slot 0 lives all year; slot 1 vanishes on a
    # day of the last two thirds for half of them, and slot 2 replaces it from that day.
    conn.execute(f"""
        CREATE TEMP TABLE spec AS
        SELECT (sk - 1) * 12 + pl * 3 + k + 1 AS listing_id, sk, pl, k,
               CASE WHEN k = 2 THEN v.cut ELSE 0 END AS first_day,
               CASE WHEN k = 1 THEN v.cut ELSE %(days)s END AS end_day
        FROM generate_series(1, %(skus)s) AS sk, generate_series(0, 3) AS pl, generate_series(0, 2) AS k,
        LATERAL (SELECT CASE WHEN {u("sk * 8 + pl")} < 0.5
                             THEN (%(days)s / 3 + {u("sk * 8 + pl + 4")} * (2 * %(days)s / 3))::int
                             ELSE %(days)s END AS cut) AS v
        WHERE k < 2 OR v.cut < %(days)s""", p)
    conn.execute("""
        INSERT INTO listing (listing_id, platform, item_id, title, shop, url, first_seen, last_seen,
                             first_run_id, last_run_id)
        OVERRIDING SYSTEM VALUE
        SELECT listing_id, (ARRAY['taobao','1688','jd','pinduoduo'])[pl + 1], (600000000000 + listing_id)::text,
               format('商品 SKU-%%s 款式%%s 包邮', lpad(sk::text, 6, '0'), k), format('店铺 %%s', listing_id %% 997),
               format('https://example.com/item/%%s', listing_id),
               %(t0)s + first_day * interval '1 day', %(t0)s + (end_day - 1) * interval '1 day',
               first_day + 1, end_day
        FROM spec""", p)
    conn.execute(f"""
        INSERT INTO match (sku, listing_id, best_score, best_rank, last_rank, times_seen,
                           first_run_id, last_run_id, first_seen, last_seen)
        SELECT 'SKU-' || lpad(sk::text, 6, '0'), listing_id, 0.8 + 0.2 * {u("listing_id")}, 1 + k, 1 + k,
               greatest(end_day - first_day, 1), first_day + 1, end_day,
               %(t0)s + first_day * interval '1 day', %(t0)s + (end_day - 1) * interval '1 day'
        FROM spec""", p)
    print(f"  runs, {s * 12:,} listing slots and matches: {time.perf_counter() - t:.1f} s", flush=True)
    price = f"""round((10 + 490 * {u("sp.sk")}) * (0.85 + 0.3 * {u("sp.listing_id + 7")})
                 * (0.92 + 0.16 * {u("sp.listing_id * 1000 + (d.d + sp.listing_id %% 7) / 7")}), 2)"""
    total = 0
    for lo in range(0, d, 30):
        hi = min(lo + 30, d)
        t = time.perf_counter()
        cur = conn.execute(f"""
            INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low, price_high, promo_price,
                                        original_price, currency, sales_lower_bound, sales_text, rank, score,
                                        cached, group_id)
            SELECT sp.listing_id, d.d + 1, %(t0)s + d.d * interval '1 day' + (sp.sk %% 3600) * interval '1 second',
                   x.price, CASE WHEN {u("sp.listing_id + 11")} < 0.2 THEN round(x.price * 1.3, 2) ELSE x.price END,
                   CASE WHEN {u("sp.listing_id * 1000 + d.d / 3 + 5")} < 0.1 THEN round(x.price * 0.85, 2) END,
                   round(x.price * 1.25, 2), 'CNY', x.sales, x.sales || '人付款', 1 + sp.k, 0.8, false, sp.sk
            FROM spec AS sp
            JOIN generate_series(%(lo)s, %(hi)s - 1) AS d(d) ON d.d >= sp.first_day AND d.d < sp.end_day
            CROSS JOIN LATERAL (
                SELECT {price} AS price,
                       (5000 * {u("sp.listing_id + 3")} + d.d * 20 * {u("sp.listing_id + 9")})::bigint AS sales
            ) AS x
            WHERE {u("sp.listing_id * 1000 + d.d + 13")} >= 0.05
              AND {u("sp.pl * 100000 + d.d + 17")} >= 0.02
            """, {**p, "lo": lo, "hi": hi})
        total += cur.rowcount
        conn.commit()
        print(f"  snapshots of days {lo}-{hi - 1}: {cur.rowcount:,} in {time.perf_counter() - t:.1f} s "
              f"({total:,} so far)", flush=True)
    conn.execute("UPDATE run AS r SET n_snapshots = c.n FROM (SELECT run_id, count(*) AS n FROM price_snapshot "
                 "GROUP BY run_id) AS c WHERE c.run_id = r.run_id")
    conn.execute("""UPDATE listing AS l SET last_seen = c.last_at, last_run_id = c.last_run
                    FROM (SELECT listing_id, max(captured_at) AS last_at, max(run_id) AS last_run
                          FROM price_snapshot GROUP BY listing_id) AS c WHERE c.listing_id = l.listing_id""")
    conn.commit()


def has_read_path(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('listing_current') IS NOT NULL").fetchone()[0]


def refresh(conn: psycopg.Connection) -> float:
    t = time.perf_counter()
    conn.execute("SELECT snapprice_refresh()")
    conn.commit()
    return time.perf_counter() - t


@dataclass
class Case:
    name: str
    sql: str
    goal_s: float | None  # None: no goal set


def cases(sku: str, listing: int, read_path: bool) -> list[Case]:
    one, every = ONE_KEY_MS / 1000, ALL_S
    out = [
        Case("latest_price, one listing", f"SELECT * FROM latest_price WHERE listing_id = {listing}", one),
        Case("latest_price, all", "SELECT count(*) FROM (SELECT * FROM latest_price) AS v", every),
        Case("daily_price, one listing", f"SELECT * FROM daily_price WHERE listing_id = {listing}", one),
        Case("daily_price, one listing, 90 days",
             f"SELECT * FROM daily_price WHERE listing_id = {listing} AND day > current_date - 90", one),
        Case("sku_best_price, one SKU", f"SELECT * FROM sku_best_price WHERE sku = '{sku}'", one),
        Case("sku_best_price, all", "SELECT count(*) FROM (SELECT * FROM sku_best_price) AS v", every),
        Case("price_change, one listing", f"SELECT * FROM price_change WHERE listing_id = {listing}", one),
        Case("price_change, last 7 days",
             "SELECT count(*) FROM (SELECT * FROM price_change WHERE captured_at >= now() - interval '7 days') AS v",
             every),
        Case("listing_window_stats, one listing",
             f"SELECT * FROM listing_window_stats WHERE listing_id = {listing}", one),
        Case("sku_window_stats, one SKU", f"SELECT * FROM sku_window_stats WHERE sku = '{sku}'", one),
        Case("sku_window_stats, all", "SELECT count(*) FROM (SELECT * FROM sku_window_stats) AS v", every),
        Case("listing_window_stats, all", "SELECT count(*) FROM (SELECT * FROM listing_window_stats) AS v", None),
        *([Case("snapprice_sku_window_of, one SKU (as for a SKU written since the refresh)",
                f"SELECT * FROM snapprice_sku_window_of('{sku}')", one)] if read_path else []),
        Case("latest_price, missing listing", "SELECT * FROM latest_price WHERE listing_id = -1", one),
        Case("sku_best_price, missing SKU", "SELECT * FROM sku_best_price WHERE sku = 'NO-SUCH-SKU'", one),
        Case("sku_window_stats, missing SKU", "SELECT * FROM sku_window_stats WHERE sku = 'NO-SUCH-SKU'", one),
    ]
    for f in sorted((sql_dir() / "queries").glob("*.sql")):
        text = f.read_text(encoding="utf-8")
        if "'SKU-0001'" in text:  # the per-SKU example: the user edits the SKU
            out.append(Case(f"queries/{f.name}, one SKU", text.replace("'SKU-0001'", f"'{sku}'"), one))
        else:
            out.append(Case(f"queries/{f.name}", text, every))
    return out


def run_case(conn: psycopg.Connection, case: Case, timeout_s: float, once: bool = False) -> float | None:
    """Warm-cache seconds (median of 3 after a warm-up; a slow query is timed once after it;
    ``once``: a query over 2 s is timed by its warm-up alone); None past the timeout."""
    conn.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
    times = []
    try:
        for i in range(4):
            t = time.perf_counter()
            conn.execute(case.sql).fetchall()
            took = time.perf_counter() - t
            if i or (once and took > 2):
                times.append(took)
            if took > 2 and (i >= 1 or once):
                break
    except psycopg.errors.QueryCanceled:
        conn.rollback()
        return None
    except psycopg.Error as exc:  # e.g. a query of a newer schema than the database's
        conn.rollback()
        print(f"  {case.name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return None
    finally:
        conn.rollback()
    return statistics.median(times)


def explain(conn: psycopg.Connection, sql: str, timeout_s: float) -> str:
    conn.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
    try:
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()
        return "\n".join(r[0] for r in rows)
    except psycopg.errors.QueryCanceled:
        conn.rollback()
        rows = conn.execute("EXPLAIN " + sql).fetchall()
        return "(timed out; plan only)\n" + "\n".join(r[0] for r in rows)
    finally:
        conn.rollback()


def run_rows(conn: psycopg.Connection, n: int, offset_s: int = 0) -> list[ListingSnapshot]:
    """The next run's snapshots of the n newest live listings, as search results."""
    rows = conn.execute("""
        SELECT l.platform, l.item_id, l.title, l.shop, l.url
        FROM listing AS l ORDER BY l.last_seen DESC, l.listing_id LIMIT %s""", (n,)).fetchall()
    return [
        ListingSnapshot(platform=pl, item_id=item, title=title, shop=shop, url=url, pic_url=None,
                        price_low=Decimal(f"{10 + i % 500}.90"), price_high=Decimal(f"{10 + i % 500}.90"),
                        promo_price=Decimal(f"{9 + i % 500}.50") if i % 10 == 0 else None,
                        original_price=None, currency="CNY", sales_lower_bound=i % 10000,
                        sales_text=f"{i % 10000}人付款", rank=1 + i % 20)
        for i, (pl, item, title, shop, url) in enumerate(rows)
    ]


def time_load(url: str, data: list[ListingSnapshot], at: datetime) -> float:
    """Seconds for the loader to store ``data`` as one batch of a new run, commit included."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as c:
            run = create_run(c, kind="scheduled", catalog="bench", config_digest=None)
        t = time.perf_counter()
        with engine.begin() as c:
            res = load_snapshots(c, run, at, data)
        took = time.perf_counter() - t
        assert res.snapshots == len(data), res
        return took
    finally:
        engine.dispose()


def load_figures(url: str, conn: psycopg.Connection, n: int, now: datetime) -> list[tuple[str, str, str]]:
    """A run's load into the full table vs a table with one earlier run, and vs psql \\copy."""
    data = run_rows(conn, n)
    conn.commit()
    full_s = time_load(url, data, now)
    with scratch_database("snapprice_bench_small") as small:
        time_load(small, data, now - timedelta(days=1))  # the same listings, one earlier run
        small_s = time_load(small, data, now)
    copy_data = run_rows(conn, n)
    conn.commit()
    engine = sa.create_engine(url)
    try:
        copy_s, how = time_copy_snapshots(engine, url, conn, copy_data, now + timedelta(minutes=5))
    finally:
        engine.dispose()
    return [
        (f"loader, {n:,} snapshots into the full table", f"{full_s:.2f} s ({n / full_s:,.0f}/s)", ""),
        (f"loader, {n:,} snapshots into a 1-run table", f"{small_s:.2f} s ({n / small_s:,.0f}/s)", ""),
        ("  full / small (throughput)", f"{small_s / full_s:.2f}", "goal >= 0.9"),
        (f"{how} of the same {n:,} snapshots", f"{copy_s:.2f} s ({n / copy_s:,.0f}/s)", ""),
        ("  loader / copy (throughput)", f"{copy_s / full_s:.2f}", "goal >= 0.7"),
    ]


def time_copy_snapshots(engine: sa.Engine, url: str, conn: psycopg.Connection, data: list[ListingSnapshot],
                        at: datetime) -> tuple[float, str]:
    """\\copy of the snapshot rows of a new run (listings exist) into price_snapshot."""
    import io
    import shutil
    import subprocess
    import tempfile

    ids = dict(conn.execute("SELECT platform || ':' || item_id, listing_id FROM listing").fetchall())
    conn.commit()
    with engine.begin() as c:
        run = create_run(c, kind="scheduled", catalog="bench", config_digest=None)
    buf = io.StringIO()
    stamp = at.isoformat()
    for s in data:
        buf.write("\t".join(str(v) for v in (
            ids[f"{s.platform}:{s.item_id}"], run, stamp, s.price_low, s.price_high,
            "\\N" if s.promo_price is None else s.promo_price, s.currency, s.sales_lower_bound,
            s.sales_text, s.rank)) + "\n")
    f = Path(tempfile.mkdtemp()) / "snap.tsv"
    f.write_text(buf.getvalue(), encoding="utf-8")
    cols = "price_snapshot (listing_id, run_id, captured_at, price_low, price_high, promo_price, currency," \
           " sales_lower_bound, sales_text, rank)"
    psql = shutil.which("psql")
    t = time.perf_counter()
    if psql:
        subprocess.run([psql, to_libpq(url), "-q", "-v", "ON_ERROR_STOP=1", "-c", f"\\copy {cols} FROM '{f}'"],
                       check=True)
        how = "psql \\copy"
    else:
        with psycopg.connect(to_libpq(url)) as c, c.cursor().copy(f"COPY {cols} FROM STDIN") as cp:
            cp.write(buf.getvalue())
        how = "psycopg COPY"
    took = time.perf_counter() - t
    shutil.rmtree(f.parent)
    return took, how


def storage(conn: psycopg.Connection) -> tuple[int, dict[str, int]]:
    n = conn.execute("SELECT count(*) FROM price_snapshot").fetchone()[0]
    sizes = dict(conn.execute("""
        SELECT c.relname, pg_total_relation_size(c.oid) + coalesce((
                   SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits AS i WHERE i.inhparent = c.oid), 0)
        FROM pg_class AS c
        WHERE c.relname IN ('price_snapshot', 'listing', 'match', 'listing_current', 'listing_change', 'sku_window',
                            'sku_window_dirty')
          AND c.relnamespace = current_schema()::regnamespace""").fetchall())
    conn.rollback()
    return n, {k: int(v) for k, v in sizes.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshots", type=parse_count, default=parse_count("50M"),
                    help="history size (50M default; 5M is the quick mode)")
    ap.add_argument("--days", type=int, default=365, help="days of daily runs (the SKU count follows)")
    ap.add_argument("--load-rows", type=parse_count, default=80_000, help="snapshots of the timed run's load")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a query may take")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database (its name is printed)")
    ap.add_argument("--reuse", metavar="DBNAME", help="time an existing bench database (migrated first)")
    ap.add_argument("--skip-load", action="store_true", help="do not time loads (they add a run)")
    ap.add_argument("--cases", metavar="REGEX", help="time only the cases whose name matches")
    ap.add_argument("--no-migrate", action="store_true", help="with --reuse: time the schema as it is")
    ap.add_argument("--once", action="store_true",
                    help="time a query over 2 s by one run, and show plans without ANALYZE (a quick baseline)")
    args = ap.parse_args()

    now = datetime.now(UTC)
    last = now.replace(hour=23, minute=0, second=0, microsecond=0)
    while last > now - timedelta(hours=1, minutes=15):
        last -= timedelta(days=1)
    shape = Shape(skus=max(1, round(args.snapshots / (SNAPSHOTS_PER_SKU_YEAR * args.days / 365))),
                  days=args.days, first_start=last - timedelta(days=args.days - 1))

    if args.reuse:
        base, _srv = server_url()
        url = sa.engine.make_url(base).set(database=args.reuse).render_as_string(hide_password=False)
        t = time.perf_counter()
        applied = [] if args.no_migrate else migrate.upgrade(url)
        if applied:
            print(f"migrated {args.reuse} in {time.perf_counter() - t:.0f} s: {', '.join(applied)}")
            with psycopg.connect(to_libpq(url), autocommit=True) as c:
                c.execute("VACUUM ANALYZE")
        bench(url, shape, args, generate_first=False)
        return
    with scratch_database("snapprice_bench_query") as url:
        name = sa.engine.make_url(url).database
        try:
            bench(url, shape, args, generate_first=True)
        finally:
            if args.keep:
                keep(url, name)


def keep(url: str, name: str) -> None:
    """Rename the scratch database out of the way of its dropping."""
    base, _ = server_url()
    kept = name.replace("snapprice_bench_query", "snapprice_bench_kept")
    with psycopg.connect(to_libpq(base), autocommit=True) as admin:
        admin.execute(f'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \'{name}\' '
                      'AND pid <> pg_backend_pid()')
        admin.execute(f'ALTER DATABASE "{name}" RENAME TO "{kept}"')
        admin.execute(f'CREATE DATABASE "{name}"')  # for the drop that follows
    print(f"kept the database as {kept} (drop it with: dropdb -h 127.0.0.1 -U postgres {kept})")


def bench(url: str, shape: Shape, args: argparse.Namespace, *, generate_first: bool) -> None:
    out: list[tuple[str, str, str]] = []
    with psycopg.connect(to_libpq(url)) as conn:
        read_path = has_read_path(conn)
        if generate_first:
            print(f"generating ~{args.snapshots:,} snapshots: {shape.skus:,} SKUs x 8 live listings x "
                  f"{shape.days} daily runs", flush=True)
            t = time.perf_counter()
            # Triggers off (foreign-key checks and the read path's upkeep): the rows are
            # consistent by construction, and `db refresh` builds the read path after.
            conn.execute("SET session_replication_role = replica")
            generate(conn, shape)
            conn.execute("SET session_replication_role = DEFAULT")
            conn.commit()
            gen_s = time.perf_counter() - t
            conn.autocommit = True
            t = time.perf_counter()
            conn.execute("VACUUM ANALYZE")
            conn.autocommit = False
            out.append(("generate (INSERT ... SELECT)", f"{gen_s:.0f} s", ""))
            out.append(("VACUUM ANALYZE", f"{time.perf_counter() - t:.0f} s", ""))
            if read_path:
                out.append(("db refresh (rebuild rollups from price_snapshot)", f"{refresh(conn):.1f} s", ""))
        if read_path:  # the state after a run's end: window statistics stored
            t = time.perf_counter()
            done = conn.execute("SELECT snapprice_refresh_windows()").fetchone()[0]
            conn.commit()
            out.append(("run-end refresh of the window statistics",
                        f"{time.perf_counter() - t:.1f} s", "every SKU" if done < 0 else f"{done} SKUs"))
        n, sizes = storage(conn)
        out.append(("snapshots", f"{n:,}", f"{shape.skus:,} SKUs, {shape.days} days"))
        sku, listing = conn.execute("""
            SELECT m.sku, m.listing_id FROM match AS m JOIN listing AS l USING (listing_id)
            ORDER BY l.last_seen DESC, m.sku OFFSET (SELECT count(*) / 2 FROM match) LIMIT 1""").fetchone()
        conn.rollback()
        slow: list[tuple[Case, float | None]] = []
        results = []
        for case in cases(sku, listing, read_path):
            if args.cases and not re.search(args.cases, case.name):
                continue
            took = run_case(conn, case, args.timeout, args.once)
            shown = "timeout" if took is None else (f"{took * 1000:.1f} ms" if took < 1 else f"{took:.2f} s")
            goal = "" if case.goal_s is None else (
                f"< {case.goal_s * 1000:.0f} ms" if case.goal_s < 1 else f"< {case.goal_s:.0f} s")
            met = "" if case.goal_s is None else ("met" if took is not None and took < case.goal_s else "MISSED")
            results.append((case.name, shown, f"{goal} {met}".strip()))
            print(f"  {case.name}: {shown} {met}", flush=True)
            if case.goal_s is not None and (took is None or took >= case.goal_s):
                slow.append((case, took))
        out.extend(results)
        if not args.skip_load:
            out.extend(load_figures(url, conn, args.load_rows, datetime.now(UTC)))
        n, sizes = storage(conn)
        per = sum(sizes.values()) / n
        snap_per = sizes.get("price_snapshot", 0) / n
        out.append(("bytes per snapshot, price_snapshot (heap + indexes)", f"{snap_per:.0f}", ""))
        for rel in ("listing", "match", "listing_current", "listing_change", "sku_window", "sku_window_dirty"):
            if rel in sizes:
                out.append((f"  + {rel}", f"{sizes[rel] / n:.1f} B per snapshot", f"{sizes[rel] / 2**20:,.0f} MiB"))
        out.append(("bytes per snapshot, all snapshot tables", f"{per:.0f}",
                    f"{sum(sizes.values()) / 2**30:.2f} GiB in all"))
        year = 100_000 * SNAPSHOTS_PER_SKU_YEAR * per
        out.append(("a year of 100k SKUs (8 listings, daily)", f"{year / 2**30:,.0f} GiB",
                    f"{100_000 * SNAPSHOTS_PER_SKU_YEAR / 1e6:,.0f} M snapshots"))
        width = max(len(r[0]) for r in out)
        print(f"\nread path: {'current-state and rollup tables' if read_path else 'views over price_snapshot'}")
        for name, value, note in out:
            print(f"{name:<{width}}  {value:>24}  {note}")
        for case, took in slow:
            print(f"\n--- over its goal: {case.name} ({'timeout' if took is None else f'{took:.3f} s'})")
            print(case.sql.strip())
            print(explain(conn, case.sql, 0.001 if args.once else args.timeout))


if __name__ == "__main__":
    sys.exit(main())
