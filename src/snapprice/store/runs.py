"""Run and search-task state: what makes a killed run resumable without repeated work."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection

from snapprice.models import CheckedResults, ListingSnapshot, Reject, SearchPage, SearchTask
from snapprice.normalize import storable
from snapprice.store.archive import archive_response
from snapprice.store.loader import LoadResult, load_snapshots, prepare_loads, record_rejects
from snapprice.store.match_checks import save_pictures
from snapprice.store.sql import statement

RUN_KINDS = ("scheduled", "manual", "backfill", "demo")
log = logging.getLogger("snapprice.store")


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
            statement("store/create_run"),
            {"kind": kind, "catalog": catalog, "config_digest": config_digest,
             "flow_run_id": prefect_flow_run_id, "slot": slot},
        ).scalar_one()
    )


def get_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    row = conn.execute(text("SELECT * FROM run WHERE run_id = :run"), {"run": run_id}).mappings().first()
    return dict(row) if row else None


def newest_unfinished_run(conn: Connection) -> int | None:
    return conn.execute(
        text("SELECT run_id FROM run WHERE status IN ('running', 'failed') ORDER BY run_id DESC LIMIT 1")
    ).scalar_one_or_none()


def reopen_run(conn: Connection, run_id: int, prefect_flow_run_id: str | None = None) -> None:
    conn.execute(statement("store/reopen_run"), {"run": run_id, "flow_run_id": prefect_flow_run_id})


def run_counts(conn: Connection, run_id: int) -> dict[str, int]:
    row = conn.execute(statement("store/run_counts"), {"run": run_id}).mappings().one()
    return {k: int(v) for k, v in row.items()}


def finish_run(conn: Connection, run_id: int, status: str, message: str | None = None) -> dict[str, int]:
    """Close the run with counts taken from the tables themselves (so they always add up)."""
    counts = run_counts(conn, run_id)
    conn.execute(statement("store/finish_run"), {**counts, "status": status, "message": message, "run": run_id})
    return counts


def plan_tasks(conn: Connection, run_id: int, platforms: Sequence[str]) -> int:
    """One page-1 task per (group, platform); idempotent."""
    if not platforms:
        return 0
    return conn.execute(statement("store/plan_tasks"), {"run": run_id, "platforms": list(platforms)}).rowcount


def open_tasks(conn: Connection, run_id: int, platforms: Iterable[str] | None = None) -> list[SearchTask]:
    """Tasks still to execute: pending, or skipped because their platform was stopped."""
    rows = conn.execute(
        statement("store/open_tasks"),
        {"run": run_id, "platforms": list(platforms) if platforms is not None else None},
    ).all()
    return [SearchTask(*r) for r in rows]


def _task_key(task: SearchTask) -> dict[str, object]:
    return {"run": task.run_id, "group": task.group_id, "platform": task.platform, "page": task.page}


def add_attempts(conn: Connection, run_id: int, attempts: Mapping[tuple[int, str, int], int]) -> None:
    """Add the requests sent per task, ``(group, platform, page) -> n``, in one statement."""
    if not attempts:
        return
    keys = list(attempts)
    conn.execute(statement("store/add_attempts"), {
        "run": run_id, "groups": [k[0] for k in keys], "platforms": [k[1] for k in keys],
        "pages": [k[2] for k in keys], "counts": [attempts[k] for k in keys]})


def end_task(conn: Connection, task: SearchTask, status: str, error: str) -> None:
    """Mark a task failed (this request cannot succeed) or skipped (platform stopped)."""
    conn.execute(statement("store/end_task"), {**_task_key(task), "status": status, "error": error[:2000]})


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
    checked: CheckedResults | None = None,
    prepared: bool = False,
) -> LoadResult:
    """Archive, load and mark done in the caller's single transaction; plan the next page.

    With ``checked`` (per-SKU match checks), a SKU is matched to a listing only where its
    own check passed; every result is stored as a listing and snapshot all the same, and
    the pictures' cache entries are kept.
    """
    raw_id = archive_response(
        conn, task, page, marketplace=marketplace, protocol=protocol,
        requested_at=requested_at, received_at=received_at,
    )
    record_rejects(conn, task.run_id, rejects)
    if checked is not None:
        save_pictures(conn, checked, received_at)
    result = load_snapshots(
        conn, task.run_id, received_at, snapshots, skus=skus, group_id=task.group_id,
        raw_id=raw_id, cached=page.cached,
        checks=None if checked is None else checked.checks,
        check_version=0 if checked is None else checked.feature_version, prepared=prepared,
    )
    conn.execute(statement("store/complete_task"),
                 {**_task_key(task), "items": len(page.items), "has_more": page.has_more})
    if page.has_more and task.page < max_pages:
        conn.execute(statement("store/plan_next_page"), {**_task_key(task), "page": task.page + 1})
    return result


@dataclass(frozen=True)
class Completion:
    """A finished search waiting for its batch: what ``complete_task`` stores."""

    task: SearchTask
    page: SearchPage
    snapshots: Sequence[ListingSnapshot]
    rejects: Sequence[Reject]
    skus: Sequence[str]
    marketplace: str
    protocol: str
    requested_at: datetime
    received_at: datetime
    max_pages: int
    checked: CheckedResults | None = None


def complete_batch(
    conn: Connection,
    run_id: int,
    items: Sequence[Completion],
    attempts: Mapping[tuple[int, str, int], int] | None = None,
    *,
    isolate: bool = False,
) -> list[LoadResult | str]:
    """Store many finished searches in the caller's one transaction (each marked done with
    its rows) and add the requests counted since the last batch; per item, its LoadResult
    or why it could not be stored.

    Without ``isolate`` any error ends the batch (the caller rolls it back and writes it
    again isolated). With it, each item has its own savepoint: an item the database
    refuses (a value it cannot take, a constraint) is rolled back to it, recorded as a
    reject and its task marked failed; the others are kept. A connection or server fault
    (OperationalError, InterfaceError) is raised either way: the caller retries the whole
    batch, never half of it.
    """
    add_attempts(conn, run_id, attempts or {})
    if items:
        prepare_loads(conn, run_id, [c.received_at for c in items])
    out: list[LoadResult | str] = []
    for c in items:
        try:
            with conn.begin_nested() if isolate else contextlib.nullcontext():
                out.append(complete_task(
                    conn, c.task, c.page, c.snapshots, c.rejects, skus=c.skus,
                    marketplace=c.marketplace, protocol=c.protocol,
                    requested_at=c.requested_at, received_at=c.received_at,
                    max_pages=c.max_pages, checked=c.checked, prepared=True))
        except (sa_exc.OperationalError, sa_exc.InterfaceError):
            raise
        except Exception as exc:  # one bad item: a recorded reject, the batch goes on
            if not isolate:
                raise
            orig = getattr(exc, "orig", None) or exc
            first = (str(orig).strip().splitlines() or [""])[0][:500]
            why = storable(f"results not stored: {type(orig).__name__}: {first}")
            log.warning("search task %s: %s", c.task, why)
            t = c.task
            record_rejects(conn, run_id, [Reject("load", f"{t.platform}:group {t.group_id}:page {t.page}",
                                                 "task_not_stored", why)])
            end_task(conn, t, "failed", why)
            out.append(why)
    return out
