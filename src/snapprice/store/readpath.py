"""The read path's upkeep (sql/migrations/0012_read_path.sql): the zone days are cut in, and
the window statistics and current-state tables rebuilt from ``price_snapshot``.

The current-state tables follow every write to ``price_snapshot`` by themselves (its
triggers, in the writer's transaction); what is left to the code is telling the database
the user's time zone, refreshing the stored window statistics at the end of a run, and
``snapprice db refresh`` after history arrived with the triggers off.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from snapprice.store.sql import statement


def use_day_zone(conn: Connection, zone: str) -> bool:
    """Cut days in ``zone`` from now on; True when it changed (stored windows are dropped)."""
    return bool(conn.execute(statement("store/set_day_zone"), {"zone": zone}).scalar_one())


def day_zone(conn: Connection) -> str:
    return str(conn.execute(statement("store/day_zone")).scalar_one())


def refresh_windows(conn: Connection) -> int:
    """Store the SKU window statistics as of today and tomorrow for the SKUs written since
    the last refresh (every SKU when many are); returns how many (-1: all)."""
    return int(conn.execute(statement("store/refresh_windows")).scalar_one())


def refresh_days(conn: Connection) -> int:
    """Recompute the daily rollup ``sku_day`` for the (SKU, day) pairs written since the
    last refresh (the whole rollup when it is not built); returns how many (-1: all)."""
    return int(conn.execute(statement("store/refresh_days")).scalar_one())


def refresh(conn: Connection) -> None:
    """Rebuild every current-state table and the stored windows from ``price_snapshot``."""
    conn.execute(statement("store/refresh_read_path"))
