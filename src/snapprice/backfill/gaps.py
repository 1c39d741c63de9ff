"""Fill gaps: the schedule's slots in a window, and the SKUs no run searched in one of them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim
from sqlalchemy.engine import Engine

from snapprice.errors import ConfigError
from snapprice.settings import Settings
from snapprice.store.sql import statement


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
            covered = set(conn.execute(statement("backfill/searched_skus"), {"lo": lo, "hi": hi}).scalars())
            for sku in skus:
                if sku not in covered:
                    missing.setdefault(sku, []).append(lo)
    return missing
