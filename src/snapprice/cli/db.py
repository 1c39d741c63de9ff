"""`snapprice db`: apply and inspect schema migrations."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from snapprice.cli.context import database_from, settings_from
from snapprice.store import migrate

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations from sql/migrations (a second call is a no-op)."""
    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        applied = migrate.upgrade(db.url)
        where = f"embedded PostgreSQL in {db.data_dir}" if db.embedded else db.redacted()
        if applied:
            console.print(f"applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
        else:
            console.print(f"{where} is up to date")


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


@app.command()
def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="One SQL statement, or @FILE to read it from a file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Rows as JSON lines.")] = False,
    limit: Annotated[int, typer.Option(help="Rows to show at most.")] = 100,
) -> None:
    """Run one query in a read-only transaction and print the rows (handy on the embedded database)."""
    from pathlib import Path

    import sqlalchemy as sa

    from snapprice.store.database import make_engine

    statement = Path(sql[1:]).read_text(encoding="utf-8") if sql.startswith("@") else sql
    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        engine = make_engine(db)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SET TRANSACTION READ ONLY"))
                result = conn.execute(sa.text(statement))
                columns = list(result.keys())
                rows = result.fetchmany(limit)
        except sa.exc.DBAPIError as exc:
            raise typer.BadParameter(str(exc.orig).strip().splitlines()[0]) from None
        finally:
            engine.dispose()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(dict(zip(columns, row, strict=True)), default=str, ensure_ascii=False))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
