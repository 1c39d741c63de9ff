"""Backfill over a date window: replay archived responses, or find the SKUs a schedule missed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim
from sqlalchemy import text
from sqlalchemy.engine import Engine

from snapprice.errors import ConfigError, PlatformError
from snapprice.models import Reject, SearchItem
from snapprice.platforms.aliyun import parse_aliyun_body
from snapprice.platforms.aop1688 import parse_aop_body
from snapprice.platforms.gateway import parse_gateway_body
from snapprice.platforms.top import DEFAULT_METHOD, parse_top_body
from snapprice.searching import normalize_page
from snapprice.settings import Settings
from snapprice.store.loader import load_snapshots, record_rejects

Progress = Callable[[int, int], None]


@dataclass
class ReplaySummary:
    responses: int = 0
    snapshots_changed: int = 0
    rejects: int = 0
    runs: set[int] = field(default_factory=set)


def parse_archived(protocol: str, marketplace: str, body: Any, page: int,
                   options: dict[str, Any], page_size: int | None) -> list[SearchItem]:
    """Re-parse one archived body with today's parser of its protocol."""
    if protocol == "gateway":
        items, _, _ = parse_gateway_body(marketplace, body, page=page, page_size=page_size,
                                         price_unit=options.get("price_unit"))
    elif protocol == "top":
        items, _, _ = parse_top_body(marketplace, body, method=options.get("method", DEFAULT_METHOD),
                                     page=page, page_size=page_size)
    elif protocol == "aliyun-imagesearch":
        items, _, _ = parse_aliyun_body(marketplace, body, page=page, page_size=page_size)
    elif protocol == "1688-aop":
        items, _, _ = parse_aop_body(marketplace, body, page=page, page_size=page_size)
    else:
        raise ConfigError(f"replay: no parser for protocol {protocol!r}")
    return items


def replay(engine: Engine, settings: Settings, since: datetime, until: datetime,
           progress: Progress | None = None) -> ReplaySummary:
    """Re-normalize and reload the raw responses received in [since, until).

    Each response reloads into its own run with its original capture time; where the parser
    did not change, nothing changes (the loader is idempotent); where it did, the values
    of those snapshots are rewritten.
    """
    summary = ReplaySummary()
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT raw_id, run_id, group_id, platform, marketplace, protocol, page, received_at,"
            " cached, body FROM raw_response WHERE received_at >= :s AND received_at < :u"
            " ORDER BY raw_id"), {"s": since, "u": until}).mappings().all()
        skus_of = {
            (r, g): list(skus) for r, g, skus in conn.execute(text(
                "SELECT m.run_id, m.group_id, array_agg(DISTINCT c.sku) FROM image_group_member m"
                " JOIN catalog_item c USING (catalog_item_id)"
                " WHERE m.run_id IN (SELECT DISTINCT run_id FROM raw_response"
                "  WHERE received_at >= :s AND received_at < :u) GROUP BY 1, 2"),
                {"s": since, "u": until}).all()
        }
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
            summary.rejects += record_rejects(conn, raw["run_id"], rejects)
            res = load_snapshots(conn, raw["run_id"], raw["received_at"], snaps,
                                 skus=skus_of.get((raw["run_id"], raw["group_id"]), []),
                                 group_id=raw["group_id"], raw_id=raw["raw_id"],
                                 cached=raw["cached"], update_existing=True)
        summary.responses += 1
        summary.snapshots_changed += res.snapshots
        summary.runs.add(raw["run_id"])
        if progress:
            progress(n, len(rows))
    return summary


def schedule_slots(settings: Settings, since: datetime, until: datetime) -> list[datetime]:
    """The schedule's slot times in [since, until), in the schedule's time zone."""
    try:
        tz = ZoneInfo(settings.schedule.timezone)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"schedule.timezone: unknown time zone {settings.schedule.timezone!r}") from exc
    start = since.astimezone(tz) if since.tzinfo else since.replace(tzinfo=tz)
    end = until.astimezone(tz) if until.tzinfo else until.replace(tzinfo=tz)
    try:  # CronSim yields times strictly after its start: begin just before the window
        it = CronSim(settings.schedule.cron, start - timedelta(seconds=1))
    except Exception as exc:  # cronsim raises its own CronSimError
        raise ConfigError(f"schedule.cron: {exc}") from None
    slots = []
    for slot in it:
        if slot >= end:
            break
        if slot >= start:
            slots.append(slot)
    return slots


def skus_missing_slots(engine: Engine, skus: list[str], slots: list[datetime]) -> dict[str, list[datetime]]:
    """For each SKU, the slots in which no run searched it (a done search task).

    A slot's window runs from the slot to the next one (the last: one slot interval).
    """
    if not slots or not skus:
        return {}
    width = (slots[1] - slots[0]) if len(slots) > 1 else None
    bounds = [(s, slots[i + 1] if i + 1 < len(slots) else (s + width if width else None))
              for i, s in enumerate(slots)]
    missing: dict[str, list[datetime]] = {}
    with engine.connect() as conn:
        for lo, hi in bounds:
            covered = set(conn.execute(text(
                "SELECT DISTINCT c.sku FROM search_task t"
                " JOIN run r ON r.run_id = t.run_id"
                " JOIN image_group_member m ON m.run_id = t.run_id AND m.group_id = t.group_id"
                " JOIN catalog_item c ON c.catalog_item_id = m.catalog_item_id"
                " WHERE t.status = 'done' AND t.updated_at >= :lo"
                " AND (CAST(:hi AS timestamptz) IS NULL OR t.updated_at < :hi)"),
                {"lo": lo, "hi": hi}).scalars())
            for sku in skus:
                if sku not in covered:
                    missing.setdefault(sku, []).append(lo)
    return missing
