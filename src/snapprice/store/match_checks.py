"""Per-SKU match checks in PostgreSQL: verdicts, and the picture cache (URL → digest → features)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.engine import Connection

from snapprice.models import CheckedResults, MatchCheck
from snapprice.store.sql import statement


def cached_urls(conn: Connection, urls: Iterable[str], max_age_days: float) -> dict[str, str]:
    """URL → content digest of the pictures fetched within ``max_age_days``."""
    urls = list(dict.fromkeys(urls))
    if not urls or max_age_days <= 0:
        return {}
    rows = conn.execute(statement("store/picture_urls"),
                        {"urls": urls, "max_age": max_age_days * 86400.0}).all()
    return {u: d for u, d in rows}


def cached_features(conn: Connection, digests: Iterable[str], version: int) -> dict[str, bytes]:
    """Content digest → encoded features of ``version``, for the digests that have them."""
    digests = list(dict.fromkeys(digests))
    if not digests:
        return {}
    rows = conn.execute(statement("store/picture_features"), {"digests": digests, "version": version}).all()
    return {d: bytes(f) for d, f in rows}


def save_pictures(conn: Connection, checked: CheckedResults, at: datetime) -> None:
    """Remember the URLs and features ``checked`` learnt (idempotent)."""
    if checked.urls:
        conn.execute(statement("store/put_picture_urls"),
                     {"urls": list(checked.urls), "digests": list(checked.urls.values()), "at": at})
    if checked.features:
        conn.execute(statement("store/put_picture_features"),
                     {"digests": list(checked.features), "features": list(checked.features.values()),
                      "version": checked.feature_version})


def check_scores(conn: Connection, skus: Sequence[str],
                 keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """(platform, item_id) → the best stored check score over ``skus``, where there is one."""
    keys = list(dict.fromkeys(keys))
    if not keys or not skus:
        return {}
    rows = conn.execute(statement("store/check_scores"), {
        "platforms": [k[0] for k in keys], "items": [k[1] for k in keys], "skus": list(skus)}).all()
    return {(p, i): float(s) for p, i, s in rows if s is not None}


def record_checks(conn: Connection, run_id: int, at: datetime, checks: Sequence[MatchCheck],
                  version: int) -> tuple[int, int]:
    """Store verdicts of listings already loaded; (verdicts written, `match` rows removed
    because their pair is now rejected). One verdict per (sku, listing): the first given."""
    unique = list({(c.sku, c.platform, c.item_id): c for c in reversed(checks)}.values())
    if not unique:
        return 0, 0
    saved, dropped = conn.execute(statement("store/record_checks"), {
        "skus": [c.sku for c in unique], "platforms": [c.platform for c in unique],
        "items": [c.item_id for c in unique], "statuses": [c.status for c in unique],
        "scores": [c.score for c in unique], "reasons": [c.reason for c in unique],
        "digests": [c.picture_digest for c in unique], "version": version, "run": run_id, "at": at,
    }).one()
    return int(saved), int(dropped)
