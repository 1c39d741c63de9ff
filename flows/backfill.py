"""The backfill flow: replay archived responses of a window, and/or search the SKUs the
schedule missed in that window (captured now: history is never invented)."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from flows.snapshot import snapshot
from snapprice import backfill as bf
from snapprice import migrate
from snapprice.catalog import read_catalog
from snapprice.db import make_engine, open_database
from snapprice.settings import load_settings


@task(cache_policy=NONE)
def replay_window(engine, settings, since: datetime, until: datetime) -> dict:  # type: ignore[no-untyped-def]
    s = bf.replay(engine, settings, since, until)
    return {"responses": s.responses, "snapshots_changed": s.snapshots_changed,
            "rejects": s.rejects, "runs": sorted(s.runs)}


@task(cache_policy=NONE)
def find_gaps(engine, settings, catalog: str, since: datetime, until: datetime) -> dict:  # type: ignore[no-untyped-def]
    slots = bf.schedule_slots(settings, since, until)
    skus = read_catalog(catalog).items["sku"].unique().sort().to_list()
    missing = bf.skus_missing_slots(engine, skus, slots)
    return {"slots": [s.isoformat() for s in slots], "missing": {k: [s.isoformat() for s in v]
                                                                  for k, v in missing.items()}}


@flow(name="backfill", log_prints=False)
def backfill(since: datetime, until: datetime, replay: bool = False, fill_gaps: bool = False,
             config: str | None = None, data_dir: str | None = None,
             catalog: str | None = None) -> dict:
    """Replay [since, until) and/or fill the schedule's gaps in it."""
    logger = get_run_logger()
    settings = load_settings(config, require_credentials=fill_gaps)
    catalog_path = catalog or settings.catalog.path
    out: dict = {"since": since.isoformat(), "until": until.isoformat()}
    with open_database(settings.database, data_dir) as db:
        migrate.upgrade(db.url)
        engine = make_engine(db)
        try:
            if replay:
                out["replay"] = replay_window(engine, settings, since, until)
                logger.info("replay: %s", out["replay"])
            if fill_gaps:
                gaps = find_gaps(engine, settings, str(catalog_path), since, until)
                out["gaps"] = {"slots": len(gaps["slots"]), "skus_missing": len(gaps["missing"])}
        finally:
            engine.dispose()
    if fill_gaps and out["gaps"]["skus_missing"]:
        run = snapshot(kind="backfill", catalog=str(catalog_path), config=config, data_dir=data_dir,
                       skus=sorted(gaps["missing"]))
        out["gaps"]["run"] = {k: run[k] for k in ("run_id", "status", "n_searches", "n_snapshots")}
    create_markdown_artifact(key="backfill-summary", markdown=f"# backfill\n\n```\n{out}\n```\n")
    return out
