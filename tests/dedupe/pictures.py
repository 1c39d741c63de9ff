"""Pictures the dedupe tests draw (a labelled bottle on a light backdrop, its JPEG bytes) and a
catalog of them."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw


def bottle(colour: tuple[int, int, int], label: str = "SNAP 42 ml", side: int = 240) -> Image.Image:
    """One product: a rounded bottle of ``colour`` with ``label`` printed on a white panel."""
    im = Image.new("RGB", (side, side), (246, 246, 246))
    draw = ImageDraw.Draw(im)
    s = side / 300
    draw.rounded_rectangle((90 * s, 40 * s, 210 * s, 285 * s), round(20 * s), fill=colour)
    draw.rectangle((100 * s, 110 * s, 200 * s, 215 * s), fill="white")
    for k in range(7):
        draw.text((104 * s, 114 * s + 14 * k * s), (label * 2)[k:k + 12], fill="black")
    return im


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def catalog(folder: Path, images: dict[str, bytes]) -> Path:
    """A catalog CSV in ``folder``: one row per SKU, its picture written beside it."""
    folder.mkdir(exist_ok=True)
    lines = ["sku,image"]
    for sku, data in images.items():
        (folder / f"{sku}.jpg").write_bytes(data)
        lines.append(f"{sku},{sku}.jpg")
    (folder / "cat.csv").write_text("\n".join(lines) + "\n")
    return folder / "cat.csv"
