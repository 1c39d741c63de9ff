"""One offline HTML page of a dedupe's groups: each multi-image group as a row of thumbnails.

A wrong group is corrupt data downstream (one product's prices shown for another), so a
person should be able to spot one in seconds: biggest groups first, the representative
first in its row, every member with its pair score against the representative. Thumbnails
are embedded (JPEG, base64), so the file opens anywhere without the catalog.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping

import polars as pl
from PIL import Image

from snapprice.dedupe.hashing.decode import ImageSource, decode, read_encoded
from snapprice.dedupe.local import PairScore
from snapprice.errors import ImageRejected

THUMB_SIDE = 120

_STYLE = """body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
.g{display:flex;flex-wrap:wrap;gap:8px;padding:10px 0;border-bottom:1px solid #ddd}
.g h2{width:100%;font-size:15px;margin:0 0 4px}
figure{margin:0;width:130px;font-size:12px}figure img{max-width:120px;max-height:120px;display:block}
figure.rep img{outline:3px solid #2a7}figcaption{overflow-wrap:anywhere}"""


def _thumbnail(source: ImageSource) -> str:
    """A data: URL of a small JPEG of the image ('' when it cannot be read any more)."""
    try:
        pixels = decode(read_encoded(source), THUMB_SIDE).pixels
    except (ImageRejected, OSError):
        return ""
    im = Image.fromarray(pixels)
    im.thumbnail((THUMB_SIDE, THUMB_SIDE))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _score(scores: Mapping[tuple[str, str], PairScore], a: str, b: str) -> str:
    s = scores.get((a, b) if a < b else (b, a))
    if a == b:
        return "same file"
    if s is None:
        return "hash only"
    aligned = "" if s.agreement is None else f", aligned {s.agreement:.2f}"
    return f"{s.inliers} inliers, colour {s.colour:.2f}{aligned}"


def groups_html(frame: pl.DataFrame, sources: Mapping[str, ImageSource],
                scores: Mapping[tuple[str, str], PairScore], title: str = "dedupe groups") -> str:
    """The page for a grouped frame (``sku``, ``digest``, ``group_id``, ``is_representative``):
    one row per group of two or more images, biggest first.

    >>> frame = pl.DataFrame({"sku": ["a", "b", "c"], "digest": ["d1", "d2", "d3"],
    ...                       "group_id": [0, 0, 1], "is_representative": [True, False, True]})
    >>> page = groups_html(frame, {}, {("d1", "d2"): PairScore(88, 0.1, True, 0.91)})
    >>> page.count('class="g"'), "88 inliers, colour 0.10, aligned 0.91" in page, ">c<" in page
    (1, True, False)
    """
    sizes = frame.group_by("group_id").len().filter(pl.col("len") > 1).sort(["len", "group_id"],
                                                                          descending=[True, False])
    rows = []
    for gid, size in sizes.iter_rows():
        members = frame.filter(pl.col("group_id") == gid).sort("is_representative", descending=True)
        rep = members["digest"][0]
        figures = []
        for r in members.iter_rows(named=True):
            src = sources.get(r["digest"])
            img = _thumbnail(src) if src is not None else ""
            cls = ' class="rep"' if r["is_representative"] else ""
            note = "representative" if r["is_representative"] else _score(scores, rep, r["digest"])
            figures.append(f'<figure{cls}><img src="{img}" alt=""><figcaption>{html.escape(str(r["sku"]))}'
                           f"<br>{html.escape(note)}</figcaption></figure>")
        rows.append(f'<section class="g"><h2>group {gid}: {size} images</h2>{"".join(figures)}</section>')
    body = "".join(rows) or "<p>No group holds more than one image.</p>"
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{len(rows)} groups of two or more images, biggest first; the representative is outlined, "
            "every other member shows its score against it.</p>" + body + "</body></html>\n")
