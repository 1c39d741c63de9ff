"""Backfill over a window: replay archived responses, or find the schedule's gaps."""

from snapprice.backfill.gaps import schedule_slots, skus_missing_slots
from snapprice.backfill.replay import replay

__all__ = ["replay", "schedule_slots", "skus_missing_slots"]
