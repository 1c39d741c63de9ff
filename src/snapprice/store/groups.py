"""Catalog items, the perceptual-hash cache and near-duplicate groups in PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from snapprice.dedupe.grouping import DEDUPE_VERSION
from snapprice.store.sql import statement


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
    conn.execute(statement("store/upsert_catalog_items"), params)
    found = conn.execute(
        statement("store/catalog_item_ids"),
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
        statement("store/insert_groups"),
        [{"run": run_id, "group": g.group_id, "representative": g.representative_id,
          "digest": g.representative_digest, "n_members": len(g.members), "version": DEDUPE_VERSION}
         for g in groups],
    )
    conn.execute(
        statement("store/insert_group_members"),
        [{"run": run_id, "group": g.group_id, "item": item, "distance": dist}
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
    rows = conn.execute(statement("store/load_groups"), {"run": run_id}).all()
    return {g: GroupInfo(g, ref, dig, list(skus)) for g, ref, dig, skus in rows}


def load_group_images(conn: Connection, run_id: int) -> dict[int, list[tuple[str, str, str | None]]]:
    """A stored run's groups → (sku, image_ref, content_digest) of every member picture."""
    out: dict[int, list[tuple[str, str, str | None]]] = {}
    for g, sku, ref, digest in conn.execute(statement("store/group_images"), {"run": run_id}).all():
        out.setdefault(g, []).append((sku, ref, digest))
    return out


def forget_matches(conn: Connection, before_version: int) -> tuple[int, int]:
    """Delete the matches that SKUs got through another SKU's picture in groups made by a
    grouping rule older than ``before_version`` (``dedupe.grouping.DEDUPE_VERSION``); (matches,
    SKUs) deleted. The caller's transaction decides whether it sticks (a dry run rolls back)."""
    skus = conn.execute(statement("store/forget_matches"), {"version": before_version}).scalars().all()
    return len(skus), len(set(skus))
