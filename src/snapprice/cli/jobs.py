"""`snapprice demo` and the other job commands."""

from __future__ import annotations

import typer
from rich.console import Console

from snapprice import migrate
from snapprice.cli.context import database_from, settings_from

console = Console()


def demo(ctx: typer.Context) -> None:
    """Run everything on embedded defaults and print where to look."""
    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        applied = migrate.upgrade(db.url)
        st = migrate.status(db.url)
        console.print(f"database: {'embedded ' + str(db.data_dir) if db.embedded else db.redacted()}")
        console.print(f"migrations applied now: {applied or 'none'}; current: {st.current}")


def register(app: typer.Typer) -> None:
    app.command()(demo)
