"""Job commands: `run`, `demo`, `backfill`, `serve`."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from snapprice.cli import logs
from snapprice.cli.context import data_dir_from, settings_from
from snapprice.cli.display import run_progress
from snapprice.errors import CatalogError, SnappriceError
from snapprice.ingest.catalog import check_catalog_path
from snapprice.settings import ScheduleSettings, Settings, load_settings

console = Console(soft_wrap=True)
err_console = Console(stderr=True)

TRY_SQL = (
    "SELECT sku, platform, effective_price, left(title, 30) AS title FROM sku_best_price ORDER BY sku",
    "SELECT platform, item_id, prev_price, price, change_pct FROM price_change ORDER BY captured_at DESC",
    "SELECT run_id, kind, status, n_groups, n_searches, n_snapshots FROM run ORDER BY run_id DESC",
)


def prefect_server_configured(environ: dict[str, str] | None = None) -> bool:
    """Whether Prefect has a server to talk to (PREFECT_API_URL in the environment or the
    active profile), read without importing Prefect (3 s)."""
    env = dict(os.environ if environ is None else environ)
    if env.get("PREFECT_API_URL"):
        return True
    home = Path(env.get("PREFECT_HOME") or Path.home() / ".prefect")
    try:
        profiles = tomllib.loads((home / "profiles.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False
    active = env.get("PREFECT_PROFILE") or profiles.get("active", "")
    return bool(profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL"))


PREFECT_OPTION = typer.Option(
    "--prefect/--no-prefect",
    help="Run it as a Prefect flow run (default: when a Prefect server is configured; without "
         "one, in this process: Prefect's temporary server takes 5-15 s to start).")


def _wants_prefect(use_prefect: bool | None) -> bool:
    return use_prefect if use_prefect is not None else prefect_server_configured()


@contextmanager
def prefect_api(ctx: typer.Context, flow_run: bool) -> Iterator[None]:
    """Around a command that runs a flow: without a configured Prefect server, Prefect's
    temporary one, started now so that it boots while this process reads the config and
    imports Prefect (``_flow`` waits for it), stopped when the command ends."""
    if not flow_run or prefect_server_configured():
        yield
        return
    from snapprice.cli.prefect_server import TemporaryServer

    obj = ctx.find_root().obj
    server = TemporaryServer()
    if obj is not None:
        obj["prefect_server"] = server
    try:
        yield
    finally:
        if obj is not None:
            obj.pop("prefect_server", None)
        server.stop()


def _flow(ctx: typer.Context, flow: Any, **params: Any) -> Any:
    """Call a Prefect flow: against the command's temporary server when it started one (once
    it answers), else against the configured server."""
    server = (ctx.find_root().obj or {}).get("prefect_server")
    if server is None:
        return flow(**params)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server.wait_ready()
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        return flow(**params)


def _snapshot(ctx: typer.Context, settings: Settings, use_prefect: bool | None, **params: Any) -> dict[str, Any]:
    """One snapshot run: a Prefect flow run, or ``run.run_snapshot`` in this process (the
    same lifecycle, the same steps minus Prefect's retries and artifacts)."""
    if _wants_prefect(use_prefect):
        obj = ctx.find_root().obj or {}
        params.setdefault("config", str(obj["config"]) if obj.get("config") else None)
        params.setdefault("data_dir", str(data_dir_from(ctx)) if data_dir_from(ctx) else None)
        return _flow(ctx, _pipeline().snapshot, **params)
    from snapprice import run

    params.pop("config", None)
    data_dir = params.pop("data_dir", None) or data_dir_from(ctx)
    params.pop("platforms", None)  # already chosen in ``settings``
    steps = run.Steps(alerts=functools.partial(run.raise_alerts, environ=os.environ))
    with run.store(settings, data_dir) as (db, engine):
        return run.run_snapshot(engine, settings, limiter_dsn=run.limiter_dsn(settings, db), steps=steps,
                                **params)


def _pipeline() -> ModuleType:
    """``snapprice.pipeline``, imported after ``logs.configure`` set Prefect's quiet, offline
    defaults (a user's own PREFECT_* settings win); the log file kept once Prefect set up
    its logging."""
    from snapprice import pipeline

    logs.attach_to_prefect()
    return pipeline


def _check_catalog(catalog: Path | None, settings: Settings) -> None:
    """The catalog exists, or one line saying so (and, for the configured one, how to make
    a sample for the sandbox), before Prefect starts."""
    try:
        check_catalog_path(catalog or settings.catalog.path)
    except CatalogError as exc:
        if catalog is not None:
            raise
        folder = Path(settings.catalog.path).parent
        raise CatalogError(f"{exc} (the [catalog] path of {settings.source}); for the local sandbox, "
                           f"`snapprice sandbox catalog {folder}` writes a sample one") from None


def _budget(settings: Settings) -> float:
    """Searches a second the enabled platforms allow together."""
    return sum(_platform_budgets(settings).values())


def _platform_budgets(settings: Settings) -> dict[str, float]:
    """Each enabled platform's searches a second (all its accounts together)."""
    return {n: sum(a.qps or p.qps for a in p.credential_sets()) for n, p in settings.enabled_platforms().items()}


def _n(count: int, noun: str) -> str:
    """``1 scheduled slot``, ``2 scheduled slots``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result, default=str))
        return
    console.print(
        f"run {result['run_id']}: [bold]{result['status']}[/] — {result['n_images']} images in "
        f"{result['n_groups']} groups, {result['n_searches']} searches, "
        f"{result['n_snapshots']} price snapshots, {result['n_rejects']} rejects, "
        f"{result['n_failed']} failed / {result['n_skipped']} skipped searches"
    )
    if result.get("concurrent_runs"):
        console.print(f"note: run(s) {', '.join(map(str, result['concurrent_runs']))} ran at the same time; "
                      f"each platform's QPS budget was shared (search.limiter)")
    for platform, why in (result.get("searches") or {}).get("stopped", {}).items():
        console.print(f"[red]platform {platform} stopped:[/] {why}")
    if result.get("message"):
        console.print(result["message"])


def run(
    ctx: typer.Context,
    resume: Annotated[bool, typer.Option("--resume", help="Resume an unfinished run instead.")] = False,
    run_id: Annotated[int | None, typer.Argument(help="Run to resume (default: the newest unfinished).")] = None,
    catalog: Annotated[Path | None, typer.Option(help="Catalog file or folder (default: config).")] = None,
    kind: Annotated[str, typer.Option(help="Run kind recorded in `run`.")] = "manual",
    platform: Annotated[list[str] | None, typer.Option(
        "--platform", "-p", help="Only this [platforms.NAME] section (repeat for several); "
                                 "only its credentials are needed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the catalog's first N usable rows (a trial).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    use_prefect: Annotated[bool | None, PREFECT_OPTION] = None,
) -> None:
    """One snapshot run now; `--resume [RUN_ID]` finishes a killed one."""
    if run_id is not None and not resume:
        raise SnappriceError("a RUN_ID is only accepted with --resume")
    platforms = list(platform) if platform else None
    with prefect_api(ctx, _wants_prefect(use_prefect)):
        settings = settings_from(ctx, will_search=True, platforms=platforms)  # fail fast, before Prefect
        if not resume:
            _check_catalog(catalog, settings)
        with run_progress(err_console, qps=_budget(settings), quiet=quiet,
                          platform_qps=_platform_budgets(settings)):
            result = _snapshot(ctx, settings, use_prefect, kind=kind, catalog=str(catalog) if catalog else None,
                               resume=resume, run_id=run_id, platforms=platforms, limit=limit)
    _print_result(result, as_json)
    if result["status"] == "failed":
        raise typer.Exit(1)


def _me() -> str:
    """How to call this snapprice again from a shell: its path when it is not on PATH (a venv
    not activated), else its name."""
    on_path = shutil.which("snapprice")
    here = Path(sys.argv[0]).resolve()
    if on_path and Path(on_path).resolve() == here:
        return "snapprice"
    return str(here) if here.name == "snapprice" else f"{sys.executable} -m snapprice"


def demo(
    ctx: typer.Context,
    products: Annotated[int, typer.Option(min=1, help="Products in the sandbox world.")] = 120,
    items: Annotated[int, typer.Option(min=1, help="Rows of the generated sample catalog.")] = 60,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    use_prefect: Annotated[bool | None, PREFECT_OPTION] = None,
) -> None:
    """Everything on embedded defaults: embedded PostgreSQL, the sandbox, a sample catalog.

    The demo keeps its own workspace and database (not the user's, whatever DATABASE_URL
    says, unless --data-dir names one); other --products/--items start it afresh.
    """
    from snapprice.cli import demo as demo_ws
    from snapprice.report import write_report
    from snapprice.settings import DatabaseSettings
    from snapprice.store.database import make_engine, open_database

    root = demo_ws.workspace_root()
    if os.environ.pop("DATABASE_URL", None):
        console.print("note: the demo ignores DATABASE_URL and keeps its own embedded database")
    with prefect_api(ctx, _wants_prefect(use_prefect)):
        ws, reset = demo_ws.prepare(root, data_dir_from(ctx), products=products, items=items)
        data_dir = ws.database
        console.print(f"demo workspace: {root}" + (" (made afresh: other --products/--items)" if reset else ""))
        try:
            for name, value in demo_ws.DEMO_ENV.items():
                os.environ.setdefault(name, value)
            console.print(f"marketplace sandbox on {ws.sandbox.base_url}; catalog {ws.catalog}")
            settings = load_settings(ws.config)
            with run_progress(err_console, qps=_budget(settings), quiet=quiet,
                              platform_qps=_platform_budgets(settings)):
                result = _snapshot(ctx, settings, use_prefect, kind="demo", config=str(ws.config),
                                   data_dir=str(data_dir))
        finally:
            ws.sandbox.stop()
    _print_result(result, False)
    with open_database(DatabaseSettings(), data_dir) as db:
        engine = make_engine(db)
        try:
            report = write_report(engine, root / "report.html",
                                  min_history_days=settings.report.min_history_days)
        finally:
            engine.dispose()
    console.print(f"report: {report}")
    prefix = f"{_me()} --data-dir {data_dir}"
    console.print(f"\nThe tables are in the demo's embedded PostgreSQL in {data_dir}; query them with:")
    for sql in TRY_SQL:
        console.print(f'  {prefix} db query "{sql}"', highlight=False, markup=False)
    from snapprice.paths import queries_dir

    console.print(f"More ready-made queries: {queries_dir()}/*.sql (run one with `db query @FILE`).",
                  highlight=False, markup=False)
    if result["status"] == "failed":
        raise typer.Exit(1)




def backfill(
    ctx: typer.Context,
    since: Annotated[datetime, typer.Option(help="Window start (date or datetime, UTC unless given).")],
    until: Annotated[datetime, typer.Option(help="Window end, exclusive.")],
    replay: Annotated[bool, typer.Option("--replay", help="Re-normalize archived responses.")] = False,
    fill_gaps: Annotated[bool, typer.Option("--fill-gaps", help="Search SKUs the schedule missed.")] = False,
    catalog: Annotated[Path | None, typer.Option(help="Catalog for --fill-gaps (default: config).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable result.")] = False,
) -> None:
    """Backfill a window: --replay archived responses and/or --fill-gaps of the schedule."""
    if not (replay or fill_gaps):
        raise SnappriceError("choose --replay, --fill-gaps or both")
    if until <= since:
        raise SnappriceError("--until must be after --since")
    with prefect_api(ctx, True):
        settings = settings_from(ctx, will_search=fill_gaps)  # fail fast, before Prefect starts
        if fill_gaps:
            _check_catalog(catalog, settings)
        obj = ctx.find_root().obj or {}
        since_u, until_u = (d if d.tzinfo else d.replace(tzinfo=UTC) for d in (since, until))
        result = _flow(ctx, _pipeline().backfill, since=since_u, until=until_u, replay=replay,
                       fill_gaps=fill_gaps, config=str(obj["config"]) if obj.get("config") else None,
                       data_dir=str(data_dir_from(ctx)) if data_dir_from(ctx) else None,
                       catalog=str(catalog) if catalog else None)
    if as_json:
        typer.echo(json.dumps(result, default=str))
        return
    if "replay" in result:
        r = result["replay"]
        console.print(f"replay: {r['responses']} archived responses of runs {r['runs']} re-normalized; "
                      f"{r['snapshots_changed']} snapshots changed; {r['rejects']} rejects")
        if r.get("pruned_runs"):
            console.print(f"replay: runs {r['pruned_runs']} cannot be replayed: their raw responses were pruned "
                          "(`snapprice db prune`, [retention] raw_days); their snapshots are kept as they are")
    if "gaps" in result:
        g = result["gaps"]
        console.print(f"fill gaps: {_n(g['slots'], 'scheduled slot')}, {_n(g['skus_missing'], 'SKU')} missed "
                      f"at least one" + (f"; backfill run {g['run']}" if "run" in g else ""))


def _schedule(settings: Settings, cron: str | None) -> Any:
    """The Prefect schedule of ``[schedule]`` (``cron`` overrides its cron): defined once, there."""
    from prefect.schedules import Cron

    try:
        sched = ScheduleSettings(cron=cron or settings.schedule.cron, timezone=settings.schedule.timezone)
    except ValidationError as exc:
        raise SnappriceError(f"--cron: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    return Cron(sched.cron, timezone=sched.timezone)


def _flow_params(ctx: typer.Context) -> dict[str, Any]:
    """Parameters of a scheduled run: this config (as an absolute path) and data dir."""
    obj = ctx.find_root().obj or {}
    return {"kind": "scheduled",
            "config": str(Path(obj["config"]).resolve()) if obj.get("config") else None,
            "data_dir": str(data_dir_from(ctx)) if data_dir_from(ctx) else None}


def _need_server(what: str) -> None:
    if not os.environ.get("PREFECT_API_URL"):
        raise SnappriceError(
            f"{what} needs a Prefect server: start one with `prefect server start` and "
            "set PREFECT_API_URL=http://127.0.0.1:4200/api (local mode cannot schedule)")


def serve(
    ctx: typer.Context,
    cron: Annotated[str | None, typer.Option(help="Override [schedule].cron.")] = None,
) -> None:
    """Serve the snapshot flow on its cron schedule from this process (needs PREFECT_API_URL)."""
    settings = settings_from(ctx, will_search=True)  # fail fast, before Prefect starts
    schedule = _schedule(settings, cron)
    _need_server("serving schedules")
    console.print(f"serving `snapshot` on '{schedule.cron}' ({schedule.timezone}); Ctrl-C stops")
    _pipeline().snapshot.serve(name="snapprice-snapshot", parameters=_flow_params(ctx),
                               schedules=[schedule])


def deploy(
    ctx: typer.Context,
    pool: Annotated[str, typer.Option(help="Prefect work pool the workers poll.")] = "snapprice",
    source: Annotated[Path, typer.Option(
        help="Checkout whose flows/ the workers load (the same path on every worker).")] = Path("."),
    cron: Annotated[str | None, typer.Option(help="Override [schedule].cron.")] = None,
) -> None:
    """Deploy the flows to a work pool: `snapshot-daily` on [schedule], `backfill` on demand."""
    settings = settings_from(ctx)  # the workers hold the credentials, not this machine
    schedule = _schedule(settings, cron)
    _need_server("deploying")
    root = source.resolve()
    entry = {name: root / "flows" / f"{name}.py" for name in ("snapshot", "backfill")}
    missing = [str(p) for p in entry.values() if not p.is_file()]
    if missing:
        raise SnappriceError(f"--source {root}: no {', '.join(missing)}; point it at a snapprice checkout")
    pipeline = _pipeline()
    pipeline.snapshot.from_source(source=str(root), entrypoint="flows/snapshot.py:snapshot").deploy(
        name="snapshot-daily", work_pool_name=pool, schedules=[schedule], concurrency_limit=1,
        parameters=_flow_params(ctx), print_next_steps=False, ignore_warnings=True,
        description="One snapshot run of the configured catalog on the configured platforms.")
    pipeline.backfill.from_source(source=str(root), entrypoint="flows/backfill.py:backfill").deploy(
        name="backfill", work_pool_name=pool, print_next_steps=False, ignore_warnings=True,
        description="Replay archived responses and/or fill the schedule's gaps over a window.")
    console.print(f"deployed snapshot/snapshot-daily ('{schedule.cron}', {schedule.timezone}) and "
                  f"backfill/backfill to work pool {pool!r}; start workers with "
                  f"`prefect worker start --pool {pool}`")


def register(app: typer.Typer) -> None:
    for command in (run, demo, backfill, serve, deploy):
        app.command()(command)
