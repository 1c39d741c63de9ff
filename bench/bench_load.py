"""Loader throughput: snapprice's COPY+upsert loader vs plain psql COPY vs row-by-row ORM.

    python bench/bench_load.py [--rows 200000] [--orm-rows 5000]

Uses DATABASE_URL, else the server on 127.0.0.1:5432, else an embedded PostgreSQL; works
in a scratch database that it drops afterwards. Prints rows/s and the two ratios
(goals: loader/copy >= 0.7, loader/ORM >= 10).

Like for like: the loader and the COPY baseline write the same rows into the same tables,
once as search tasks load them (listing, price_snapshot and a match per listing and SKU)
and once with listings and snapshots only. The baseline does no validation, no
idempotency, no merge of known listings and no uniqueness check per (listing, run).
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from snapprice.models import ListingSnapshot
from snapprice.store import migrate
from snapprice.store.database import to_libpq, to_sqlalchemy
from snapprice.store.loader import load_snapshots
from snapprice.store.runs import create_run


class Base(DeclarativeBase):
    pass


class Listing(Base):
    __tablename__ = "listing"
    listing_id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str]
    item_id: Mapped[str]
    title: Mapped[str | None]
    shop: Mapped[str | None]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class Snapshot(Base):
    __tablename__ = "price_snapshot"
    listing_id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(primary_key=True)
    captured_at: Mapped[datetime] = mapped_column(primary_key=True)
    price_low: Mapped[Decimal | None]
    price_high: Mapped[Decimal | None]
    promo_price: Mapped[Decimal | None]
    currency: Mapped[str]
    sales_lower_bound: Mapped[int | None]
    sales_text: Mapped[str | None]
    rank: Mapped[int | None]


def rows(n: int, prefix: str) -> list[ListingSnapshot]:
    return [
        ListingSnapshot(
            platform="taobao", item_id=f"{prefix}{i}", title=f"商品 {i}", shop=f"店铺 {i % 97}",
            url=f"https://item.taobao.com/item.htm?id={i}", pic_url=None,
            price_low=Decimal(f"{10 + i % 500}.90"), price_high=Decimal(f"{10 + i % 500}.90"),
            promo_price=Decimal(f"{9 + i % 500}.50"), original_price=None, currency="CNY",
            sales_lower_bound=i % 10000, sales_text=f"{i % 10000}人付款", rank=1 + i % 20,
        )
        for i in range(n)
    ]


def server_url() -> tuple[str, object | None]:
    if os.environ.get("DATABASE_URL"):
        return to_sqlalchemy(os.environ["DATABASE_URL"]), None
    local = "postgresql://postgres@127.0.0.1:5432/test"
    try:
        psycopg.connect(local, connect_timeout=2).close()
        return to_sqlalchemy(local), None
    except psycopg.Error:
        import pgserver

        srv = pgserver.get_server(tempfile.mkdtemp(), cleanup_mode="delete")
        return to_sqlalchemy(srv.get_uri()), srv


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A migrated database of its own on the server of ``server_url()``; its URL. Dropped after."""
    base, _srv = server_url()  # _srv: an embedded server lives as long as this block
    name = f"{prefix}_{secrets.token_hex(3)}"
    with psycopg.connect(to_libpq(base), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(to_libpq(base), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def time_loader(engine: sa.Engine, data: list[ListingSnapshot], now: datetime, skus: list[str]) -> float:
    """Seconds for load_snapshots of ``data`` as one batch of a new run, commit included."""
    with engine.begin() as conn:
        run = create_run(conn, kind="manual", catalog="bench", config_digest=None)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        res = load_snapshots(conn, run, now, data, skus=skus)
    seconds = time.perf_counter() - t0
    assert res.snapshots == len(data) and res.matches == len(data) * len(skus), res
    return seconds


def time_copy(engine: sa.Engine, url: str, data: list[ListingSnapshot], now: datetime,
              skus: list[str]) -> tuple[float, str]:
    """Seconds for COPY of the same rows into the same tables (listing, price_snapshot of a
    new run, and a match per listing and SKU when the loader writes them): the floor for
    storing them, with no idempotency. Data preparation is outside the timing."""
    with engine.begin() as conn:
        run_c = create_run(conn, kind="manual", catalog="bench", config_digest=None)
        next_id = conn.execute(sa.text("SELECT coalesce(max(listing_id), 0) + 1 FROM listing")).scalar()
    lst_buf, snap_buf, match_buf = io.StringIO(), io.StringIO(), io.StringIO()
    stamp = now.isoformat()
    for i, s in enumerate(data):
        lid = next_id + i
        lst_buf.write(f"{lid}\t{s.platform}\tC{s.item_id}\t{s.title}\t{s.shop}\t{s.url}\t{stamp}\t{stamp}\n")
        snap_buf.write("\t".join(str(v) for v in (
            lid, run_c, stamp, s.price_low, s.price_high, s.promo_price, s.currency,
            s.sales_lower_bound, s.sales_text, s.rank)) + "\n")
        for sku in skus:
            match_buf.write(f"{sku}\t{lid}\t{s.rank}\t{s.rank}\t1\t{run_c}\t{run_c}\t{stamp}\t{stamp}\n")
    tmp = Path(tempfile.mkdtemp())
    tables = [
        ("listing (listing_id, platform, item_id, title, shop, url, first_seen, last_seen)", lst_buf),
        ("price_snapshot (listing_id, run_id, captured_at, price_low, price_high, promo_price, currency,"
         " sales_lower_bound, sales_text, rank)", snap_buf),
    ]
    if skus:
        tables.append(("match (sku, listing_id, best_rank, last_rank, times_seen, first_run_id, last_run_id,"
                       " first_seen, last_seen)", match_buf))
    copies = []
    for k, (target, buf) in enumerate(tables):
        f = tmp / f"{k}.tsv"
        f.write_text(buf.getvalue(), encoding="utf-8")
        copies.append((f"\\copy {target} FROM '{f}'", f"COPY {target} FROM STDIN", buf.getvalue()))
    psql = shutil.which("psql")
    with engine.begin() as conn:  # identity column: allow explicit ids
        conn.execute(sa.text("ALTER TABLE listing ALTER COLUMN listing_id SET GENERATED BY DEFAULT"))
    t0 = time.perf_counter()
    if psql:
        for cmd, _, _ in copies:
            subprocess.run([psql, to_libpq(url), "-q", "-v", "ON_ERROR_STOP=1", "-c", cmd], check=True)
        how = "psql \\copy"
    else:  # the same COPY protocol through psycopg when the psql client is absent
        with psycopg.connect(to_libpq(url)) as c:
            for _, sql, content in copies:
                with c.cursor().copy(sql) as cp:
                    cp.write(content)
        how = "psycopg COPY (no psql here)"
    seconds = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('listing', 'listing_id'),"
                             " (SELECT max(listing_id) FROM listing))"))
    shutil.rmtree(tmp)
    return seconds, how


def time_orm(engine: sa.Engine, data: list[ListingSnapshot], now: datetime) -> float:
    """Seconds for row-by-row ORM inserts (listing + snapshot per row)."""
    with engine.begin() as conn:
        run2 = create_run(conn, kind="manual", catalog="bench", config_digest=None)
    t0 = time.perf_counter()
    with Session(engine) as session:
        for s in data:
            lst = Listing(platform=s.platform, item_id=s.item_id, title=s.title, shop=s.shop,
                          first_seen=now, last_seen=now)
            session.add(lst)
            session.flush()
            session.add(Snapshot(listing_id=lst.listing_id, run_id=run2, captured_at=now,
                                 price_low=s.price_low, price_high=s.price_high,
                                 promo_price=s.promo_price, currency=s.currency,
                                 sales_lower_bound=s.sales_lower_bound,
                                 sales_text=s.sales_text, rank=s.rank))
            session.flush()
        session.commit()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--orm-rows", type=int, default=5_000)
    args = ap.parse_args()
    with scratch_database("snapprice_bench") as url:
        engine = sa.create_engine(url)
        now = datetime.now(UTC)
        n = args.rows
        print(f"rows: loader {n}, copy {n}, ORM {args.orm_rows} (one batch each, commit included)")
        # As search tasks load them: every listing matched to the SKU searched for.
        loader_s = time_loader(engine, rows(n, "L"), now, ["SKU-1"])
        copy_s, how = time_copy(engine, url, rows(n, "C"), now, ["SKU-1"])
        # The shape: listings and snapshots only.
        # (Copy first this time: each step meets tables the earlier ones filled.)
        plain_copy_s, _ = time_copy(engine, url, rows(n, "Q"), now, [])
        plain_s = time_loader(engine, rows(n, "P"), now, [])
        orm_s = time_orm(engine, rows(args.orm_rows, "O"), now)
        engine.dispose()

        print(f"loader, listing + snapshot + match:        {n / loader_s:>10,.0f} rows/s")
        print(f"{how} into the same three tables:   {n / copy_s:>10,.0f} rows/s")
        print(f"loader, listing + snapshot (no SKU):       {n / plain_s:>10,.0f} rows/s")
        print(f"{how} into listing + price_snapshot: {n / plain_copy_s:>10,.0f} rows/s")
        print(f"row-by-row SQLAlchemy ORM:                 {args.orm_rows / orm_s:>10,.0f} rows/s")
        print(f"loader/copy = {copy_s / loader_s:.2f} with matches, {plain_copy_s / plain_s:.2f} without"
              "  (goal >= 0.7)")
        print(f"loader/ORM  = {(n / plain_s) / (args.orm_rows / orm_s):.1f}  (goal >= 10)")


if __name__ == "__main__":
    main()
