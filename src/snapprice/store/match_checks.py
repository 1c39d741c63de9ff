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
    save_pictures_many(conn, [(at, checked)])


def save_pictures_many(conn: Connection, learnt: Sequence[tuple[datetime, CheckedResults]]) -> None:
    """Remember the URLs and features several pages' checks learnt, each URL as fetched at
    the newest of its times, in one statement each (idempotent)."""
    urls: dict[str, tuple[str, datetime]] = {}
    features: dict[tuple[int, str], bytes] = {}
    for at, checked in learnt:
        for url, digest in checked.urls.items():
            seen = urls.get(url)
            if seen is None or at >= seen[1]:
                urls[url] = (digest, at)
        for digest, encoded in checked.features.items():
            features.setdefault((checked.feature_version, digest), encoded)
    if urls:
        conn.execute(statement("store/put_picture_urls"), {
            "urls": list(urls), "digests": [d for d, _ in urls.values()], "ats": [a for _, a in urls.values()]})
    for version in sorted({v for v, _ in features}):
        mine = [(d, f) for (v, d), f in features.items() if v == version]
        conn.execute(statement("store/put_picture_features"),
                     {"digests": [d for d, _ in mine], "features": [f for _, f in mine], "version": version})


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
    return record_checks_many(conn, run_id, [(at, checks)], version)


def record_checks_many(conn: Connection, run_id: int,
                       pages: Sequence[tuple[datetime, Sequence[MatchCheck]]], version: int) -> tuple[int, int]:
    """``record_checks`` of several pages' verdicts (each checked at its time) in one
    statement. Within a page the first verdict per (sku, listing) counts; across pages a
    later page's verdict replaces an earlier one under the rule the statement applies to
    stored ones (not older, and ``unverified`` never replaces a verdict that saw the pictures)."""
    unique: dict[tuple[str, str, str], tuple[datetime, MatchCheck]] = {}
    for at, checks in pages:
        mine: dict[tuple[str, str, str], MatchCheck] = {}
        for c in checks:
            mine.setdefault((c.sku, c.platform, c.item_id), c)
        for key, c in mine.items():
            seen = unique.get(key)
            if seen is None or (at >= seen[0] and (c.status != "unverified" or seen[1].status == "unverified")):
                unique[key] = (at, c)
    if not unique:
        return 0, 0
    rows = list(unique.values())
    saved, dropped = conn.execute(statement("store/record_checks"), {
        "skus": [c.sku for _, c in rows], "platforms": [c.platform for _, c in rows],
        "items": [c.item_id for _, c in rows], "statuses": [c.status for _, c in rows],
        "scores": [c.score for _, c in rows], "reasons": [c.reason for _, c in rows],
        "digests": [c.picture_digest for _, c in rows], "ats": [a for a, _ in rows],
        "version": version, "run": run_id,
    }).one()
    return int(saved), int(dropped)
