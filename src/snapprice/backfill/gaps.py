"""Fill gaps: the schedule's slots in a window, and the SKUs no run searched in one of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim
from sqlalchemy.engine import Engine

from snapprice.settings import Settings
from snapprice.store.sql import statement


def schedule_slots(settings: Settings, since: datetime, until: datetime,
                   now: datetime | None = None) -> list[datetime]:
    """The schedule's slot times in [since, until) that have come (none after ``now``), in
    the schedule's time zone (``[schedule]`` is validated with the config)."""
    tz = ZoneInfo(settings.schedule.timezone)

    def local(moment: datetime) -> datetime:
        return moment.astimezone(tz) if moment.tzinfo else moment.replace(tzinfo=tz)

    start, end, now_ = local(since), local(until), local(now or datetime.now(UTC))
    slots = []
    # CronSim yields times strictly after its start: begin just before the window.
    for slot in CronSim(settings.schedule.cron, start - timedelta(seconds=1)):
        if slot >= end or slot > now_:
            break
        slots.append(slot)
    return slots


def skus_missing_slots(engine: Engine, skus: list[str], slots: list[datetime]) -> dict[str, list[datetime]]:
    """For each SKU, the slots in which no run searched it (a done search task).

    A slot's window runs from the slot to the next one (the last: one slot interval); a
    backfill run fills every slot before it (history cannot be searched in the past, so a
    gap a backfill filled stays filled: running the command again searches nothing).
    """
    if not slots or not skus:
        return {}
    width = (slots[1] - slots[0]) if len(slots) > 1 else None
    bounds = [(s, slots[i + 1] if i + 1 < len(slots) else (s + width if width else None))
              for i, s in enumerate(slots)]
    missing: dict[str, list[datetime]] = {}
    with engine.connect() as conn:
        for lo, hi in bounds:
            covered = set(conn.execute(statement("backfill/searched_skus"), {"lo": lo, "hi": hi}).scalars())
            for sku in skus:
                if sku not in covered:
                    missing.setdefault(sku, []).append(lo)
    return missing
