"""Alert rules from config, evaluated into the `alert` table (the webhook is ``webhook.py``).

One alert per rule, listing and crossing (see sql/migrations/0006_alerts.sql): evaluating a
run twice, or an older run after a newer one, adds nothing; a condition that clears and
holds again is a new crossing and a new alert. Semantics are documented in docs/reports.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import TextClause
from sqlalchemy.engine import Connection, Engine

from snapprice.settings import AlertSettings, Settings
from snapprice.store.sql import statement

log = logging.getLogger(__name__)


# Every rule reads the run's snapshots alike, the two rules that compare with the previous
# snapshot find it alike, and the two state rules find their crossings alike: those parts
# are fragment files, composed here into each rule's statement (sql/app/alerts/).
_SNAPSHOTS = {"snapshots": "alerts/run_snapshots"}
_VS_PREVIOUS = {"snapshots": "alerts/run_snapshots", "previous": "alerts/previous_snapshot"}
_STATE = {"snapshots": "alerts/run_snapshots", "crossings": "alerts/state_crossings"}


def _pct(value: float) -> str:
    return f"{value:g}%"


def _abs(cfg: AlertSettings) -> str:
    """The money threshold's part of a rule key: empty when there is none."""
    return f":{format(cfg.min_change_abs.normalize(), 'f')}abs" if cfg.min_change_abs > 0 else ""


def _statements(cfg: AlertSettings) -> list[tuple[TextClause, dict[str, Any]]]:
    """(statement, parameters) of every enabled rule."""
    out: list[tuple[TextClause, dict[str, Any]]] = []
    money = {"min_abs": cfg.min_change_abs}
    if cfg.target_prices:
        skus = sorted(cfg.target_prices)
        targets = [cfg.target_prices[s] for s in skus]
        keys = [f"target_price:{s}:{format(t.normalize(), 'f')}" for s, t in zip(skus, targets, strict=True)]
        out.append((statement("alerts/target_price", **_STATE), {"skus": skus, "targets": targets, "keys": keys}))
    for rule, pct, direction in (("drop_vs_previous", cfg.drop_vs_previous_pct, -1),
                                 ("rise_vs_previous", cfg.rise_vs_previous_pct, 1)):
        if pct > 0:
            out.append((statement("alerts/change_vs_previous", **_VS_PREVIOUS), {
                "rule": rule, "key": f"{rule}:{_pct(pct)}{_abs(cfg)}", "pct": pct, "direction": direction,
                **money}))
    if cfg.drop_vs_average_pct > 0:
        out.append((statement("alerts/drop_vs_average", **_STATE), {
            "pct": cfg.drop_vs_average_pct, "days": cfg.average_days, "min_days": cfg.min_average_days,
            "key": f"drop_vs_average:{cfg.average_days}d:{_pct(cfg.drop_vs_average_pct)}{_abs(cfg)}", **money,
        }))
    if cfg.new_low_days > 0:
        out.append((statement("alerts/new_low", **_SNAPSHOTS),
                    {"key": f"new_low:{cfg.new_low_days}d:min{cfg.new_low_min_days}d",
                     "days": cfg.new_low_days, "min_days": cfg.new_low_min_days}))
    if cfg.reappeared_after_runs > 0:
        out.append((statement("alerts/reappeared", **_VS_PREVIOUS),
                    {"key": f"reappeared:{cfg.reappeared_after_runs}runs", "runs": cfg.reappeared_after_runs}))
    return out


def evaluate_in(conn: Connection, cfg: AlertSettings, run_id: int) -> list[dict[str, Any]]:
    """Evaluate every enabled rule on the snapshots of ``run_id`` in the caller's transaction."""
    if not cfg.enabled:
        return []
    ids: list[int] = []
    for rule, params in _statements(cfg):
        result = conn.execute(rule, {**params, "run": run_id, "min_score": cfg.min_score})
        ids.extend(int(r[0]) for r in result)
    if ids and cfg.max_per_sku_per_day > 0:
        conn.execute(statement("alerts/cap_per_sku_day"), {"ids": ids, "cap": cfg.max_per_sku_per_day})
    return fetch_alerts(conn, ids=ids)


def evaluate(engine: Engine, settings: Settings, run_id: int) -> list[dict[str, Any]]:
    """Evaluate the alert rules at the end of run ``run_id``; returns the alerts it added."""
    with engine.begin() as conn:
        new = evaluate_in(conn, settings.alerts, run_id)
    if new:
        held = sum(1 for a in new if a.get("suppressed"))
        log.info("run %s: %d new alert(s)%s", run_id, len(new),
                 f", {held} over the per-SKU daily cap (kept, not sent)" if held else "")
    return new


def to_send(alerts: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The alerts to deliver: those not held back by the per-SKU daily cap."""
    return [a for a in alerts if not a.get("suppressed")]


def fetch_alerts(
    conn: Connection, *, ids: Sequence[int] | None = None, since: datetime | None = None,
    sku: str | None = None, limit: int = 1000,
) -> list[dict[str, Any]]:
    """Alerts with their listing's item id, title and URL, newest first."""
    rows = conn.execute(
        statement("alerts/fetch_alerts"),
        {"ids": list(ids) if ids is not None else None, "since": since, "sku": sku, "limit": limit},
    ).mappings().all()
    return [dict(r) for r in rows]


def to_json(alert: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy: money as exact decimal strings, times in ISO 8601."""
    out: dict[str, Any] = {}
    for k, v in alert.items():
        if isinstance(v, Decimal):
            v = format(v.normalize(), "f")
        elif isinstance(v, datetime | date):
            v = v.isoformat()
        out[k] = v.strip() if isinstance(v, str) else v
    return out


def alerts_markdown(alerts: Sequence[Mapping[str, Any]], limit: int = 50) -> str:
    """A Markdown table of alerts (for a Prefect artifact)."""
    if not alerts:
        return "No new price alerts."
    lines = [f"**{len(alerts)} new price alert(s)**", "", "| rule | SKU | platform | item | alert |",
             "|---|---|---|---|---|"]
    for a in alerts[:limit]:
        cells = [a["rule"], a.get("sku") or "", a["platform"], a.get("item_id") or "", a["message"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    if len(alerts) > limit:
        lines.append(f"\n… and {len(alerts) - limit} more (table `alert`).")
    return "\n".join(lines)
