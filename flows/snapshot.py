"""The snapshot flow: catalog → near-duplicate groups → image searches → price snapshots."""

from __future__ import annotations

import os
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NONE

from snapprice import alerts, migrate, runstages, searching
from snapprice.db import make_engine, open_database
from snapprice.settings import load_settings


@task(cache_policy=NONE, retries=2, retry_delay_seconds=5)
def ingest_catalog(engine: Any, settings: Any, run_id: int, catalog: str,
                   skus: list[str] | None = None) -> runstages.IngestSummary:
    summary = runstages.ingest(engine, settings, run_id, catalog,
                               skus=set(skus) if skus is not None else None)
    get_run_logger().info("run %s: %s", run_id, summary)
    return summary


@task(cache_policy=NONE)  # no Prefect retries: the platform clients retry, exactly once
def search_platforms(engine: Any, settings: Any, run_id: int, limiter_dsn: str | None) -> dict:
    logger = get_run_logger()
    artifact = create_progress_artifact(progress=0.0, key=f"run-{run_id}-search",
                                        description=f"search progress of run {run_id}")
    last = [0.0]

    def progress(done: int, total: int) -> None:
        pct = 100.0 * done / max(total, 1)
        if pct - last[0] >= 5 or done == total:
            last[0] = pct
            update_progress_artifact(artifact_id=artifact, progress=pct)

    summary = searching.execute_searches(engine, settings, run_id, progress=progress,
                                         limiter_dsn=limiter_dsn)
    for platform, why in summary.stopped.items():
        logger.error("platform %s stopped for this run: %s", platform, why)
    logger.info("run %s searches: %s done, %s failed, %s skipped, %s snapshots", run_id,
                summary.done, summary.failed, summary.skipped, summary.snapshots)
    return {"done": summary.done, "failed": summary.failed, "skipped": summary.skipped,
            "snapshots": summary.snapshots, "stopped": summary.stopped, "calls": summary.calls}


@task(cache_policy=NONE, retries=2, retry_delay_seconds=2)
def raise_alerts(engine: Any, settings: Any, run_id: int) -> list[dict]:
    new = alerts.evaluate(engine, settings, run_id)  # idempotent: a retry adds nothing
    if new:
        create_markdown_artifact(key=f"run-{run_id}-alerts", markdown=alerts.alerts_markdown(new),
                                 description=f"new price alerts of run {run_id}")
        sent = alerts.notify(new, settings, os.environ)
        get_run_logger().info("run %s: %s new alerts, %s sent to the webhook", run_id, len(new), sent)
    return new


@task(cache_policy=NONE, retries=3, retry_delay_seconds=2)
def close_run(engine: Any, run_id: int, error: str | None = None) -> dict:
    return runstages.close_run(engine, run_id, error=error)


def publish(engine: Any, result: dict, searches: dict) -> None:
    run_id = result["run_id"]
    counts = [{"measure": k, "value": result[k]} for k in (
        "n_images", "n_groups", "n_searches", "n_snapshots", "n_rejects", "n_failed", "n_skipped")]
    create_table_artifact(key=f"run-{run_id}-counts", table=counts,
                          description=f"counts of snapprice run {run_id}")
    changes = runstages.biggest_changes(engine, run_id)
    if changes:
        create_table_artifact(key=f"run-{run_id}-price-changes", table=changes,
                              description="biggest price changes against the previous snapshot")
    stopped = "".join(f"\n- **{p}** stopped: {why}" for p, why in searches.get("stopped", {}).items())
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


@flow(name="snapshot", log_prints=False)
def snapshot(
    kind: str = "scheduled",
    catalog: str | None = None,
    resume: bool = False,
    run_id: int | None = None,
    config: str | None = None,
    data_dir: str | None = None,
    skus: list[str] | None = None,
) -> dict:
    """One snapshot run (or the resumption of an unfinished one) of the configured catalog."""
    settings = load_settings(config)
    catalog_path = catalog or settings.catalog.path
    flow_run_id = str(runtime.flow_run.id) if runtime.flow_run.id else None
    with open_database(settings.database, data_dir) as db:
        migrate.upgrade(db.url)
        engine = make_engine(db)
        try:
            if resume:
                run_id = runstages.resume_target(engine, run_id, flow_run_id)
            else:
                run_id = runstages.start_run(engine, settings, kind=kind, catalog=str(catalog_path),
                                             flow_run_id=flow_run_id)
            get_run_logger().info("snapprice run %s (%s) on %s", run_id,
                                  "resumed" if resume else kind, catalog_path)
            try:
                ingest_catalog(engine, settings, run_id, str(catalog_path), skus)
                dsn = db.url if settings.search.limiter == "postgres" else None
                searches = search_platforms(engine, settings, run_id, dsn)
            except Exception as exc:
                close_run(engine, run_id, error=f"{type(exc).__name__}: {exc}")
                raise
            result = close_run(engine, run_id)
            new_alerts = raise_alerts(engine, settings, run_id)
            publish(engine, result, searches)
            return {**result, "searches": searches, "alerts": len(new_alerts)}
        finally:
            engine.dispose()
