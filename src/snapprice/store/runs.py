"""Run and search-task state: what makes a killed run resumable without repeated work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from snapprice.models import ListingSnapshot, Reject, SearchPage, SearchTask
from snapprice.store.archive import archive_response
from snapprice.store.loader import LoadResult, load_snapshots, record_rejects

RUN_KINDS = ("scheduled", "manual", "backfill", "demo")


def create_run(
    conn: Connection,
    *,
    kind: str,
    catalog: str | None,
    config_digest: str | None,
    prefect_flow_run_id: str | None = None,
    slot: datetime | None = None,
) -> int:
    return int(
        conn.execute(
            text(
                "INSERT INTO run (kind, catalog, config_digest, prefect_flow_run_id, slot) "
                "VALUES (:kind, :catalog, :digest, :fr, :slot) RETURNING run_id"
            ),
            {"kind": kind, "catalog": catalog, "digest": config_digest,
             "fr": prefect_flow_run_id, "slot": slot},
        ).scalar_one()
    )


def get_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    row = conn.execute(text("SELECT * FROM run WHERE run_id = :r"), {"r": run_id}).mappings().first()
    return dict(row) if row else None


def newest_unfinished_run(conn: Connection) -> int | None:
    return conn.execute(
        text("SELECT run_id FROM run WHERE status IN ('running', 'failed') ORDER BY run_id DESC LIMIT 1")
    ).scalar_one_or_none()


def reopen_run(conn: Connection, run_id: int, prefect_flow_run_id: str | None = None) -> None:
    conn.execute(
        text(
            "UPDATE run SET status = 'running', finished_at = NULL,"
            " prefect_flow_run_id = coalesce(:fr, prefect_flow_run_id) WHERE run_id = :r"
        ),
        {"r": run_id, "fr": prefect_flow_run_id},
    )


def run_counts(conn: Connection, run_id: int) -> dict[str, int]:
    row = conn.execute(
        text(
            """
            SELECT
              (SELECT count(*) FROM image_group_member WHERE run_id = :r) AS n_images,
              (SELECT count(*) FROM image_group WHERE run_id = :r) AS n_groups,
              (SELECT count(*) FROM search_task WHERE run_id = :r AND status = 'done') AS n_searches,
              (SELECT count(*) FROM price_snapshot WHERE run_id = :r) AS n_snapshots,
              (SELECT count(*) FROM reject WHERE run_id = :r) AS n_rejects,
              (SELECT count(*) FROM search_task WHERE run_id = :r AND status = 'failed') AS n_failed,
              (SELECT count(*) FROM search_task WHERE run_id = :r AND status = 'skipped') AS n_skipped,
              (SELECT count(*) FROM search_task WHERE run_id = :r AND status = 'pending') AS n_pending
            """
        ),
        {"r": run_id},
    ).mappings().one()
    return {k: int(v) for k, v in row.items()}


def finish_run(conn: Connection, run_id: int, status: str, message: str | None = None) -> dict[str, int]:
    """Close the run with counts taken from the tables themselves (so they always add up)."""
    counts = run_counts(conn, run_id)
    conn.execute(
        text(
            "UPDATE run SET status = :status, finished_at = now(), message = :message,"
            " n_images = :n_images, n_groups = :n_groups, n_searches = :n_searches,"
            " n_snapshots = :n_snapshots, n_rejects = :n_rejects WHERE run_id = :r"
        ),
        {**counts, "status": status, "message": message, "r": run_id},
    )
    return counts


def plan_tasks(conn: Connection, run_id: int, platforms: Sequence[str]) -> int:
    """One page-1 task per (group, platform); idempotent."""
    if not platforms:
        return 0
    return conn.execute(
        text(
            "INSERT INTO search_task (run_id, group_id, platform, page) "
            "SELECT g.run_id, g.group_id, p.platform, 1 FROM image_group AS g "
            "CROSS JOIN unnest(CAST(:platforms AS text[])) AS p(platform) "
            "WHERE g.run_id = :r ON CONFLICT DO NOTHING"
        ),
        {"r": run_id, "platforms": list(platforms)},
    ).rowcount


def open_tasks(conn: Connection, run_id: int, platforms: Iterable[str] | None = None) -> list[SearchTask]:
    """Tasks still to execute: pending, or skipped because their platform was stopped."""
    rows = conn.execute(
        text(
            "SELECT run_id, group_id, platform, page, attempts FROM search_task "
            "WHERE run_id = :r AND status IN ('pending', 'skipped') "
            "AND (CAST(:platforms AS text[]) IS NULL OR platform = ANY(CAST(:platforms AS text[]))) "
            "ORDER BY page, group_id, platform"
        ),
        {"r": run_id, "platforms": list(platforms) if platforms is not None else None},
    ).all()
    return [SearchTask(*r) for r in rows]


def mark_attempt(conn: Connection, task: SearchTask) -> None:
    """Count an attempt before the call is made: a crash mid-call is still visible."""
    conn.execute(
        text(
            "UPDATE search_task SET attempts = attempts + 1, status = 'pending', updated_at = now() "
            "WHERE (run_id, group_id, platform, page) = (:r, :g, :p, :n)"
        ),
        {"r": task.run_id, "g": task.group_id, "p": task.platform, "n": task.page},
    )


def end_task(conn: Connection, task: SearchTask, status: str, error: str) -> None:
    """Mark a task failed (this request cannot succeed) or skipped (platform stopped)."""
    conn.execute(
        text(
            "UPDATE search_task SET status = :s, last_error = :e, updated_at = now() "
            "WHERE (run_id, group_id, platform, page) = (:r, :g, :p, :n) AND status <> 'done'"
        ),
        {"s": status, "e": error[:2000], "r": task.run_id, "g": task.group_id,
         "p": task.platform, "n": task.page},
    )


def complete_task(
    conn: Connection,
    task: SearchTask,
    page: SearchPage,
    snapshots: Sequence[ListingSnapshot],
    rejects: Sequence[Reject],
    *,
    skus: Sequence[str],
    marketplace: str,
    protocol: str,
    requested_at: datetime,
    received_at: datetime,
    max_pages: int,
    weak: Sequence[ListingSnapshot] = (),
) -> LoadResult:
    """Archive, load and mark done in the caller's single transaction; plan the next page.

    ``weak`` results (visual score under the configured floor) are stored as listings and
    snapshots but not matched to ``skus``.
    """
    raw_id = archive_response(
        conn, task, page, marketplace=marketplace, protocol=protocol,
        requested_at=requested_at, received_at=received_at,
    )
    record_rejects(conn, task.run_id, rejects)
    result = load_snapshots(
        conn, task.run_id, received_at, snapshots, skus=skus, group_id=task.group_id,
        raw_id=raw_id, cached=page.cached,
    )
    if weak:
        extra = load_snapshots(conn, task.run_id, received_at, weak, group_id=task.group_id,
                               raw_id=raw_id, cached=page.cached)
        result = LoadResult(result.listings + extra.listings, result.snapshots + extra.snapshots,
                            result.matches, [*result.rejects, *extra.rejects])
    conn.execute(
        text(
            "UPDATE search_task SET status = 'done', n_items = :items, has_more = :more,"
            " last_error = NULL, updated_at = now() "
            "WHERE (run_id, group_id, platform, page) = (:r, :g, :p, :n)"
        ),
        {"items": len(page.items), "more": page.has_more, "r": task.run_id, "g": task.group_id,
         "p": task.platform, "n": task.page},
    )
    if page.has_more and task.page < max_pages:
        conn.execute(
            text(
                "INSERT INTO search_task (run_id, group_id, platform, page) "
                "VALUES (:r, :g, :p, :n) ON CONFLICT DO NOTHING"
            ),
            {"r": task.run_id, "g": task.group_id, "p": task.platform, "n": task.page + 1},
        )
    return result
