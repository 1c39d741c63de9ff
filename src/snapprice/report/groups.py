"""The report's dedupe section: the last run's multi-image groups, biggest first, as rows of
small thumbnails with each member's pair scores against the representative.

A wrong group is corrupt data (one product's prices shown for another SKU), so a reader of the
report should see the biggest groups and spot one that mixes products. The thumbnails are the
grey copies the verifier keeps in ``image_feature`` (no catalog file or URL is read), scaled
down to ``THUMB_SIDE``; the scores are the verdicts kept in ``pair_verdict``. The section is
bounded (``MAX_GROUPS`` groups, ``MAX_MEMBERS`` members each) so that a 100 k-image catalog
adds tens of kB, not megabytes; it says how many more there are and which command shows all.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from html import escape
from typing import Any

import polars as pl
from PIL import Image, UnidentifiedImageError
from sqlalchemy.engine import Connection

from snapprice.store.sql import statement

MAX_GROUPS = 25  # groups shown, biggest first
MAX_MEMBERS = 8  # members shown per group, the representative first
THUMB_SIDE = 64
GROUPS = {"run_id": pl.Int64, "group_id": pl.Int64, "n_members": pl.Int64, "n_groups": pl.Int64,
          "sku": pl.String, "image_ref": pl.String, "content_digest": pl.String, "distance": pl.Int64,
          "is_representative": pl.Boolean, "same": pl.Boolean, "inliers": pl.Int64, "colour": pl.Float64,
          "agreement": pl.Float64, "thumb": pl.String}


@dataclass(frozen=True)
class GroupsSection:
    """The shown members (GROUPS schema, ``thumb`` a data: URL or ''), and how many groups of
    two or more pictures the run has in all."""

    members: pl.DataFrame
    n_groups: int = 0

    @property
    def run_id(self) -> int | None:
        return int(self.members["run_id"][0]) if self.members.height else None


def thumbnail(features: bytes | None) -> str:
    """A data: URL of a small JPEG of the grey copy kept in local features ('' without one)."""
    if not features:
        return ""
    from snapprice.dedupe.local import unpack  # OpenCV: imported only when there are groups

    grey = unpack(features).grey
    if not grey:
        return ""
    try:
        im = Image.open(io.BytesIO(grey))
        im.draft("L", (THUMB_SIDE, THUMB_SIDE))
        im = im.convert("L")
    except (UnidentifiedImageError, OSError):
        return ""
    im.thumbnail((THUMB_SIDE, THUMB_SIDE))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=60)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def collect_groups(conn: Connection, sku: str | None = None, *, max_groups: int = MAX_GROUPS,
                   max_members: int = MAX_MEMBERS) -> GroupsSection:
    """The newest run's multi-image groups (with ``sku``: the group holding it)."""
    from snapprice.dedupe.local import LOCAL_VERSION
    from snapprice.dedupe.verdicts import verifier_key

    result = conn.execute(statement("report/groups"), {
        "sku": sku, "groups": max_groups, "members": max_members, "verifier": verifier_key(),
        "feature_version": LOCAL_VERSION})
    rows = [dict(r) for r in result.mappings().all()]
    thumbs: dict[str | None, str] = {}
    for r in rows:
        digest = r["content_digest"]
        if digest not in thumbs:
            thumbs[digest] = thumbnail(bytes(r["features"]) if r["features"] is not None else None)
        r["thumb"] = thumbs[digest]
    frame = pl.DataFrame({k: [r[k] for r in rows] for k in GROUPS}, schema=GROUPS)
    return GroupsSection(frame, int(rows[0]["n_groups"]) if rows else 0)


def _note(r: dict[str, Any], rep_digest: str | None) -> str:
    if r["is_representative"]:
        return "representative"
    if r["content_digest"] is not None and r["content_digest"] == rep_digest:
        return "same file"
    if r["same"] is None:
        return f"hash distance {r['distance']} (no verdict kept)"
    aligned = "" if r["agreement"] is None else f", aligned {r['agreement']:.2f}"
    return f"{r['inliers']} inliers, colour {r['colour']:.2f}{aligned}"


def render_groups(section: GroupsSection | None) -> str:
    """The section's HTML (static: no script needed)."""
    head = "<section id='groups'><h2>Near-duplicate groups</h2>"
    if section is None or not section.members.height:
        return head + "<p class='empty'>No group of two or more pictures in the last run.</p></section>"
    rows = []
    n_shown = 0
    for (gid,), g in section.members.group_by("group_id", maintain_order=True):
        members = g.to_dicts()
        rep = next((r["content_digest"] for r in members if r["is_representative"]), None)
        figures = []
        for r in members:
            img = (f'<img src="{r["thumb"]}" alt="" width="{THUMB_SIDE}">' if r["thumb"]
                   else '<span class="nothumb">no picture kept</span>')
            cls = ' class="rep"' if r["is_representative"] else ""
            figures.append(f"<figure{cls}>{img}<figcaption><b>{escape(r['sku'])}</b><br>"
                           f"{escape(_note(r, rep))}</figcaption></figure>")
        size = members[0]["n_members"]
        more = f" <span class='sub'>(+{size - len(members)} more not shown)</span>" if size > len(members) else ""
        rows.append(f"<div class='grp'><h3>group {gid}: {size} pictures{more}</h3>{''.join(figures)}</div>")
        n_shown += 1
    rest = section.n_groups - n_shown
    more = (f" The {rest:,} smaller group(s) are not shown." if rest > 0 else "")
    return (head + f"<p class='sub'>{section.n_groups:,} group(s) of two or more pictures in run "
            f"#{section.run_id}, biggest first: each is searched once for all its SKUs, so a group that "
            "mixes products gives one SKU another's prices. The representative is outlined; every other "
            "member shows its verdict against it (keypoint inliers, colour distance, aligned agreement). "
            f"Thumbnails are the verifier's grey copies.{more} "
            "<code>snapprice dedupe CATALOG --html groups.html</code> shows every group in colour.</p>"
            + "".join(rows) + "</section>")
