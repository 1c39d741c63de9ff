"""Idempotent bulk loads: COPY into a staging table, then INSERT … ON CONFLICT.

Loading the same batch twice changes nothing; a bad row is recorded in `reject` and the
good rows of its batch still load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import text
from sqlalchemy.engine import Connection

from snapprice.models import ListingSnapshot, Reject

MAX_PRICE = Decimal("100000000")  # 1e8 in major units: anything above is a parsing accident
MAX_SALES = 10**12

_STAGE_COLUMNS = (
    "platform", "item_id", "title", "shop", "url", "pic_url", "price_low", "price_high",
    "promo_price", "original_price", "currency", "sales_lower_bound", "sales_text", "rank",
    "score",
)


@dataclass(frozen=True)
class LoadResult:
    listings: int  # listing rows inserted or updated
    snapshots: int  # snapshot rows inserted (or changed, in update mode)
    matches: int
    rejects: list[Reject]


def _check_price(name: str, value: object) -> str | None:
    if value is None:
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return f"{name} is not a number ({value!r})"
    if not d.is_finite():
        return f"{name} is not finite ({value!r})"
    if d < 0:
        return f"{name} is negative ({value})"
    if d > MAX_PRICE:
        return f"{name} is absurd ({value})"
    return None


def validate_snapshot(s: ListingSnapshot) -> str | None:
    """Why this row cannot be stored, or None when it can."""
    if not s.platform or not s.item_id:
        return "missing platform or item id"
    for name in ("price_low", "price_high", "promo_price", "original_price"):
        problem = _check_price(name, getattr(s, name))
        if problem:
            return problem
    if s.price_low is None and s.promo_price is None:
        return "no price"
    if (
        s.price_low is not None
        and s.price_high is not None
        and Decimal(str(s.price_high)) < Decimal(str(s.price_low))
    ):
        return "price_high below price_low"
    if not (isinstance(s.currency, str) and len(s.currency) == 3 and s.currency.isupper()):
        return f"bad currency code {s.currency!r}"
    if s.sales_lower_bound is not None and not 0 <= s.sales_lower_bound <= MAX_SALES:
        return f"sales out of range ({s.sales_lower_bound})"
    if s.score is not None and ((isinstance(s.score, float) and math.isnan(s.score)) or not 0 <= s.score <= 1):
        return f"score out of range ({s.score})"
    if s.rank < 1:
        return f"rank must be >= 1 ({s.rank})"
    return None


def ensure_partitions(conn: Connection, at: datetime, months_ahead: int = 2) -> int:
    """Create the monthly snapshot partitions from ``at``'s month on (no-op when present)."""
    return int(
        conn.execute(
            text("SELECT snapprice_ensure_partitions(:at, :ahead)"), {"at": at, "ahead": months_ahead}
        ).scalar_one()
    )


def record_rejects(conn: Connection, run_id: int | None, rejects: Sequence[Reject]) -> int:
    """Store rejects once each (per run, stage, source and reason); returns rows added."""
    if not rejects:
        return 0
    result = conn.execute(
        text(
            "INSERT INTO reject (run_id, stage, source, reason, detail) "
            "VALUES (:run_id, :stage, :source, :reason, :detail) "
            "ON CONFLICT (coalesce(run_id, 0), stage, source, reason) DO NOTHING"
        ),
        [
            {"run_id": run_id, "stage": r.stage, "source": r.source, "reason": r.reason,
             "detail": r.detail or None}
            for r in rejects
        ],
    )
    return result.rowcount or 0


def _copy_stage(conn: Connection, rows: Sequence[ListingSnapshot]) -> None:
    conn.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS snapprice_stage ("
            " platform text, item_id text, title text, shop text, url text, pic_url text,"
            " price_low numeric, price_high numeric, promo_price numeric, original_price numeric,"
            " currency text, sales_lower_bound bigint, sales_text text, rank integer, score real"
            ") ON COMMIT DELETE ROWS"
        )
    )
    conn.execute(text("DELETE FROM snapprice_stage"))  # cheaper than TRUNCATE on tiny batches
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(
        f"COPY snapprice_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN"
    ) as copy:
        for s in rows:
            copy.write_row(tuple(getattr(s, c) for c in _STAGE_COLUMNS))
    if len(rows) >= 1000:
        # Big batches: sort in memory, and give the planner statistics of the temp table.
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        conn.execute(text("ANALYZE snapprice_stage"))


def load_snapshots(
    conn: Connection,
    run_id: int,
    captured_at: datetime,
    snapshots: Sequence[ListingSnapshot],
    *,
    skus: Sequence[str] = (),
    group_id: int | None = None,
    raw_id: int | None = None,
    cached: bool = False,
    update_existing: bool = False,
) -> LoadResult:
    """Load one batch of normalized results of ``run_id`` captured at ``captured_at``.

    Listings are upserted (first_seen kept, last_seen moved forward); one snapshot per
    (listing, run) — a listing already captured in this run keeps its first snapshot,
    unless ``update_existing`` (backfill replay after a parser fix) rewrites the values of
    the snapshots that came from the same response (``raw_id``);
    ``skus`` are matched to every listing of the batch. Runs inside the caller's
    transaction, so the caller can commit it together with the task that produced it.
    """
    good: list[ListingSnapshot] = []
    rejects: list[Reject] = []
    for s in snapshots:
        problem = validate_snapshot(s)
        if problem:
            rejects.append(Reject("load", f"{s.platform}:{s.item_id}", "invalid_row", problem))
        else:
            good.append(s)
    record_rejects(conn, run_id, rejects)
    if not good:
        return LoadResult(0, 0, 0, rejects)

    ensure_partitions(conn, captured_at, 0)
    _copy_stage(conn, good)
    params = {"run": run_id, "at": captured_at, "group": group_id, "raw": raw_id, "cached": cached}
    listings = conn.execute(
        text(
            """
            INSERT INTO listing AS l (platform, item_id, title, shop, url, pic_url,
                                      first_seen, last_seen, first_run_id, last_run_id)
            SELECT DISTINCT ON (platform, item_id)
                   platform, item_id, title, shop, url, pic_url, :at, :at, :run, :run
            FROM snapprice_stage
            ORDER BY platform, item_id, rank
            ON CONFLICT (platform, item_id) DO UPDATE SET
                title = CASE WHEN excluded.last_seen >= l.last_seen
                             THEN coalesce(excluded.title, l.title) ELSE l.title END,
                shop = CASE WHEN excluded.last_seen >= l.last_seen
                            THEN coalesce(excluded.shop, l.shop) ELSE l.shop END,
                url = coalesce(l.url, excluded.url),
                pic_url = CASE WHEN excluded.last_seen >= l.last_seen
                               THEN coalesce(excluded.pic_url, l.pic_url) ELSE l.pic_url END,
                first_seen = least(l.first_seen, excluded.first_seen),
                last_seen = greatest(l.last_seen, excluded.last_seen),
                first_run_id = CASE WHEN excluded.first_seen < l.first_seen
                                    THEN excluded.first_run_id ELSE l.first_run_id END,
                last_run_id = CASE WHEN excluded.last_seen >= l.last_seen
                                   THEN excluded.last_run_id ELSE l.last_run_id END
            WHERE (l.title, l.shop, l.url, l.pic_url, l.first_seen, l.last_seen, l.last_run_id)
                  IS DISTINCT FROM
                  (coalesce(excluded.title, l.title), coalesce(excluded.shop, l.shop),
                   coalesce(l.url, excluded.url), coalesce(excluded.pic_url, l.pic_url),
                   least(l.first_seen, excluded.first_seen),
                   greatest(l.last_seen, excluded.last_seen), excluded.last_run_id)
            """
        ),
        params,
    ).rowcount
    # (listing, run) is unique by contract; the partition key keeps PostgreSQL from
    # enforcing it with an index, so loads of one run are serialized here instead.
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('snapprice.snapshot'), CAST(:run % 2147483647 AS int))"),
                 params)
    changed = 0
    if update_existing:
        changed = conn.execute(
            text(
                """
                UPDATE price_snapshot AS p SET
                    price_low = s.price_low, price_high = s.price_high,
                    promo_price = s.promo_price, original_price = s.original_price,
                    currency = s.currency, sales_lower_bound = s.sales_lower_bound,
                    sales_text = s.sales_text, rank = s.rank, score = s.score
                FROM snapprice_stage AS s
                JOIN listing AS l ON l.platform = s.platform AND l.item_id = s.item_id
                WHERE p.listing_id = l.listing_id AND p.run_id = :run
                  AND p.raw_id IS NOT DISTINCT FROM :raw  -- only what this response produced
                  AND (p.price_low, p.price_high, p.promo_price, p.original_price, p.currency,
                       p.sales_lower_bound, p.sales_text, p.rank, p.score)
                      IS DISTINCT FROM
                      (s.price_low, s.price_high, s.promo_price, s.original_price, s.currency,
                       s.sales_lower_bound, s.sales_text, s.rank, s.score)
                """
            ),
            params,
        ).rowcount
    inserted = conn.execute(
        text(
            """
            INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low, price_high,
                promo_price, original_price, currency, sales_lower_bound, sales_text, rank,
                score, cached, group_id, raw_id)
            SELECT DISTINCT ON (l.listing_id)
                   l.listing_id, :run, :at, s.price_low, s.price_high, s.promo_price,
                   s.original_price, s.currency, s.sales_lower_bound, s.sales_text, s.rank,
                   s.score, :cached, :group, :raw
            FROM snapprice_stage AS s
            JOIN listing AS l ON l.platform = s.platform AND l.item_id = s.item_id
            WHERE NOT EXISTS (SELECT 1 FROM price_snapshot AS p
                              WHERE p.listing_id = l.listing_id AND p.run_id = :run)
            ORDER BY l.listing_id, s.rank
            """
        ),
        params,
    ).rowcount
    matches = 0
    if skus:
        matches = conn.execute(
            text(
                """
                INSERT INTO match AS m (sku, listing_id, best_score, best_rank, last_rank,
                                        times_seen, first_run_id, last_run_id, first_seen, last_seen)
                SELECT sku, listing_id, score, rank, rank, 1, :run, :run, :at, :at
                FROM (SELECT DISTINCT ON (k.sku, l.listing_id) k.sku, l.listing_id, s.score, s.rank
                      FROM snapprice_stage AS s
                      JOIN listing AS l ON l.platform = s.platform AND l.item_id = s.item_id
                      CROSS JOIN unnest(CAST(:skus AS text[])) AS k(sku)
                      ORDER BY k.sku, l.listing_id, s.rank) AS x
                ON CONFLICT (sku, listing_id) DO UPDATE SET
                    best_score = greatest(m.best_score, excluded.best_score),
                    best_rank = least(m.best_rank, excluded.best_rank),
                    last_rank = CASE WHEN excluded.last_seen >= m.last_seen
                                     THEN excluded.last_rank ELSE m.last_rank END,
                    times_seen = m.times_seen
                                 + CASE WHEN m.last_run_id IS DISTINCT FROM excluded.last_run_id
                                        THEN 1 ELSE 0 END,
                    last_run_id = CASE WHEN excluded.last_seen >= m.last_seen
                                       THEN excluded.last_run_id ELSE m.last_run_id END,
                    first_seen = least(m.first_seen, excluded.first_seen),
                    last_seen = greatest(m.last_seen, excluded.last_seen)
                WHERE (m.best_score, m.best_rank, m.last_rank, m.last_run_id, m.last_seen)
                      IS DISTINCT FROM
                      (greatest(m.best_score, excluded.best_score),
                       least(m.best_rank, excluded.best_rank), excluded.last_rank,
                       excluded.last_run_id, greatest(m.last_seen, excluded.last_seen))
                """
            ),
            {**params, "skus": list(skus)},
        ).rowcount
    return LoadResult(listings, inserted + changed, matches, rejects)
