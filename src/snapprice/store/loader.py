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
from operator import attrgetter

from psycopg.errors import UniqueViolation
from sqlalchemy import text
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from snapprice.models import ListingSnapshot, Reject

_ZERO = Decimal(0)
MAX_PRICE = Decimal("100000000")  # 1e8 in major units: anything above is a parsing accident
MAX_SALES = 10**12

_STAGE_COLUMNS = (
    "platform", "item_id", "title", "shop", "url", "pic_url", "price_low", "price_high",
    "promo_price", "original_price", "currency", "sales_lower_bound", "sales_text", "rank",
    "score",
)
_PRICE_COLUMNS = ("price_low", "price_high", "promo_price", "original_price")
_stage_row = attrgetter(*_STAGE_COLUMNS)


@dataclass(frozen=True)
class LoadResult:
    listings: int  # listing rows inserted or updated
    snapshots: int  # snapshot rows inserted (or changed, in update mode)
    matches: int
    rejects: list[Reject]


def _as_decimal(value: object) -> Decimal:
    # Decimals (what normalize produces) are used as they are; str() would cost a copy each.
    return value if type(value) is Decimal else Decimal(str(value))


def _check_price(name: str, value: object) -> str | None:
    if value is None:
        return None
    try:
        d = _as_decimal(value)
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
    for name in _PRICE_COLUMNS:
        value = getattr(s, name)
        # The common case inline (decimals from normalize): a call per price costs more.
        if value is None or (type(value) is Decimal and value.is_finite() and _ZERO <= value <= MAX_PRICE):
            continue
        problem = _check_price(name, value)
        if problem:
            return problem
    if s.price_low is None and s.promo_price is None:
        return "no price"
    if s.price_low is not None and s.price_high is not None and _as_decimal(s.price_high) < _as_decimal(s.price_low):
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


def _best_per_listing(rows: Sequence[ListingSnapshot]) -> list[ListingSnapshot]:
    """One row per (platform, item_id): the best-ranked, the first of equals.

    Deduplicating here spares every statement below a DISTINCT ON sort, and an upsert
    may not touch one listing twice.
    """
    best: dict[tuple[str, str], ListingSnapshot] = {}
    for s in rows:
        key = (s.platform, s.item_id)
        seen = best.get(key)
        if seen is None or s.rank < seen.rank:
            best[key] = s
    return list(best.values())


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
            copy.write_row(_stage_row(s))
    if len(rows) >= 1000:
        # Big batches: hash joins in memory. No ANALYZE: the planner's size estimate of the
        # temp table is enough to pick them, and it would cost more than it saves.
        conn.execute(text("SET LOCAL work_mem = '256MB'"))


# Listing merge rules, written once for the two ways of applying them: `n` is the new
# value (the stage row, at :at from run :run), `l` the stored listing.
_LISTING_SET = """
    title = CASE WHEN {at} >= l.last_seen THEN coalesce({n}.title, l.title) ELSE l.title END,
    shop = CASE WHEN {at} >= l.last_seen THEN coalesce({n}.shop, l.shop) ELSE l.shop END,
    url = coalesce(l.url, {n}.url),
    pic_url = CASE WHEN {at} >= l.last_seen THEN coalesce({n}.pic_url, l.pic_url) ELSE l.pic_url END,
    first_seen = least(l.first_seen, {at}),
    last_seen = greatest(l.last_seen, {at}),
    first_run_id = CASE WHEN {at} < l.first_seen THEN {run} ELSE l.first_run_id END,
    last_run_id = CASE WHEN {at} >= l.last_seen THEN {run} ELSE l.last_run_id END
"""
_LISTING_CHANGED = """
    (l.title, l.shop, l.url, l.pic_url, l.first_seen, l.last_seen, l.last_run_id)
    IS DISTINCT FROM
    (coalesce({n}.title, l.title), coalesce({n}.shop, l.shop), coalesce(l.url, {n}.url),
     coalesce({n}.pic_url, l.pic_url), least(l.first_seen, {at}), greatest(l.last_seen, {at}), {run})
"""
_LISTING_INSERT = """
    INSERT INTO listing AS l (platform, item_id, title, shop, url, pic_url,
                              first_seen, last_seen, first_run_id, last_run_id)
    SELECT s.platform, s.item_id, s.title, s.shop, s.url, s.pic_url, :at, :at, :run, :run
    FROM snapprice_stage AS s
"""
# The rules filled in for an upsert (the row proposed for insertion) and for the stage.
_LISTING_SET_EXCLUDED = _LISTING_SET.format(n="excluded", at="excluded.last_seen", run="excluded.last_run_id")
_LISTING_CHANGED_EXCLUDED = _LISTING_CHANGED.format(n="excluded", at="excluded.last_seen",
                                                    run="excluded.last_run_id")
_LISTING_SET_STAGED = _LISTING_SET.format(n="s", at="CAST(:at AS timestamptz)", run="CAST(:run AS bigint)")
_LISTING_CHANGED_STAGED = _LISTING_CHANGED.format(n="s", at="CAST(:at AS timestamptz)", run="CAST(:run AS bigint)")
# Fast path: new listings by plain INSERT (no speculative insertion per row), existing
# ones by UPDATE. Both see the snapshot taken before the statement, so the UPDATE only
# touches rows that were there; a listing another loader adds meanwhile is a unique
# violation, and then the upsert below does the whole batch.
_LISTINGS_FAST = f"""
WITH new AS ({_LISTING_INSERT}
    WHERE NOT EXISTS (SELECT 1 FROM listing AS o WHERE o.platform = s.platform AND o.item_id = s.item_id)
    RETURNING 1),
old AS (UPDATE listing AS l SET {_LISTING_SET_STAGED}
    FROM snapprice_stage AS s
    WHERE l.platform = s.platform AND l.item_id = s.item_id AND {_LISTING_CHANGED_STAGED}
    RETURNING 1)
SELECT (SELECT count(*) FROM new) + (SELECT count(*) FROM old)
"""
_LISTINGS_UPSERT = f"""
WITH up AS ({_LISTING_INSERT}
    ON CONFLICT (platform, item_id) DO UPDATE SET {_LISTING_SET_EXCLUDED}
    WHERE {_LISTING_CHANGED_EXCLUDED}
    RETURNING 1)
SELECT count(*) FROM up
"""

_MATCH_SET = """
    best_score = greatest(m.best_score, {n}.best_score),
    best_rank = least(m.best_rank, {n}.best_rank),
    last_rank = CASE WHEN {n}.last_seen >= m.last_seen THEN {n}.last_rank ELSE m.last_rank END,
    times_seen = m.times_seen + CASE WHEN m.last_run_id IS DISTINCT FROM {n}.last_run_id THEN 1 ELSE 0 END,
    last_run_id = CASE WHEN {n}.last_seen >= m.last_seen THEN {n}.last_run_id ELSE m.last_run_id END,
    first_seen = least(m.first_seen, {n}.first_seen),
    last_seen = greatest(m.last_seen, {n}.last_seen)
"""
_MATCH_CHANGED = """
    (m.best_score, m.best_rank, m.last_rank, m.last_run_id, m.last_seen)
    IS DISTINCT FROM
    (greatest(m.best_score, {n}.best_score), least(m.best_rank, {n}.best_rank), {n}.last_rank,
     {n}.last_run_id, greatest(m.last_seen, {n}.last_seen))
"""
_MATCH_SET_NEW = _MATCH_SET.format(n="x")
_MATCH_CHANGED_NEW = _MATCH_CHANGED.format(n="x")
_MATCH_SET_EXCLUDED = _MATCH_SET.format(n="excluded")
_MATCH_CHANGED_EXCLUDED = _MATCH_CHANGED.format(n="excluded")
_MATCH_COLUMNS = (
    "sku, listing_id, best_score, best_rank, last_rank, times_seen, first_run_id, last_run_id, first_seen, last_seen"
)
_JOINED = """
    SELECT l.listing_id, s.* FROM snapprice_stage AS s
    JOIN listing AS l ON l.platform = s.platform AND l.item_id = s.item_id
"""
_SNAPSHOTS = f"""
INSERT INTO price_snapshot (listing_id, run_id, captured_at, price_low, price_high,
    promo_price, original_price, currency, sales_lower_bound, sales_text, rank,
    score, cached, group_id, raw_id)
SELECT j.listing_id, :run, :at, j.price_low, j.price_high, j.promo_price,
       j.original_price, j.currency, j.sales_lower_bound, j.sales_text, j.rank,
       j.score, :cached, :group, :raw
FROM ({_JOINED}) AS j
WHERE NOT EXISTS (SELECT 1 FROM price_snapshot AS p WHERE p.listing_id = j.listing_id AND p.run_id = :run)
"""
_MATCHES = f"""
WITH x AS (
    SELECT k.sku, j.listing_id, j.score AS best_score, j.rank AS best_rank, j.rank AS last_rank,
           1 AS times_seen, CAST(:run AS bigint) AS first_run_id, CAST(:run AS bigint) AS last_run_id,
           CAST(:at AS timestamptz) AS first_seen, CAST(:at AS timestamptz) AS last_seen
    FROM ({_JOINED}) AS j CROSS JOIN unnest(CAST(:skus AS text[])) AS k(sku)),
{{matches}}
SELECT count(*) FROM matched
"""
# Same idea as for listings: INSERT the new pairs, UPDATE the old; upsert on a race.
_MATCHES_FAST = f"""
new AS (INSERT INTO match ({_MATCH_COLUMNS}) SELECT * FROM x
    WHERE NOT EXISTS (SELECT 1 FROM match AS o WHERE o.sku = x.sku AND o.listing_id = x.listing_id)
    RETURNING 1),
old AS (UPDATE match AS m SET {_MATCH_SET_NEW}
    FROM x WHERE m.sku = x.sku AND m.listing_id = x.listing_id AND {_MATCH_CHANGED_NEW}
    RETURNING 1),
matched AS (SELECT 1 FROM new UNION ALL SELECT 1 FROM old)
"""
_MATCHES_UPSERT = f"""
matched AS (INSERT INTO match AS m ({_MATCH_COLUMNS}) SELECT * FROM x
    ON CONFLICT (sku, listing_id) DO UPDATE SET {_MATCH_SET_EXCLUDED}
    WHERE {_MATCH_CHANGED_EXCLUDED}
    RETURNING 1)
"""
_UPDATE_EXISTING = """
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


def _fast_or_upsert(conn: Connection, fast: str, upsert: str, params: dict[str, object]) -> Row:
    """Run ``fast`` under a savepoint; when a concurrent loader won a key race, ``upsert``."""
    try:
        with conn.begin_nested():
            return conn.execute(text(fast), params).one()
    except IntegrityError as exc:
        if not isinstance(exc.orig, UniqueViolation):
            raise
    return conn.execute(text(upsert), params).one()


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
    _copy_stage(conn, _best_per_listing(good))
    params = {"run": run_id, "at": captured_at, "group": group_id, "raw": raw_id, "cached": cached,
              "skus": list(dict.fromkeys(skus))}
    (listings,) = _fast_or_upsert(conn, _LISTINGS_FAST, _LISTINGS_UPSERT, params)
    # (listing, run) is unique by contract; the partition key keeps PostgreSQL from
    # enforcing it with an index, so loads of one run are serialized here instead.
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('snapprice.snapshot'), CAST(:run % 2147483647 AS int))"),
                 params)
    changed = conn.execute(text(_UPDATE_EXISTING), params).rowcount if update_existing else 0
    inserted = conn.execute(text(_SNAPSHOTS), params).rowcount
    matches = 0
    if params["skus"]:
        (matches,) = _fast_or_upsert(conn, _MATCHES.format(matches=_MATCHES_FAST),
                                     _MATCHES.format(matches=_MATCHES_UPSERT), params)
    return LoadResult(listings, inserted + changed, matches, rejects)
