"""The HTML price report: data shaped with polars, charts drawn as inline SVG, one offline file."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

DEFAULT_DAYS = 30


def write_report(engine: Engine, out: Path, since: date | None = None, sku: str | None = None,
                 min_history_days: int = 7) -> Path:
    """Write the report of the period from ``since`` (default: the last 30 days) to ``out``.

    One self-contained HTML file (no network needed to open it); returns its path. A SKU
    with fewer than ``min_history_days`` days of data shows "new", not a low or an average.
    """
    from snapprice.report.data import read
    from snapprice.report.page import render

    now = datetime.now(UTC)
    start = since or (now - timedelta(days=DEFAULT_DAYS)).date()
    data = read(engine, start, sku, now, min_history_days)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render(data), encoding="utf-8")
    tmp.replace(out)
    return out


__all__ = ["DEFAULT_DAYS", "write_report"]
