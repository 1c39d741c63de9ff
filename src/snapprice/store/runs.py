"""Run and search-task state: what makes a killed run resumable without repeated work."""

from __future__ import annotations

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
from snapprice.store.archive import archive_responses
from snapprice.store.loader import Sighting, load_sightings, prepare_loads, record_rejects
from snapprice.store.match_checks import save_pictures_many
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


@dataclass(frozen=True)
class Completion:
    """A finished search waiting for its batch: what ``complete_batch`` stores."""

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


def _task_arrays(tasks: Sequence[SearchTask]) -> dict[str, list[object]]:
    return {"groups": [t.group_id for t in tasks], "platforms": [t.platform for t in tasks],
            "pages": [t.page for t in tasks]}


def store_completions(conn: Connection, run_id: int, items: Sequence[Completion]) -> list[int]:
    """Archive, load and mark done finished searches of ``run_id`` in the caller's
    transaction, with one statement per table for all of them (the caller ran
    ``prepare_loads``); plan their next pages. The snapshots stored per item.

    With ``checked`` (per-SKU match checks), a SKU is matched to a listing only where its
    own check passed; every result is stored as a listing and snapshot all the same, and
    the pictures' cache entries are kept.
    """
    if not items:
        return []
    raw_ids = archive_responses(conn, run_id, items)
    record_rejects(conn, run_id, [r for c in items for r in c.rejects])
    learnt = [(c.received_at, c.checked) for c in items if c.checked is not None]
    if learnt:
        save_pictures_many(conn, learnt)
    loaded = load_sightings(conn, run_id, [
        Sighting(c.received_at, c.snapshots, skus=c.skus, group_id=c.task.group_id, raw_id=raw,
                 cached=c.page.cached, checks=None if c.checked is None else c.checked.checks,
                 check_version=0 if c.checked is None else c.checked.feature_version)
        for c, raw in zip(items, raw_ids, strict=True)], prepared=True)
    conn.execute(statement("store/complete_tasks"), {
        "run": run_id, **_task_arrays([c.task for c in items]),
        "items": [len(c.page.items) for c in items], "has_more": [c.page.has_more for c in items]})
    more = [c.task for c in items if c.page.has_more and c.task.page < c.max_pages]
    if more:
        conn.execute(statement("store/plan_next_pages"), {
            "run": run_id, **_task_arrays([SearchTask(t.run_id, t.group_id, t.platform, t.page + 1)
                                           for t in more])})
    return loaded.snapshots


def complete_batch(
    conn: Connection,
    run_id: int,
    items: Sequence[Completion],
    attempts: Mapping[tuple[int, str, int], int] | None = None,
    *,
    isolate: bool = False,
) -> list[int | str]:
    """Store many finished searches of ``run_id`` in the caller's one transaction (each
    marked done with its rows) and add the requests counted since the last batch; per item,
    the snapshots it stored or why it could not be stored.

    Without ``isolate`` the batch is written set-wise (``store_completions``) and any error
    ends it (the caller rolls it back and writes it again isolated). With it, each item is
    written alone under its own savepoint: an item the database refuses (a value it cannot
    take, a constraint) is rolled back to it, recorded as a reject and its task marked
    failed; the others are kept. A connection or server fault (OperationalError,
    InterfaceError) is raised either way: the caller retries the whole batch, never half.
    """
    add_attempts(conn, run_id, attempts or {})
    if not items:
        return []
    prepare_loads(conn, run_id, [c.received_at for c in items])
    if not isolate:
        return list(store_completions(conn, run_id, items))
    out: list[int | str] = []
    for c in items:
        try:
            with conn.begin_nested():
                out.extend(store_completions(conn, run_id, [c]))
        except (sa_exc.OperationalError, sa_exc.InterfaceError):
            raise
        except Exception as exc:  # one bad item: a recorded reject, the batch goes on
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
