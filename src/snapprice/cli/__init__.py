"""The `snapprice` command line: one entry point, sub-commands per job."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from snapprice.cli import logs
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
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show logs and tracebacks on the terminal.")] = False,
) -> None:
    ctx.obj = {"config": config, "data_dir": data_dir, "verbose": verbose}
    logs.configure(verbose)


def _mount() -> None:
    from snapprice.cli import db as db_cli
    from snapprice.cli import jobs
    from snapprice.cli import match as match_cli

    app.add_typer(db_cli.app, name="db", help="Database: upgrade, status, query, prune.")
    app.add_typer(match_cli.app, name="match",
                  help="Reviews that stick: reject or confirm a SKU ↔ listing pair.")
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


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: `finally` blocks and atexit hooks stop what the command
    started (Prefect's temporary API server, the embedded PostgreSQL, the demo's sandbox)."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: an error a person can cause is one line and exit code 2; an
    unexpected one is one line and exit code 1, its traceback in the log file (or, with
    --verbose, on the terminal)."""
    signal.signal(signal.SIGTERM, _terminate)
    _mount()
    try:
        app(args=argv, standalone_mode=True)
    except SnappriceError as exc:
        logs.record(exc)
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:
        where = logs.record(exc)
        if logs.verbose():
            raise
        err_console.print(f"[bold red]error:[/] internal error: {type(exc).__name__}: {escape(logs.one_line(exc))} "
                          f"(traceback in {where}; --verbose shows it here)", highlight=False, soft_wrap=True)
        sys.exit(1)


def entry() -> None:
    """The ``snapprice`` program: ``main``, then a prompt exit. Every non-daemon thread and
    every atexit hook (the temporary server's stop, Prefect's log and event flush, the log
    file) still runs; only the interpreter's teardown of the modules a run imported is
    skipped, which took 1.0-1.5 s after a Prefect flow run (bench/bench_startup.py)."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what the interpreter would run at exit, then clears
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)
