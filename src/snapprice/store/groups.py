"""Catalog items, the perceptual-hash cache and near-duplicate groups in PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection


def upsert_catalog_items(
    conn: Connection, run_id: int, rows: Sequence[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """Insert or refresh catalog rows (sku, image_ref, title, cat, content_digest, extra).

    Returns catalog_item_id by (sku, image_ref).
    """
    if not rows:
        return {}
    params = [
        {
            "sku": r["sku"], "ref": r["image_ref"], "title": r.get("title"), "cat": r.get("cat"),
            "digest": r.get("content_digest"),
            "extra": json.dumps(r["extra"]) if isinstance(r.get("extra"), dict) else r.get("extra"),
            "run": run_id,
        }
        for r in rows
    ]
    conn.execute(
        text(
            "INSERT INTO catalog_item AS c (sku, image_ref, title, cat, content_digest, extra,"
            " last_run_id) VALUES (:sku, :ref, :title, :cat, :digest, CAST(:extra AS jsonb), :run) "
            "ON CONFLICT (sku, image_ref) DO UPDATE SET title = excluded.title, cat = excluded.cat,"
            " content_digest = coalesce(excluded.content_digest, c.content_digest),"
            " extra = excluded.extra, last_seen = now(), last_run_id = excluded.last_run_id"
        ),
        params,
    )
    found = conn.execute(
        text(
            "SELECT sku, image_ref, catalog_item_id FROM catalog_item "
            "WHERE (sku, image_ref) IN (SELECT * FROM unnest(CAST(:skus AS text[]), CAST(:refs AS text[])))"
        ),
        {"skus": [p["sku"] for p in params], "refs": [p["ref"] for p in params]},
    ).all()
    return {(s, ref): int(i) for s, ref, i in found}


@dataclass(frozen=True)
class GroupRow:
    group_id: int
    representative_id: int
    representative_digest: str
    members: Sequence[tuple[int, int]]  # (catalog_item_id, distance)


def store_groups(conn: Connection, run_id: int, groups: Iterable[GroupRow]) -> int:
    """Store a run's near-duplicate groups and their members (idempotent)."""
    groups = list(groups)
    if not groups:
        return 0
    conn.execute(
        text(
            "INSERT INTO image_group (run_id, group_id, representative_id, representative_digest,"
            " n_members) VALUES (:r, :g, :rep, :dig, :n) ON CONFLICT DO NOTHING"
        ),
        [{"r": run_id, "g": g.group_id, "rep": g.representative_id,
          "dig": g.representative_digest, "n": len(g.members)} for g in groups],
    )
    conn.execute(
        text(
            "INSERT INTO image_group_member (run_id, group_id, catalog_item_id, distance) "
            "VALUES (:r, :g, :i, :d) ON CONFLICT DO NOTHING"
        ),
        [{"r": run_id, "g": g.group_id, "i": item, "d": dist}
         for g in groups for item, dist in g.members],
    )
    return len(groups)


@dataclass(frozen=True)
class GroupInfo:
    group_id: int
    image_ref: str
    digest: str
    skus: list[str]


def load_groups(conn: Connection, run_id: int) -> dict[int, GroupInfo]:
    """A stored run's groups: representative image and the SKUs each group stands for."""
    rows = conn.execute(
        text(
            "SELECT g.group_id, rc.image_ref, g.representative_digest,"
            " array_agg(DISTINCT c.sku ORDER BY c.sku) "
            "FROM image_group AS g "
            "JOIN catalog_item AS rc ON rc.catalog_item_id = g.representative_id "
            "JOIN image_group_member AS m ON m.run_id = g.run_id AND m.group_id = g.group_id "
            "JOIN catalog_item AS c ON c.catalog_item_id = m.catalog_item_id "
            "WHERE g.run_id = :r GROUP BY g.group_id, rc.image_ref, g.representative_digest"
        ),
        {"r": run_id},
    ).all()
    return {g: GroupInfo(g, ref, dig, list(skus)) for g, ref, dig, skus in rows}
