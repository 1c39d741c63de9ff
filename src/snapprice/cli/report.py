"""`snapprice report`: write the HTML price report (one offline file) from the database."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from snapprice.cli.context import database_from, settings_from

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
console = Console()


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-31") from None


@app.command()
def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("report.html"),
    since: Annotated[str | None, typer.Option(
        "--since", help="First UTC day of the period (YYYY-MM-DD).", show_default="30 days ago")] = None,
    sku: Annotated[str | None, typer.Option("--sku", help="Only this SKU.")] = None,
) -> None:
    """Price history charts, best price per platform, movers, new and gone listings, alerts, run health."""
    from snapprice.report import write_report
    from snapprice.report.data import sku_exists
    from snapprice.store.database import make_engine

    start = _day(since)
    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        engine = make_engine(db)
        try:
            if sku is not None:
                with engine.connect() as conn:
                    known = sku_exists(conn, sku)
                if not known:
                    typer.echo(f"SKU {sku} is not in the catalog and was never matched; no report written", err=True)
                    raise typer.Exit(1)
            path = write_report(engine, out, start, sku, settings.report.min_history_days)
        finally:
            engine.dispose()
    size = path.stat().st_size
    console.print(f"wrote {path} ({size / 1024:.0f} KiB); open it in a browser, no network needed")
