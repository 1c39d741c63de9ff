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

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from snapprice.settings import AlertSettings, Settings

log = logging.getLogger(__name__)


# The run's snapshots, with the listing and (for display) its first matched SKU.
_CUR = """
cur AS (
    SELECT * FROM (
        SELECT s.listing_id, s.run_id, s.captured_at, coalesce(s.promo_price, s.price_low) AS price,
               s.currency, l.platform, l.item_id,
               (SELECT min(m.sku) FROM match AS m WHERE m.listing_id = s.listing_id
                  AND (CAST(:min_score AS real) = 0 OR m.best_score >= :min_score)) AS sku
        FROM price_snapshot AS s JOIN listing AS l USING (listing_id)
        WHERE s.run_id = :run
    ) AS c0
    WHERE CAST(:min_score AS real) = 0 OR sku IS NOT NULL
)"""

_INSERT = """
INSERT INTO alert (rule, rule_key, listing_id, crossing_at, run_id, evaluated_run_id, sku, platform,
                   price, reference_price, change_pct, currency, message)
{body}
ON CONFLICT (rule_key, listing_id, crossing_at) DO NOTHING
RETURNING alert_id
"""

_PREV = """
CROSS JOIN LATERAL (
    SELECT s.run_id, s.captured_at, coalesce(s.promo_price, s.price_low) AS price
    FROM price_snapshot AS s
    WHERE s.listing_id = c.listing_id AND s.captured_at < c.captured_at
    ORDER BY s.captured_at DESC LIMIT 1) AS p"""

# Event rules: the run's snapshot is the event, so crossing_at is its capture time.
_DROP_VS_PREVIOUS = f"""
WITH {_CUR}
SELECT 'drop_vs_previous', :key, c.listing_id, c.captured_at, c.run_id, :run, c.sku, c.platform,
       c.price, p.price, round(100 * (c.price - p.price) / p.price, 2), c.currency,
       format('%s %s: %s %s, %s%% vs the previous snapshot (%s)', c.platform, c.item_id,
              round(c.price, 2), c.currency, round(100 * (c.price - p.price) / p.price, 2), round(p.price, 2))
FROM cur AS c {_PREV}
WHERE p.price > 0 AND c.price <= p.price * (1 - CAST(:pct AS numeric) / 100)"""

_NEW_LOW = f"""
WITH {_CUR}
SELECT 'new_low', :key, c.listing_id, c.captured_at, c.run_id, :run, c.sku, c.platform,
       c.price, w.low, round(100 * (c.price - w.low) / nullif(w.low, 0), 2), c.currency,
       format('%s %s: %s %s, a new %s-day low (previous low %s)', c.platform, c.item_id,
              round(c.price, 2), c.currency, CAST(:days AS integer), round(w.low, 2))
FROM cur AS c
CROSS JOIN LATERAL (
    SELECT min(coalesce(s.promo_price, s.price_low)) AS low
    FROM price_snapshot AS s
    WHERE s.listing_id = c.listing_id AND s.captured_at < c.captured_at
      AND s.captured_at >= ((c.captured_at AT TIME ZONE 'UTC')::date - (CAST(:days AS integer) - 1))::timestamp
                           AT TIME ZONE 'UTC') AS w
WHERE c.price < w.low"""

# "Missing" runs: runs between the listing's previous snapshot and this one that returned
# other listings of the same platform for one of its SKUs (so the SKU was searched there).
# Steps are materialized so that, even before ANALYZE, sibling snapshots are read once.
_REAPPEARED = f"""
WITH {_CUR}, gap AS MATERIALIZED (
    SELECT c.*, p.run_id AS p_run, p.captured_at AS p_at, p.price AS p_price
    FROM cur AS c {_PREV}
), sib AS MATERIALIZED (
    SELECT DISTINCT g.listing_id, m2.listing_id AS sib_id
    FROM gap AS g
    JOIN match AS m1 ON m1.listing_id = g.listing_id
    JOIN match AS m2 ON m2.sku = m1.sku AND m2.listing_id <> g.listing_id
    JOIN listing AS l2 ON l2.listing_id = m2.listing_id AND l2.platform = g.platform
), missed AS (
    SELECT g.listing_id, count(DISTINCT s2.run_id) AS missed
    FROM gap AS g JOIN sib USING (listing_id)
    JOIN price_snapshot AS s2 ON s2.listing_id = sib.sib_id
         AND s2.captured_at > g.p_at AND s2.captured_at < g.captured_at
    WHERE s2.run_id NOT IN (g.run_id, g.p_run)
    GROUP BY g.listing_id
)
SELECT 'reappeared', :key, g.listing_id, g.captured_at, g.run_id, :run, g.sku, g.platform,
       g.price, g.p_price, round(100 * (g.price - g.p_price) / nullif(g.p_price, 0), 2), g.currency,
       format('%s %s: back at %s %s after missing %s runs (last seen %s at %s)', g.platform, g.item_id,
              round(g.price, 2), g.currency, x.missed, to_char(g.p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
              round(g.p_price, 2))
FROM gap AS g JOIN missed AS x USING (listing_id)
WHERE x.missed >= CAST(:runs AS integer)"""

# State rules: `hist` gives the condition at every snapshot of the run's listings; the
# crossing of a true snapshot is the first one after the last false one before it.
_STATE = """
WITH {cur}, {ctes}, marked AS (
    SELECT h.*, max(CASE WHEN NOT h.cond THEN h.captured_at END) OVER (
               PARTITION BY h.rule_key, h.listing_id ORDER BY h.captured_at, h.run_id
               ROWS UNBOUNDED PRECEDING) AS last_false
    FROM hist AS h
), crossing AS (
    SELECT m.*, first_value(m.captured_at) OVER g AS x_at, first_value(m.run_id) OVER g AS x_run,
           first_value(m.price) OVER g AS x_price, first_value(m.ref) OVER g AS x_ref
    FROM marked AS m WHERE m.cond
    WINDOW g AS (PARTITION BY m.rule_key, m.listing_id, m.last_false ORDER BY m.captured_at, m.run_id)
)
SELECT CAST(:rule AS text), x.rule_key, x.listing_id, x.x_at, x.x_run, :run, x.sku, c.platform,
       x.x_price, x.x_ref, round(100 * (x.x_price - x.x_ref) / nullif(x.x_ref, 0), 2), c.currency,
       {message}
FROM crossing AS x JOIN cur AS c ON c.listing_id = x.listing_id AND c.run_id = x.run_id"""

_TARGET_HIST = """
hist AS (
    SELECT t.key AS rule_key, t.sku, s.listing_id, s.run_id, s.captured_at,
           coalesce(s.promo_price, s.price_low) AS price, t.target AS ref,
           coalesce(s.promo_price, s.price_low) <= t.target AS cond
    FROM unnest(CAST(:skus AS text[]), CAST(:targets AS numeric[]), CAST(:keys AS text[])) AS t(sku, target, key)
    JOIN match AS m ON m.sku = t.sku AND (CAST(:min_score AS real) = 0 OR m.best_score >= :min_score)
    JOIN price_snapshot AS s ON s.listing_id = m.listing_id
    WHERE m.listing_id IN (SELECT listing_id FROM cur))"""

_TARGET_MESSAGE = ("format('%s %s: %s %s, at or below the target %s for %s', c.platform, c.item_id, "
                   "round(x.x_price, 2), c.currency, round(x.x_ref, 2), x.sku)")

# Reference: the day-weighted average of the N UTC days before the snapshot's day.
_AVERAGE_HIST = """
daily AS (
    SELECT s.listing_id, (s.captured_at AT TIME ZONE 'UTC')::date - DATE '2000-01-01' AS dayn,
           avg(coalesce(s.promo_price, s.price_low)) AS davg
    FROM price_snapshot AS s WHERE s.listing_id IN (SELECT listing_id FROM cur)
    GROUP BY 1, 2
), ref AS (
    SELECT listing_id, dayn, avg(davg) OVER w AS ref_avg, count(*) OVER w AS ref_days
    FROM daily
    WINDOW w AS (PARTITION BY listing_id ORDER BY dayn
                 RANGE BETWEEN CAST(:days AS integer) PRECEDING AND 1 PRECEDING)
), hist AS (
    SELECT CAST(:key AS text) AS rule_key, c2.sku, s.listing_id, s.run_id, s.captured_at,
           coalesce(s.promo_price, s.price_low) AS price, round(r.ref_avg, 2) AS ref,
           coalesce(r.ref_days >= CAST(:min_days AS integer)
                    AND coalesce(s.promo_price, s.price_low)
                        <= r.ref_avg * (1 - CAST(:pct AS numeric) / 100), false) AS cond
    FROM price_snapshot AS s
    JOIN cur AS c2 ON c2.listing_id = s.listing_id
    JOIN ref AS r ON r.listing_id = s.listing_id
                 AND r.dayn = (s.captured_at AT TIME ZONE 'UTC')::date - DATE '2000-01-01')"""

_AVERAGE_MESSAGE = ("format('%s %s: %s %s, %s%% vs its %s-day average %s', c.platform, c.item_id, "
                    "round(x.x_price, 2), c.currency, round(100 * (x.x_price - x.x_ref) / x.x_ref, 2), "
                    "CAST(:days AS integer), round(x.x_ref, 2))")


def _pct(value: float) -> str:
    return f"{value:g}%"


def _statements(cfg: AlertSettings) -> list[tuple[str, dict[str, Any]]]:
    """(SQL, parameters) of every enabled rule."""
    out: list[tuple[str, dict[str, Any]]] = []
    if cfg.target_prices:
        skus = sorted(cfg.target_prices)
        targets = [cfg.target_prices[s] for s in skus]
        keys = [f"target_price:{s}:{format(t.normalize(), 'f')}" for s, t in zip(skus, targets, strict=True)]
        body = _STATE.format(cur=_CUR, ctes=_TARGET_HIST, message=_TARGET_MESSAGE)
        out.append((body, {"rule": "target_price", "skus": skus, "targets": targets, "keys": keys}))
    if cfg.drop_vs_previous_pct > 0:
        out.append((_DROP_VS_PREVIOUS, {"key": f"drop_vs_previous:{_pct(cfg.drop_vs_previous_pct)}",
                                        "pct": cfg.drop_vs_previous_pct}))
    if cfg.drop_vs_average_pct > 0:
        body = _STATE.format(cur=_CUR, ctes=_AVERAGE_HIST, message=_AVERAGE_MESSAGE)
        out.append((body, {
            "rule": "drop_vs_average", "pct": cfg.drop_vs_average_pct, "days": cfg.average_days,
            "min_days": cfg.min_average_days,
            "key": f"drop_vs_average:{cfg.average_days}d:{_pct(cfg.drop_vs_average_pct)}",
        }))
    if cfg.new_low_days > 0:
        out.append((_NEW_LOW, {"key": f"new_low:{cfg.new_low_days}d", "days": cfg.new_low_days}))
    if cfg.reappeared_after_runs > 0:
        out.append((_REAPPEARED, {"key": f"reappeared:{cfg.reappeared_after_runs}runs",
                                  "runs": cfg.reappeared_after_runs}))
    return out


def evaluate_in(conn: Connection, cfg: AlertSettings, run_id: int) -> list[dict[str, Any]]:
    """Evaluate every enabled rule on the snapshots of ``run_id`` in the caller's transaction."""
    if not cfg.enabled:
        return []
    ids: list[int] = []
    for body, params in _statements(cfg):
        result = conn.execute(text(_INSERT.format(body=body)),
                              {**params, "run": run_id, "min_score": cfg.min_score})
        ids.extend(int(r[0]) for r in result)
    return fetch_alerts(conn, ids=ids)


def evaluate(engine: Engine, settings: Settings, run_id: int) -> list[dict[str, Any]]:
    """Evaluate the alert rules at the end of run ``run_id``; returns the alerts it added."""
    with engine.begin() as conn:
        new = evaluate_in(conn, settings.alerts, run_id)
    if new:
        log.info("run %s: %d new alert(s)", run_id, len(new))
    return new


def fetch_alerts(
    conn: Connection, *, ids: Sequence[int] | None = None, since: datetime | None = None,
    sku: str | None = None, limit: int = 1000,
) -> list[dict[str, Any]]:
    """Alerts with their listing's item id, title and URL, newest first."""
    rows = conn.execute(
        text(
            "SELECT a.*, l.item_id, l.title, l.url FROM alert AS a JOIN listing AS l USING (listing_id) "
            "WHERE (CAST(:ids AS bigint[]) IS NULL OR a.alert_id = ANY(CAST(:ids AS bigint[]))) "
            "AND (CAST(:since AS timestamptz) IS NULL OR a.crossing_at >= :since) "
            "AND (CAST(:sku AS text) IS NULL OR a.sku = :sku "
            "     OR a.listing_id IN (SELECT listing_id FROM match WHERE match.sku = :sku)) "
            "ORDER BY a.crossing_at DESC, a.alert_id DESC LIMIT :limit"
        ),
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
