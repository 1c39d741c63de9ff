"""Bait and outlier guard: the ``price_flag`` of a run's snapshots, set when its searches end.

A deposit (``定金``), an accessory that reuses the product's picture or a decoy at an anchor
price is found by a search by image as readily as the product: its price is not the
product's. Rules (``sql/app/flags/flag_run.sql``, thresholds in ``[flags]``): bait words in
the title; a price far under or over the median of the SKU's listings in the run; a price
far under the listing's own recent median. The current views, the report and the alerts
count only unflagged prices; the snapshot itself is kept as it was served.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Connection, Engine

from snapprice.settings import FlagSettings
from snapprice.store.sql import statement

log = logging.getLogger(__name__)


def flag_in(conn: Connection, cfg: FlagSettings, run_id: int) -> int:
    """Flag run ``run_id``'s snapshots in the caller's transaction; returns the flags changed."""
    if not cfg.enabled:
        return 0
    return int(conn.execute(statement("flags/flag_run"), {
        "run": run_id, "bait_pattern": cfg.bait_pattern(), "min_listings": cfg.min_listings,
        "low_ratio": cfg.low_ratio, "high_ratio": cfg.high_ratio, "own_ratio": cfg.own_ratio,
        "own_days": cfg.own_days,
    }).scalar_one())


def flag_run(engine: Engine, cfg: FlagSettings, run_id: int) -> int:
    """Flag run ``run_id``'s snapshots (idempotent: a second call changes nothing)."""
    with engine.begin() as conn:
        changed = flag_in(conn, cfg, run_id)
    log.info("run %s: %d price flag(s) set", run_id, changed)
    return changed
