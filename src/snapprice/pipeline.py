"""The Prefect flows: ``snapshot`` (one run) and ``backfill`` (replay, fill gaps).

Thin recipes: the lifecycle is ``snapprice.run.run_snapshot``, handed these tasks as its
steps; the flows add what only Prefect gives (retries, artifacts, the run in the UI). The
repository's ``flows/`` files are the deployment entrypoints and import these.

Nothing is persisted to Prefect's result storage (````): a result or a
failure's exception would be pickled there with whatever text it holds; the database keeps
a run's outcome, scrubbed of secrets.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NONE
from sqlalchemy.engine import Engine

from snapprice import progress, run
from snapprice.alerts.rules import alerts_markdown
from snapprice.backfill.gaps import schedule_slots, skus_missing_slots
from snapprice.backfill.replay import replay
from snapprice.errors import DatabaseUnavailable, SnappriceError
from snapprice.ingest.catalog import read_catalog
from snapprice.report.data import biggest_changes
from snapprice.search.executor import SearchSummary, execute_searches
from snapprice.settings import Settings, load_settings


def _worth_retrying(_task: Any, _task_run: Any, state: Any) -> bool:
    """Retry what a retry can mend (the database going away), not a person's mistake (a
    missing catalog, a bad config): those fail at once, with their message."""
    try:
        state.result()
    except SnappriceError as exc:
        return isinstance(exc, DatabaseUnavailable)
    except Exception:
        return True
    return False


@task(cache_policy=NONE, persist_result=False, retries=2, retry_delay_seconds=5, retry_condition_fn=_worth_retrying)
def ingest_catalog(engine: Engine, settings: Settings, run_id: int, catalog: str,
                   skus: set[str] | None = None, limit: int | None = None) -> run.IngestSummary:
    summary = run.ingest(engine, settings, run_id, catalog, skus=skus, limit=limit)
    get_run_logger().info("run %s: %s", run_id, summary)
    return summary


@task(cache_policy=NONE, persist_result=False)  # no Prefect retries: the platform clients retry, exactly once
def search_platforms(engine: Engine, settings: Settings, run_id: int,
                     limiter_dsn: str | None) -> SearchSummary:
    logger = get_run_logger()
    artifact = create_progress_artifact(progress=0.0, key=f"run-{run_id}-search",
                                        description=f"search progress of run {run_id}")
    last = [0.0]

    def advance(done: int, total: int) -> None:
        progress.report("search", done, total)
        pct = 100.0 * done / max(total, 1)
        if pct - last[0] >= 5 or done == total:
            last[0] = pct
            update_progress_artifact(artifact_id=artifact, progress=pct)

    summary = execute_searches(engine, settings, run_id, progress=advance, limiter_dsn=limiter_dsn)
    for platform, why in summary.stopped.items():
        logger.error("platform %s stopped for this run: %s", platform, why)
    logger.info("run %s searches: %s done, %s failed, %s skipped, %s snapshots", run_id,
                summary.done, summary.failed, summary.skipped, summary.snapshots)
    return summary


@task(cache_policy=NONE, persist_result=False, retries=2, retry_delay_seconds=2, retry_condition_fn=_worth_retrying)
def flag_prices(engine: Engine, settings: Settings, run_id: int) -> int:
    return run.flag_prices(engine, settings, run_id)


@task(cache_policy=NONE, persist_result=False, retries=3, retry_delay_seconds=2, retry_condition_fn=_worth_retrying)
def close_run(engine: Engine, run_id: int, error: str | None = None) -> dict[str, Any]:
    return run.close_run(engine, run_id, error=error)


@task(cache_policy=NONE, persist_result=False, retries=2, retry_delay_seconds=2, retry_condition_fn=_worth_retrying)
def raise_alerts(engine: Engine, settings: Settings, run_id: int) -> list[dict[str, Any]]:
    # Idempotent: a retry adds nothing. The webhook's URL is read here, at the edge.
    new = run.raise_alerts(engine, settings, run_id, os.environ)
    if new:
        create_markdown_artifact(key=f"run-{run_id}-alerts", markdown=alerts_markdown(new),
                                 description=f"new price alerts of run {run_id}")
        get_run_logger().info("run %s: %s new alerts", run_id, len(new))
    return new


STEPS = run.Steps(ingest=ingest_catalog, search=search_platforms, flag=flag_prices, close=close_run,
                  alerts=raise_alerts)


def publish(engine: Engine, result: dict[str, Any]) -> None:
    """The run's counts, biggest price changes and summary as Prefect artifacts."""
    run_id = result["run_id"]
    counts = [{"measure": k, "value": result[k]} for k in (
        "n_images", "n_groups", "n_searches", "n_snapshots", "n_rejects", "n_failed", "n_skipped")]
    create_table_artifact(key=f"run-{run_id}-counts", table=counts,
                          description=f"counts of snapprice run {run_id}")
    changes = biggest_changes(engine, run_id)
    if changes:
        create_table_artifact(key=f"run-{run_id}-price-changes", table=changes,
                              description="biggest price changes against the previous snapshot")
    stopped = "".join(f"\n- **{p}** stopped: {why}" for p, why in result["searches"]["stopped"].items())
    create_markdown_artifact(
        key=f"run-{run_id}-summary",
        markdown=(f"# snapprice run {run_id}: {result['status']}\n\n"
                  f"{result['n_images']} images in {result['n_groups']} groups; "
                  f"{result['n_searches']} searches done, {result['n_failed']} failed, "
                  f"{result['n_skipped']} skipped; {result['n_snapshots']} price snapshots; "
                  f"{result['n_rejects']} rejects.{stopped}\n\n"
                  + (f"{result['message']}\n" if result.get("message") else "")),
        description=f"summary of snapprice run {run_id}",
    )


@flow(name="snapshot", log_prints=False, persist_result=False)
def snapshot(
    kind: str = "scheduled",
    catalog: str | None = None,
    resume: bool = False,
    run_id: int | None = None,
    config: str | None = None,
    data_dir: str | None = None,
    skus: list[str] | None = None,
    platforms: list[str] | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """One snapshot run (or the resumption of an unfinished one) of the configured catalog;
    ``platforms``: only these sections."""
    settings = load_settings(config, platforms=platforms)
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    with run.store(settings, data_dir) as (db, engine):
        get_run_logger().info("snapprice %s on %s", "resume" if resume else f"{kind} run",
                              catalog or settings.catalog.path)
        result = run.run_snapshot(
            engine, settings, kind=kind, catalog=catalog, resume=resume, run_id=run_id,
            skus=set(skus) if skus is not None else None, limit=limit,
            limiter_dsn=run.limiter_dsn(settings, db),
            flow_run_id=flow_run_id, steps=STEPS)
        publish(engine, result)
    return result


@task(cache_policy=NONE, persist_result=False)
def replay_window(engine: Engine, settings: Settings, since: datetime, until: datetime) -> dict[str, Any]:
    s = replay(engine, settings, since, until)
    return {"responses": s.responses, "snapshots_changed": s.snapshots_changed,
            "rejects": s.rejects, "runs": sorted(s.runs), "pruned_runs": s.pruned_runs}


@task(cache_policy=NONE, persist_result=False)
def find_gaps(engine: Engine, settings: Settings, catalog: str, since: datetime,
              until: datetime) -> dict[str, Any]:
    slots = schedule_slots(settings, since, until)
    read = read_catalog(catalog, allow_outside=settings.catalog.allow_outside)
    skus = read.items["sku"].unique().sort().to_list()
    missing = skus_missing_slots(engine, skus, slots)
    return {"slots": [s.isoformat() for s in slots],
            "missing": {k: [s.isoformat() for s in v] for k, v in missing.items()}}


@flow(name="backfill", log_prints=False, persist_result=False)
def backfill(since: datetime, until: datetime, replay: bool = False, fill_gaps: bool = False,
             config: str | None = None, data_dir: str | None = None,
             catalog: str | None = None) -> dict[str, Any]:
    """Replay [since, until) and/or fill the schedule's gaps in it."""
    logger = get_run_logger()
    settings = load_settings(config, require_credentials=fill_gaps)
    catalog_path = catalog or settings.catalog.path
    out: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat()}
    with run.store(settings, data_dir) as (_, engine):
        if replay:
            out["replay"] = replay_window(engine, settings, since, until)
            logger.info("replay: %s", out["replay"])
        if fill_gaps:
            gaps = find_gaps(engine, settings, str(catalog_path), since, until)
            out["gaps"] = {"slots": len(gaps["slots"]), "skus_missing": len(gaps["missing"])}
    if fill_gaps and out["gaps"]["skus_missing"]:
        result = snapshot(kind="backfill", catalog=str(catalog_path), config=config, data_dir=data_dir,
                          skus=sorted(gaps["missing"]))
        out["gaps"]["run"] = {k: result[k] for k in ("run_id", "status", "n_searches", "n_snapshots")}
    create_markdown_artifact(key="backfill-summary", markdown=f"# backfill\n\n```\n{out}\n```\n")
    return out
