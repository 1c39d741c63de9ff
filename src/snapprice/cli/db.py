"""`snapprice db`: apply and inspect schema migrations, query, prune old history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from snapprice.cli.context import database_from, settings_from
from snapprice.errors import SnappriceError
from snapprice.store import migrate, readpath
from snapprice.store.readonly import run_readonly_query

if TYPE_CHECKING:
    from snapprice.store.database import Database

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations from sql/migrations (a second call is a no-op)."""
    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        applied = migrate.upgrade(db.url)
        _use_day_zone(db, settings.day_zone())
        where = f"embedded PostgreSQL in {db.data_dir}" if db.embedded else db.redacted()
        if applied:
            console.print(f"applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
        else:
            console.print(f"{where} is up to date")


def _use_day_zone(db: Database, zone: str) -> bool:
    from snapprice.store.database import make_engine

    engine = make_engine(db)
    try:
        with engine.begin() as conn:
            return readpath.use_day_zone(conn, zone)
    finally:
        engine.dispose()


@app.command()
def refresh(ctx: typer.Context) -> None:
    """Rebuild the current-state tables, window statistics and daily prices from price_snapshot.

    They follow every write to price_snapshot by themselves; this is for history that
    arrived with triggers off (a restore, a COPY under session_replication_role = replica).
    """
    import time

    from snapprice.store.database import make_engine

    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        migrate.upgrade(db.url)
        _use_day_zone(db, settings.day_zone())
        engine = make_engine(db)
        try:
            started = time.monotonic()
            with engine.begin() as conn:
                readpath.refresh(conn)
                zone = readpath.day_zone(conn)
        finally:
            engine.dispose()
    console.print(f"rebuilt latest prices, price changes, window statistics and daily prices (days in {zone}) "
                  f"in {time.monotonic() - started:.1f} s", soft_wrap=True)


@app.command("forget-matches")
def forget_matches_command(
    ctx: typer.Context,
    before_version: Annotated[int, typer.Option(
        "--before-version", min=1,
        help="Forget what groups made by a grouping rule older than this matched "
             "(2: groups that could chain, before precision-first dedupe; 3: also groups "
             "whose verifier let label variants through).")] = 2,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count them; delete nothing.")] = False,
) -> None:
    """Delete matches a SKU got through another SKU's picture in groups of an older dedupe.

    Such groups could hold different products (one group's search result was matched to all
    of them); the next run matches these SKUs again under today's rule.
    """
    from snapprice.store.database import make_engine
    from snapprice.store.groups import forget_matches

    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        engine = make_engine(db)
        try:
            with engine.connect() as conn:
                n_matches, n_skus = forget_matches(conn, before_version)
                if dry_run:
                    conn.rollback()
                else:
                    conn.commit()
        finally:
            engine.dispose()
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb} {n_matches} match(es) of {n_skus} SKU(s) grouped under another SKU's picture "
                  f"by a dedupe older than version {before_version}")


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the database in use and which migrations are applied or pending."""
    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        st = migrate.status(db.url)
        where = f"embedded ({db.data_dir})" if db.embedded else db.redacted()
        if as_json:
            typer.echo(json.dumps({
                "database": where, "embedded": db.embedded, "current": st.current,
                "applied": [{"id": i, "applied_at": str(t)} for i, t in st.applied],
                "pending": st.pending, "unknown": st.unknown,
            }))
            return
        console.print(f"database: {where}")
        table = Table("migration", "state", "applied at (UTC)")
        for mid, at in st.applied:
            table.add_row(mid, "applied" if mid not in st.unknown else "UNKNOWN TO THIS CODE",
                          str(at)[:19])
        for mid in st.pending:
            table.add_row(mid, "pending", "")
        console.print(table)
        if st.pending:
            console.print("run `snapprice db upgrade` to apply the pending migrations")


def _cell(value: object) -> str:
    """A value as a person reads it: a decimal without the scale's trailing zeros, but with
    cents (``176.2700`` → ``176.27``, ``0.1250`` → ``0.125``, ``7`` stays ``7``).

    >>> [_cell(v) for v in (Decimal("176.2700"), Decimal("0.1250"), Decimal("7"), None, "x")]
    ['176.27', '0.125', '7', '', 'x']
    """
    if value is None:
        return ""
    if isinstance(value, Decimal) and value.is_finite():
        whole, point, fraction = format(value, "f").partition(".")
        return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}" if point else whole
    return str(value)


def _statement(sql: str) -> str:
    """The SQL text, or the text of the file ``@FILE`` names."""
    if not sql.startswith("@"):
        return sql
    path = Path(sql[1:])
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SnappriceError(f"{path}: no such file (db query @FILE reads the query from FILE)") from None
    except UnicodeDecodeError:
        raise SnappriceError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise SnappriceError(f"{path}: cannot be read ({exc.strerror})") from None


@app.command()
def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(
        help="One query (SELECT, WITH, VALUES, TABLE), or @FILE to read it from a file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Rows as JSON lines.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show at most.")] = 100,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds the query may run.")] = 30.0,
) -> None:
    """Run one read-only query as snapprice_reader and print the rows (handy on the embedded database).

    One statement only, in a read-only transaction, on a connection that logs in as
    snapprice_reader (or DATABASE_READER_URL): nothing it does can change the data.
    """
    statement = _statement(sql)
    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        result = run_readonly_query(db.url, statement, limit=limit, timeout_s=timeout,
                                    reader=settings.database.reader_url,
                                    connect_timeout=settings.database.connect_timeout)
    if as_json:
        for row in result.rows:
            typer.echo(json.dumps(dict(zip(result.columns, row, strict=True)), default=str, ensure_ascii=False))
        return
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)
    shown = len(result.rows)
    console.print(f"{shown} row{'s' if shown != 1 else ''}"
                  + (f" (the first {limit}; --limit shows more)" if result.truncated else ""))


def _at(v: object) -> str:
    return v.strftime("%Y-%m-%d %H:%M UTC") if isinstance(v, datetime) else "—"


@app.command()
def prune(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would be removed.")] = False,
) -> None:
    """Remove raw responses older than [retention] raw_days (default 90); snapshots stay
    unless [retention] snapshot_days is set (then whole months older than it are dropped)."""
    from snapprice.store.database import make_engine
    from snapprice.store.retention import prune as prune_old

    settings = settings_from(ctx)
    keep = settings.retention
    with database_from(ctx, settings) as db:
        engine = make_engine(db)
        try:
            s = prune_old(engine, datetime.now(UTC), raw_days=keep.raw_days, snapshot_days=keep.snapshot_days,
                          batch=keep.batch, dry_run=dry_run)
        finally:
            engine.dispose()
    verb = "would delete" if dry_run else "deleted"
    if s.raw_rows:
        console.print(f"raw responses: {verb} {s.raw_rows:,} received before {_at(s.raw_cutoff)} "
                      f"(raw_days = {keep.raw_days}): {s.raw_runs:,} run(s), {_at(s.raw_oldest)} to "
                      f"{_at(s.raw_newest)}; those runs can no longer be replayed")
    else:
        console.print(f"raw responses: none received before {_at(s.raw_cutoff)} (raw_days = {keep.raw_days})")
    if s.snapshot_cutoff is None:
        console.print("snapshots: kept forever ([retention] snapshot_days is not set)")
    elif not s.snapshot_months:
        console.print(f"snapshots: no whole month ends before {_at(s.snapshot_cutoff)} "
                      f"(snapshot_days = {keep.snapshot_days})")
    for m in s.snapshot_months:
        console.print(f"snapshots: {'would drop' if dry_run else 'dropped'} partition {m.partition} "
                      f"({m.start:%Y-%m}, {m.rows:,} rows)")
    if dry_run:
        console.print("dry run: nothing was changed")
