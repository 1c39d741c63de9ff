"""Backfill over a date window: replay archived responses, or find the SKUs a schedule missed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from snapprice.errors import PlatformError
from snapprice.models import Reject, SearchItem
from snapprice.normalize import normalize_page
from snapprice.search.platforms.registry import client_class
from snapprice.settings import Settings
from snapprice.store.flags import flag_in
from snapprice.store.loader import load_snapshots, record_rejects
from snapprice.store.match_checks import check_scores
from snapprice.store.sql import statement

Progress = Callable[[int, int], None]


@dataclass
class ReplaySummary:
    responses: int = 0
    snapshots_changed: int = 0
    rejects: int = 0
    runs: set[int] = field(default_factory=set)
    # Runs of the window with snapshots but no archived response left (pruned by retention):
    # they cannot be replayed, and are reported instead of failing the replay.
    pruned_runs: list[int] = field(default_factory=list)


def parse_archived(protocol: str, marketplace: str, body: Any, page: int,
                   options: dict[str, Any], page_size: int | None) -> list[SearchItem]:
    """Re-parse one archived body with today's parser of its protocol (from the registry)."""
    cls = client_class(protocol, where="replay: raw_response.protocol")
    return cls.parse(marketplace, body, page=page, page_size=page_size, options=options)


def replay(engine: Engine, settings: Settings, since: datetime, until: datetime,
           progress: Progress | None = None) -> ReplaySummary:
    """Re-normalize and reload the raw responses received in [since, until).

    Each response reloads into its own run with its original capture time; where the parser
    did not change, nothing changes (the loader is idempotent); where it did, the values
    of those snapshots are rewritten. With match checks on, a SKU is matched only to the
    listings its own stored check passed, and a snapshot's score comes from the stored
    checks (a replay fetches no pictures). The price flags of every run replayed are set
    again. Runs whose responses were pruned (``snapprice db prune``) keep their snapshots as
    they are and are listed in ``pruned_runs``.
    """
    summary = ReplaySummary()
    with engine.connect() as conn:
        window = {"since": since, "until": until}
        rows = conn.execute(statement("backfill/archived_responses"), window).mappings().all()
        skus_of = {
            (r, g): list(skus) for r, g, skus in conn.execute(statement("backfill/group_skus"), window).all()
        }
        summary.pruned_runs = list(conn.execute(statement("backfill/pruned_runs"), window).scalars())
    for n, raw in enumerate(rows, 1):
        plat = settings.platforms.get(raw["platform"])
        options = plat.options if plat else {}
        page_size = plat.page_size if plat else None
        with engine.begin() as conn:
            try:
                items = parse_archived(raw["protocol"], raw["marketplace"], raw["body"], raw["page"],
                                       options, page_size)
            except PlatformError as exc:
                summary.rejects += record_rejects(conn, raw["run_id"], [Reject(
                    "replay", f"raw_response {raw['raw_id']}", "unparsable", str(exc))])
                continue
            snaps, rejects = normalize_page(raw["marketplace"], items)
            skus = skus_of.get((raw["run_id"], raw["group_id"]), [])
            if settings.match_check.enabled:
                scores = check_scores(conn, skus, ((s.platform, s.item_id) for s in snaps))
                snaps = [dataclasses.replace(s, score=scores.get((s.platform, s.item_id))) for s in snaps]
            summary.rejects += record_rejects(conn, raw["run_id"], rejects)
            res = load_snapshots(conn, raw["run_id"], raw["received_at"], snaps,
                                 skus=skus,
                                 group_id=raw["group_id"], raw_id=raw["raw_id"],
                                 cached=raw["cached"], update_existing=True,
                                 checked=settings.match_check.enabled)
        summary.responses += 1
        summary.snapshots_changed += res.snapshots
        summary.runs.add(raw["run_id"])
        if progress:
            progress(n, len(rows))
    # Rewritten or restored prices are judged again, by the rules of today's [flags].
    for run_id in sorted(summary.runs):
        with engine.begin() as conn:
            flag_in(conn, settings.flags, run_id)
    return summary
