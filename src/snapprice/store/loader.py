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

from psycopg import sql
from psycopg.errors import UniqueViolation
from sqlalchemy import TextClause, text
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from snapprice.models import ListingSnapshot, MatchCheck, Reject
from snapprice.store.match_checks import record_checks
from snapprice.store.sql import statement

_ZERO = Decimal(0)
MAX_PRICE = Decimal("100000000")  # 1e8 in major units: anything above is a parsing accident
MAX_SALES = 10**12

_STAGE_COLUMNS = (
    "platform", "item_id", "title", "shop", "url", "pic_url", "price_low", "price_high",
    "promo_price", "original_price", "currency", "sales_lower_bound", "sales_text", "rank",
    "score", "shipping_fee", "coupon_amount", "price_after_coupon", "location", "shop_type",
    "repurchase_rate", "pack_unit", "pack_count",
)
_PRICE_COLUMNS = ("price_low", "price_high", "promo_price", "original_price", "shipping_fee",
                  "coupon_amount", "price_after_coupon")
_stage_row = attrgetter(*_STAGE_COLUMNS)
# The COPY into the stage names its columns from _STAGE_COLUMNS, the order in which
# _stage_row writes them; rendered once, not per batch.
_COPY_STAGE = sql.SQL("COPY snapprice_stage ({}) FROM STDIN").format(
    sql.SQL(", ").join(map(sql.Identifier, _STAGE_COLUMNS))).as_string()


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
        statement("store/record_rejects"),
        [
            {"run_id": run_id, "stage": r.stage, "source": r.source, "reason": r.reason,
             "detail": r.detail or None}
            for r in rejects
        ],
    )
    return result.rowcount or 0


def _lock_run(conn: Connection, run_id: int) -> None:
    # (listing, run) is unique by contract; the partition key keeps PostgreSQL from
    # enforcing it with an index, so loads of one run are serialized here instead.
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('snapprice.snapshot'), CAST(:run % 2147483647 AS int))"),
                 {"run": run_id})


def prepare_loads(conn: Connection, run_id: int, captured: Sequence[datetime]) -> None:
    """What every load of ``run_id`` in this transaction needs, done once: the partitions of
    the ``captured`` times, the stage table, and the run's snapshot lock (taken before any
    snapshot is written, as each load would)."""
    months = {(t.year, t.month): t for t in captured}
    for at in months.values():
        ensure_partitions(conn, at, 0)
    conn.execute(statement("store/create_stage"))
    _lock_run(conn, run_id)


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


def _copy_stage(conn: Connection, rows: Sequence[ListingSnapshot], *, prepared: bool = False) -> None:
    if not prepared:
        conn.execute(statement("store/create_stage"))
    conn.execute(text("DELETE FROM snapprice_stage"))  # cheaper than TRUNCATE on tiny batches
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(_COPY_STAGE) as copy:
        for s in rows:
            copy.write_row(_stage_row(s))
    if len(rows) >= 1000:
        # Big batches: hash joins in memory. No ANALYZE: the planner's size estimate of the
        # temp table is enough to pick them, and it would cost more than it saves.
        conn.execute(text("SET LOCAL work_mem = '256MB'"))


# The merge rules of listings and matches are fragment files shared by each table's two
# statements, the fast path and the upsert after a race (see store/listings_fast.sql): they
# are composed here, so that the two paths cannot come to merge differently.
_LISTINGS = {"merge": "store/listing_merge_set", "changed": "store/listing_merge_changed"}
_MATCHES = {"rows": "store/match_rows", "merge": "store/match_merge_set", "changed": "store/match_merge_changed"}


def _fast_or_upsert(conn: Connection, fast: TextClause, upsert: TextClause, params: dict[str, object]) -> Row:
    """Run ``fast`` under a savepoint; when a concurrent loader won a key race, ``upsert``."""
    try:
        with conn.begin_nested():
            return conn.execute(fast, params).one()
    except IntegrityError as exc:
        if not isinstance(exc.orig, UniqueViolation):
            raise
    return conn.execute(upsert, params).one()


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
    checks: Sequence[MatchCheck] | None = None,
    check_version: int = 0,
    checked: bool = False,
    prepared: bool = False,
) -> LoadResult:
    """Load one batch of normalized results of ``run_id`` captured at ``captured_at``.

    Listings are upserted (first_seen kept, last_seen moved forward); one snapshot per
    (listing, run) — a listing already captured in this run keeps its first snapshot,
    unless ``update_existing`` (backfill replay after a parser fix) rewrites the values of
    the snapshots that came from the same response (``raw_id``);
    ``skus`` are matched to every listing of the batch — unless ``checks`` are given (the
    per-SKU verdicts of this batch, stored in ``match_check`` first) or ``checked`` is set:
    then a pair is matched only where its newest stored check passed, with that check's
    score, and a pair now rejected loses its match row. Runs inside the caller's
    transaction, so the caller can commit it together with the task that produced it.
    ``prepared``: that transaction already ran ``prepare_loads`` for ``captured_at``
    (a batch of loads pays for it once).
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

    if not prepared:
        ensure_partitions(conn, captured_at, 0)
    _copy_stage(conn, _best_per_listing(good), prepared=prepared)
    params = {"run": run_id, "at": captured_at, "group": group_id, "raw": raw_id, "cached": cached,
              "skus": list(dict.fromkeys(skus)), "checked": checked or checks is not None}
    (listings,) = _fast_or_upsert(conn, statement("store/listings_fast", **_LISTINGS),
                                  statement("store/listings_upsert", **_LISTINGS), params)
    if checks:
        record_checks(conn, run_id, captured_at, checks, check_version)
    if not prepared:
        _lock_run(conn, run_id)
    changed = conn.execute(statement("store/update_snapshots"), params).rowcount if update_existing else 0
    inserted = conn.execute(statement("store/insert_snapshots"), params).rowcount
    matches = 0
    if params["skus"]:
        (matches,) = _fast_or_upsert(conn, statement("store/matches_fast", **_MATCHES),
                                     statement("store/matches_upsert", **_MATCHES), params)
    return LoadResult(listings, inserted + changed, matches, rejects)
