"""One snapshot run from start to close: ``run_snapshot`` owns the lifecycle, error path included.

The Prefect flow (``snapprice.pipeline``) and the tests call ``run_snapshot``; the flow only
hands in its Prefect tasks as the ``Steps`` (retries, names in the UI).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import text
from sqlalchemy.engine import Engine

from snapprice.alerts.channels import deliver
from snapprice.alerts.rules import evaluate, to_send
from snapprice.alerts.webhook import notify
from snapprice.dedupe.stage import ImageLimits, dedupe_catalog
from snapprice.errors import SnappriceError
from snapprice.progress import counter as progress_counter
from snapprice.progress import report as report_progress
from snapprice.redact import scrub
from snapprice.search.executor import SearchSummary, execute_searches
from snapprice.settings import Settings
from snapprice.store import flags, migrate, readpath, review, runs
from snapprice.store.database import Database, make_engine, open_database
from snapprice.store.groups import GroupRow, store_groups, upsert_catalog_items
from snapprice.store.hash_cache import PgFeatureCache, PgHashCache, PgVerdictCache
from snapprice.store.loader import ensure_partitions, record_rejects
from snapprice.store.sql import statement

Progress = Callable[[str, int, int], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestSummary:
    images: int
    groups: int
    rejects: int
    hashed: int  # images hashed in this run (the others came from the cache)
    tasks: int  # search tasks planned
    resumed: bool = False


@contextmanager
def store(settings: Settings, data_dir: str | Path | None = None) -> Iterator[tuple[Database, Engine]]:
    """The configured database (or the embedded one in ``data_dir``), migrated and cutting
    days in the configured zone, and an engine on it, disposed on exit: where every run starts."""
    with open_database(settings.database, Path(data_dir) if data_dir else None) as db:
        migrate.upgrade(db.url)
        engine = make_engine(db)
        try:
            with engine.begin() as conn:
                readpath.use_day_zone(conn, settings.day_zone())
            yield db, engine
        finally:
            engine.dispose()


def limiter_dsn(settings: Settings, db: Database) -> str | None:
    """The database the QPS budget is kept in, unless ``search.limiter = "process"``."""
    return None if settings.search.limiter == "process" else db.url


def start_run(engine: Engine, settings: Settings, *, kind: str, catalog: str,
              flow_run_id: str | None = None) -> int:
    with engine.begin() as conn:
        ensure_partitions(conn, datetime.now(UTC), 2)
        return runs.create_run(conn, kind=kind, catalog=catalog, config_digest=settings.digest(),
                               prefect_flow_run_id=flow_run_id)


def resume_target(engine: Engine, run_id: int | None, flow_run_id: str | None = None) -> int:
    """The run to resume: ``run_id``, or the newest unfinished one. Reopens it."""
    with engine.begin() as conn:
        if run_id is None:
            run_id = runs.newest_unfinished_run(conn)
            if run_id is None:
                raise SnappriceError("no unfinished run to resume; start one with `snapprice run`")
        elif runs.get_run(conn, run_id) is None:
            raise SnappriceError(f"run {run_id} does not exist")
        runs.reopen_run(conn, run_id, flow_run_id)
        return run_id


def _extra(value: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return {"value": str(value)}


def ingest(engine: Engine, settings: Settings, run_id: int, catalog: str | Path,
           *, platforms: list[str] | None = None, progress: Progress | None = None,
           skus: set[str] | None = None, limit: int | None = None) -> IngestSummary:
    """Read, load, hash (cached) and group the catalog; store items, groups, rejects and the
    run's search tasks in one transaction. A run that already has groups is left as it is
    (resume): its stored groups and tasks are the plan.

    ``skus`` restricts the run to those catalog SKUs (backfill of gaps); ``limit`` to the
    catalog's first usable rows (a trial run).
    """
    with engine.connect() as conn:
        existing = conn.execute(statement("run/group_count"), {"run": run_id}).scalar_one()
    if existing:
        with engine.connect() as conn:
            counts = runs.run_counts(conn, run_id)
        return IngestSummary(counts["n_images"], counts["n_groups"], counts["n_rejects"], 0, 0,
                             resumed=True)

    d = settings.dedupe
    result = dedupe_catalog(
        catalog, PgHashCache(engine), features=PgFeatureCache(engine), verdicts=PgVerdictCache(engine),
        threshold=d.threshold, workers=d.workers,
        limits=ImageLimits(max_bytes=d.max_image_bytes, max_pixels=d.max_pixels,
                           timeout=d.fetch_timeout),
        progress=progress or progress_counter(), allow_outside=settings.catalog.allow_outside, limit=limit,
    )
    frame = result.frame
    if skus is not None:
        frame = frame.filter(pl.col("sku").is_in(sorted(skus)))
    names = list(settings.enabled_platforms()) if platforms is None else platforms
    with engine.begin() as conn:
        if skus is None and limit is None and settings.catalog.retire_missing:
            retired = review.retire_catalog_changes(conn, sorted(result.skus), [
                (r["sku"], r["digest"]) for r in frame.select("sku", "digest").iter_rows(named=True)])
            for reason, n in retired.items():
                log.info("retired %d match(es): %s", n, reason.replace("_", " "))
        ids = upsert_catalog_items(conn, run_id, [
            {"sku": r["sku"], "image_ref": r["image_ref"], "title": r.get("title"),
             "cat": r.get("cat"), "content_digest": r["digest"], "extra": _extra(r.get("extra"))}
            for r in frame.iter_rows(named=True)
        ])
        reps: dict[int, tuple[int, str]] = {}
        members: dict[int, list[tuple[int, int]]] = {}
        for r in frame.iter_rows(named=True):
            item_id = ids[(r["sku"], r["image_ref"])]
            members.setdefault(r["group_id"], []).append((item_id, int(r["distance"] or 0)))
            # A SKU filter may drop a group's representative: its first member stands in.
            if r["is_representative"] or r["group_id"] not in reps:
                reps[r["group_id"]] = (item_id, r["digest"])
        store_groups(conn, run_id, [
            GroupRow(gid, rep_id, digest, members[gid]) for gid, (rep_id, digest) in sorted(reps.items())
        ])
        record_rejects(conn, run_id, result.rejects)
        tasks = runs.plan_tasks(conn, run_id, names)
    return IngestSummary(frame.height, len(reps), len(result.rejects), result.hashed, tasks)


def close_run(engine: Engine, run_id: int, *, error: str | None = None) -> dict[str, Any]:
    """Finish the run: succeeded, partial (some searches failed or were skipped) or failed."""
    with engine.begin() as conn:
        counts = runs.run_counts(conn, run_id)
        if error:
            status = "failed"
        elif counts["n_failed"] or counts["n_skipped"] or counts["n_pending"]:
            status = "partial"
        else:
            status = "succeeded"
        message = error
        if status == "partial" and not error:
            message = (f"{counts['n_failed']} searches failed, {counts['n_skipped']} skipped, "
                       f"{counts['n_pending']} left pending; `snapprice run --resume {run_id}` "
                       "retries the skipped and pending ones")
        runs.finish_run(conn, run_id, status, message)
    with engine.begin() as conn:  # the run's SKUs: window statistics stored as of today
        readpath.refresh_windows(conn)
    with engine.begin() as conn:  # and their days in the daily rollup
        readpath.refresh_days(conn)
    return {"run_id": run_id, "status": status, "message": message, **counts}


def search(engine: Engine, settings: Settings, run_id: int, limiter_dsn: str | None = None) -> SearchSummary:
    """Every open search task of the run (see ``snapprice.search.executor``)."""
    return execute_searches(engine, settings, run_id, limiter_dsn=limiter_dsn,
                            progress=lambda done, total: report_progress("search", done, total))


def raise_alerts(engine: Engine, settings: Settings, run_id: int,
                 environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Evaluate the alert rules on the run (idempotent); with ``environ``, send the new
    alerts to the webhook whose variable ``[alerts] webhook_url_env`` names and one digest
    to each ``[alerts] channels`` entry."""
    new = evaluate(engine, settings, run_id)
    sent = to_send(new)
    if sent and environ is not None:
        notify(sent, settings, environ)
        deliver(sent, settings, run_id)
    return new


# Advisory lock class of live runs ("SNAP"): a run holds (LIVE_LOCK, run_id) for as long as
# a process works on it, on a connection of its own, so a killed process lets it go.
LIVE_LOCK = 0x534E4150


@contextmanager
def live(engine: Engine, run_id: int) -> Iterator[list[int]]:
    """Mark ``run_id`` live while the block runs; yields the other runs live right now
    (two runs at once share each platform's budget: the limiter, not this lock, keeps them
    under it)."""
    key = {"lock": LIVE_LOCK, "run": run_id % 2**31}
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:lock, :run)"), key)
        others = [int(r) for r in conn.execute(statement("run/other_live_runs"), key).scalars()]
        conn.commit()
        try:
            yield others
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:lock, :run)"), key)
            conn.commit()


def flag_prices(engine: Engine, settings: Settings, run_id: int) -> int:
    """The price flags of the run's snapshots (bait and outliers; ``store/flags.py``)."""
    return flags.flag_run(engine, settings.flags, run_id)


@dataclass(frozen=True)
class Steps:
    """The stages ``run_snapshot`` calls, in this order; same signatures as the functions above."""

    ingest: Callable[..., IngestSummary] = ingest
    search: Callable[..., SearchSummary] = search
    flag: Callable[..., int] = flag_prices
    close: Callable[..., dict[str, Any]] = close_run
    alerts: Callable[..., list[dict[str, Any]]] = raise_alerts


def run_snapshot(engine: Engine, settings: Settings, *, kind: str = "manual",
                 catalog: str | Path | None = None, resume: bool = False, run_id: int | None = None,
                 skus: set[str] | None = None, limit: int | None = None, limiter_dsn: str | None = None,
                 flow_run_id: str | None = None, steps: Steps | None = None) -> dict[str, Any]:
    """Start (or resume) a run, ingest, search, close it and raise its alerts.

    Any exception from ingest or search closes the run as ``failed`` with the error's text
    and is raised again; ``snapprice run --resume`` finishes such a run. Returns the closed
    run's counts with ``searches`` (the ``SearchSummary`` as a dict) and ``alerts`` (how many are new).
    """
    steps = steps or Steps()
    catalog_path = str(catalog or settings.catalog.path)
    if resume:
        run_id = resume_target(engine, run_id, flow_run_id)
    else:
        run_id = start_run(engine, settings, kind=kind, catalog=catalog_path, flow_run_id=flow_run_id)
    with live(engine, run_id) as others:
        if others:
            log.warning("run %s starts while run(s) %s are running: they share each platform's "
                        "QPS budget (search.limiter = %s)", run_id, ", ".join(map(str, others)),
                        settings.search.limiter)
        try:
            steps.ingest(engine, settings, run_id, catalog_path, skus=skus, limit=limit)
            searches = steps.search(engine, settings, run_id, limiter_dsn)
            steps.flag(engine, settings, run_id)
        except Exception as exc:
            # The error's text is kept (run.message, Prefect's state): no secret may ride along.
            with contextlib.suppress(Exception):  # what was stored is flagged; resume redoes it
                steps.flag(engine, settings, run_id)
            steps.close(engine, run_id, error=scrub(f"{type(exc).__name__}: {exc}", settings.secret_values()))
            raise
        result = steps.close(engine, run_id)
    new_alerts = steps.alerts(engine, settings, run_id)
    return {**result, "searches": asdict(searches), "alerts": len(new_alerts), "concurrent_runs": others}
