"""`snapprice db`: apply and inspect schema migrations."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from snapprice import migrate
from snapprice.cli.context import database_from, settings_from

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
