"""Idempotent bulk loads: COPY into a staging table, then INSERT … ON CONFLICT.

A load holds one or more sightings (search responses: a backfill's one, a batch of a run's
searches) and writes them with one statement per table, so the read path's statement
triggers run once per load. Loading the same sightings twice changes nothing; a bad row is
recorded in `reject` and the good rows still load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from operator import attrgetter

from psycopg import sql
from psycopg.errors import UniqueViolation
from sqlalchemy import TextClause, text
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from snapprice.models import ListingSnapshot, MatchCheck, Reject
from snapprice.store.match_checks import record_checks_many
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
    sql.SQL(", ").join(map(sql.Identifier, (*_STAGE_COLUMNS, "seq", "snap", "newest", "first_seen")))).as_string()
_COPY_TASKS = "COPY snapprice_stage_task (seq, captured_at, group_id, raw_id, cached, checked, skus) FROM STDIN"


@dataclass(frozen=True)
class Sighting:
    """One response's normalized results, as a load stores them.

    ``skus`` are matched to every listing of it — unless ``checks`` are given (the per-SKU
    verdicts of these results, stored in ``match_check`` first) or ``checked`` is set: then
    a pair is matched only where its newest stored check passed, with that check's score.
    """

    captured_at: datetime
    snapshots: Sequence[ListingSnapshot]
    skus: Sequence[str] = ()
    group_id: int | None = None
    raw_id: int | None = None
    cached: bool = False
    checks: Sequence[MatchCheck] | None = None
    check_version: int = 0
    checked: bool = False


@dataclass(frozen=True)
class Loaded:
    """What a load of several sightings wrote: listings and matches in all, snapshots and
    rejected rows per sighting (in their order)."""

    listings: int
    matches: int
    snapshots: list[int]
    rejects: list[list[Reject]] = field(default_factory=list)


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
    conn.execute(statement("store/create_stage_task"))
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


def _stage_rows(per: Sequence[list[ListingSnapshot]], sightings: Sequence[Sighting]) -> list[tuple[object, ...]]:
    """The stage rows of every sighting (each already one row per listing), with the flags
    of create_stage.sql: the first sighting of a listing gives its snapshot, the newest its
    listing values (the later of equal times), and the earliest its first_seen."""
    if len(per) == 1:
        return [(*_stage_row(s), 0, True, True, None) for s in per[0]]
    first: dict[tuple[str, str], int] = {}
    newest: dict[tuple[str, str], int] = {}
    earliest: dict[tuple[str, str], datetime] = {}
    for seq, rows in enumerate(per):
        at = sightings[seq].captured_at
        for s in rows:
            key = (s.platform, s.item_id)
            if key not in first:
                first[key], newest[key], earliest[key] = seq, seq, at
                continue
            if at >= sightings[newest[key]].captured_at:
                newest[key] = seq
            if at < earliest[key]:
                earliest[key] = at
    out: list[tuple[object, ...]] = []
    for seq, rows in enumerate(per):
        at = sightings[seq].captured_at
        for s in rows:
            key = (s.platform, s.item_id)
            is_newest = newest[key] == seq
            early = earliest[key] if is_newest and earliest[key] != at else None
            out.append((*_stage_row(s), seq, first[key] == seq, is_newest, early))
    return out


def _copy_stage(conn: Connection, rows: Sequence[tuple[object, ...]], sightings: Sequence[Sighting]) -> None:
    # Both tables may hold an earlier load of this transaction; DELETE is cheaper than
    # TRUNCATE on small ones.
    conn.execute(text("DELETE FROM snapprice_stage"))
    conn.execute(text("DELETE FROM snapprice_stage_task"))
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        with cur.copy(_COPY_STAGE) as copy:
            for row in rows:
                copy.write_row(row)
        with cur.copy(_COPY_TASKS) as copy:
            for seq, g in enumerate(sightings):
                copy.write_row((seq, g.captured_at, g.group_id, g.raw_id, g.cached,
                                g.checked or g.checks is not None, list(dict.fromkeys(g.skus))))
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
    """Load one batch of normalized results of ``run_id`` captured at ``captured_at``: a
    load of one sighting (see ``load_sightings`` and ``Sighting``)."""
    got = load_sightings(conn, run_id, [Sighting(
        captured_at, snapshots, skus=skus, group_id=group_id, raw_id=raw_id, cached=cached,
        checks=checks, check_version=check_version, checked=checked)],
        update_existing=update_existing, prepared=prepared)
    return LoadResult(got.listings, got.snapshots[0], got.matches, got.rejects[0])


def _per_seq(rows: Sequence[Row], n: int) -> list[int]:
    out = [0] * n
    for seq, count in rows:
        out[seq] = int(count)
    return out


def load_sightings(
    conn: Connection,
    run_id: int,
    sightings: Sequence[Sighting],
    *,
    update_existing: bool = False,
    prepared: bool = False,
) -> Loaded:
    """Load the normalized results of several responses of ``run_id`` with one COPY and
    one statement per table.

    Listings are upserted (first_seen kept, last_seen moved forward; a listing seen twice
    in the load takes the values of its newest sighting); one snapshot per (listing, run)
    — a listing already captured in this run, or earlier in the load, keeps its first
    snapshot, unless ``update_existing`` (backfill replay after a parser fix) rewrites the
    values of the snapshots that came from the same response (``raw_id``); matches as
    ``Sighting`` says, one row per (SKU, listing) with the best score and rank of the load.
    Runs inside the caller's transaction, so the caller can commit it together with the
    tasks that produced it. ``prepared``: that transaction already ran ``prepare_loads``
    for these capture times (a transaction of many loads pays for it once).
    """
    per: list[list[ListingSnapshot]] = []
    rejects: list[list[Reject]] = []
    for g in sightings:
        good: list[ListingSnapshot] = []
        bad: list[Reject] = []
        for s in g.snapshots:
            problem = validate_snapshot(s)
            if problem:
                bad.append(Reject("load", f"{s.platform}:{s.item_id}", "invalid_row", problem))
            else:
                good.append(s)
        per.append(_best_per_listing(good))
        rejects.append(bad)
    record_rejects(conn, run_id, [r for bad in rejects for r in bad])
    n = len(sightings)
    if not any(per):
        return Loaded(0, 0, [0] * n, rejects)

    if not prepared:
        prepare_loads(conn, run_id, [g.captured_at for g in sightings])
    _copy_stage(conn, _stage_rows(per, sightings), sightings)
    params = {"run": run_id}
    (listings,) = _fast_or_upsert(conn, statement("store/listings_fast", **_LISTINGS),
                                  statement("store/listings_upsert", **_LISTINGS), params)
    verdicts: dict[int, list[tuple[datetime, Sequence[MatchCheck]]]] = {}
    for g in sightings:
        if g.checks:
            verdicts.setdefault(g.check_version, []).append((g.captured_at, g.checks))
    for version, pages in verdicts.items():
        record_checks_many(conn, run_id, pages, version)
    changed = [0] * n
    if update_existing:
        changed = _per_seq(conn.execute(statement("store/update_snapshots"), params).all(), n)
    inserted = _per_seq(conn.execute(statement("store/insert_snapshots"), params).all(), n)
    matches = 0
    if any(g.skus for g in sightings):
        (matches,) = _fast_or_upsert(conn, statement("store/matches_fast", **_MATCHES),
                                     statement("store/matches_upsert", **_MATCHES), params)
    return Loaded(listings, matches, [a + b for a, b in zip(inserted, changed, strict=True)], rejects)
