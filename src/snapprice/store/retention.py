"""Retention: remove archived raw responses (and, when configured, whole months of snapshots)
older than `[retention]` allows. Snapshots are never touched unless snapshot_days is set."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from snapprice.store.readpath import refresh
from snapprice.store.sql import statement


@dataclass(frozen=True)
class SnapshotMonth:
    partition: str
    start: datetime
    end: datetime
    rows: int


@dataclass
class PruneSummary:
    dry_run: bool
    raw_cutoff: datetime
    raw_rows: int  # raw responses older than the cutoff (deleted unless dry_run)
    raw_runs: int
    raw_oldest: datetime | None
    raw_newest: datetime | None
    snapshot_cutoff: datetime | None  # None: snapshots are kept forever
    snapshot_months: list[SnapshotMonth] = field(default_factory=list)
    batches: int = 0

    @property
    def nothing(self) -> bool:
        return self.raw_rows == 0 and not self.snapshot_months


def prune(engine: Engine, now: datetime, *, raw_days: int, snapshot_days: int | None = None,
          batch: int = 5_000, dry_run: bool = False) -> PruneSummary:
    """Delete raw responses received more than ``raw_days`` before ``now``, in batches of
    ``batch`` rows (one short transaction each); with ``snapshot_days``, drop the monthly
    snapshot partitions that end at or before ``now - snapshot_days`` and rebuild the read
    path's tables from what is left. ``dry_run``: only say what would go. Running it again
    right after is a no-op."""
    raw_cutoff = now - timedelta(days=raw_days)
    with engine.connect() as conn:
        old = conn.execute(statement("retention/old_raw"), {"cutoff": raw_cutoff}).mappings().one()
    summary = PruneSummary(dry_run, raw_cutoff, int(old["n_rows"]), int(old["n_runs"]), old["oldest"],
                           old["newest"], now - timedelta(days=snapshot_days) if snapshot_days else None)
    if not dry_run:
        while True:
            with engine.begin() as conn:
                deleted = conn.execute(statement("retention/delete_raw_batch"),
                                       {"cutoff": raw_cutoff, "batch": batch}).rowcount
            if not deleted:
                break
            summary.batches += 1
    if summary.snapshot_cutoff is not None:
        with engine.begin() as conn:
            rows = conn.execute(statement("retention/snapshot_months"),
                                {"cutoff": summary.snapshot_cutoff, "dry_run": dry_run}).all()
            summary.snapshot_months = [SnapshotMonth(name, lo, hi, int(n)) for name, lo, hi, n in rows]
            # A dropped partition fires no DELETE trigger: rebuild the read path's current-state
            # tables from the snapshots that are left, in the same transaction.
            if summary.snapshot_months and not dry_run:
                refresh(conn)
    return summary


__all__ = ["PruneSummary", "SnapshotMonth", "prune"]
