"""The stages of one snapshot run as plain functions (the Prefect flow only sequences them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

from snapprice.dedupe_run import ImageLimits, dedupe_catalog
from snapprice.errors import SnappriceError
from snapprice.settings import Settings
from snapprice.store import runs
from snapprice.store.catalog import GroupRow, PgHashCache, store_groups, upsert_catalog_items
from snapprice.store.loader import ensure_partitions, record_rejects

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class IngestSummary:
    images: int
    groups: int
    rejects: int
    hashed: int  # images hashed in this run (the others came from the cache)
    tasks: int  # search tasks planned
    resumed: bool = False


def start_run(engine: Engine, settings: Settings, *, kind: str, catalog: str,
              flow_run_id: str | None = None) -> int:
    from datetime import UTC, datetime

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
           skus: set[str] | None = None) -> IngestSummary:
    """Read, load, hash (cached) and group the catalog; store items, groups, rejects and the
    run's search tasks in one transaction. A run that already has groups is left as it is
    (resume): its stored groups and tasks are the plan.

    ``skus`` restricts the run to those catalog SKUs (backfill of gaps).
    """
    with engine.connect() as conn:
        existing = conn.exec_driver_sql(
            "SELECT count(*) FROM image_group WHERE run_id = %(r)s", {"r": run_id}).scalar_one()
    if existing:
        with engine.connect() as conn:
            counts = runs.run_counts(conn, run_id)
        return IngestSummary(counts["n_images"], counts["n_groups"], counts["n_rejects"], 0, 0,
                             resumed=True)

    d = settings.dedupe
    result = dedupe_catalog(
        catalog, PgHashCache(engine), threshold=d.threshold, workers=d.workers,
        limits=ImageLimits(max_bytes=d.max_image_bytes, max_pixels=d.max_pixels,
                           timeout=d.fetch_timeout),
        progress=progress,
    )
    frame = result.frame
    if skus is not None:
        frame = frame.filter(pl.col("sku").is_in(sorted(skus)))
    names = list(settings.enabled_platforms()) if platforms is None else platforms
    with engine.begin() as conn:
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
    return {"run_id": run_id, "status": status, "message": message, **counts}


def biggest_changes(engine: Engine, run_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The run's largest price moves against each listing's previous snapshot."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.platform, c.item_id, left(c.title, 40) AS title, c.prev_price, c.price,"
            " c.change_pct FROM price_change AS c JOIN price_snapshot AS s"
            " ON s.listing_id = c.listing_id AND s.captured_at = c.captured_at"
            " WHERE s.run_id = %(r)s ORDER BY abs(c.change_pct) DESC NULLS LAST LIMIT %(n)s",
            {"r": run_id, "n": limit},
        ).mappings().all()
    return [{k: (str(v) if v is not None and k != "title" else v) for k, v in r.items()} for r in rows]
