"""The `snapprice` command line: one entry point, sub-commands per job."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from snapprice.errors import SnappriceError

app = typer.Typer(
    name="snapprice",
    help="Cross-platform price monitoring by image.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", envvar="SNAPPRICE_CONFIG", help="TOML config file.",
                     show_default="config/snapprice.toml"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Embedded PostgreSQL data directory (without DATABASE_URL)."),
    ] = None,
) -> None:
    ctx.obj = {"config": config, "data_dir": data_dir}


def _mount() -> None:
    from snapprice.cli import db as db_cli
    from snapprice.cli import jobs

    app.add_typer(db_cli.app, name="db", help="Database schema: upgrade, status.")
    jobs.register(app)
    try:
        from snapprice.cli import sandbox as sandbox_cli
    except ImportError:  # the sandbox module is optional in stripped installs
        sandbox_cli = None
    if sandbox_cli is not None:
        app.add_typer(sandbox_cli.app, name="sandbox", help="The local marketplace sandbox.")
    try:
        from snapprice.cli import dedupe as dedupe_cli
    except ImportError:
        dedupe_cli = None
    if dedupe_cli is not None:
        app.add_typer(dedupe_cli.app, name="dedupe")
    from snapprice.cli import report as report_cli

    app.registered_commands.extend(report_cli.app.registered_commands)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: SnappriceError becomes one clear line and exit code 2."""
    _mount()
    try:
        app(args=argv, standalone_mode=True)
    except SnappriceError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
