"""Synthetic product pictures and the near-duplicate transformations applied to them."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageEnhance, ImageFont

SIZE = 320  # side of a rendered product picture, pixels
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_WATERMARKS = ("HOT SALE", "NEW 2026", "SHOP", "BEST", "TOP", "SALE", "VIP", "HOT")


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _far(c: tuple[int, int, int], other: tuple[int, int, int], gap: int) -> bool:
    return max(abs(a - b) for a, b in zip(c, other, strict=True)) > gap


def _colour(rng: random.Random, *away_from: tuple[int, int, int]) -> tuple[int, int, int]:
    while True:
        c = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        # Keep the product visibly apart from its backdrop and from white padding, as in a
        # real product shot; the feature extractor relies on that to find the product.
        if all(_far(c, o, 90) for o in away_from):
            return c


_WHITE = (255, 255, 255)


def _background(rng: random.Random) -> tuple[int, int, int]:
    """A light, low-saturation backdrop: what marketplace product photos mostly have."""
    base = rng.randint(222, 248)
    return tuple(max(0, min(255, base + rng.randint(-7, 7))) for _ in range(3))  # type: ignore[return-value]


def render_product(seed: int, background: tuple[int, int, int] | None = None) -> Image.Image:
    """The canonical picture of one product: a textured body, parts and a text label.

    The same seed always draws the same picture; ``background`` swaps only the backdrop
    (a "background change" re-shoot).
    """
    rng = random.Random(seed)
    bg = _background(rng)
    img = Image.new("RGB", (SIZE, SIZE), background or bg)
    draw = ImageDraw.Draw(img)
    # The body: one large centred shape, as a product fills most of its photo.
    half = rng.randint(int(SIZE * 0.28), int(SIZE * 0.38))
    halfy = rng.randint(int(SIZE * 0.28), int(SIZE * 0.38))
    c = SIZE // 2 + rng.randint(-15, 15), SIZE // 2 + rng.randint(-15, 15)
    body = (c[0] - half, c[1] - halfy, c[0] + half, c[1] + halfy)
    shape = rng.choice(("ellipse", "rect", "round"))
    body_colour = _colour(rng, bg, _WHITE)
    if shape == "ellipse":
        draw.ellipse(body, fill=body_colour)
    elif shape == "rect":
        draw.rectangle(body, fill=body_colour)
    else:
        draw.rounded_rectangle(body, radius=rng.randint(20, 60), fill=body_colour)
    # Texture over the body: stripes or a grid of dots.
    stripe = _colour(rng, body_colour)
    step = rng.randint(8, 18)
    x0, y0, x1, y1 = body[0] + half // 3, body[1] + halfy // 3, body[2] - half // 3, body[3] - halfy // 3
    pattern = rng.choice(("v", "h", "dots"))
    if pattern == "v":
        for x in range(x0, x1, step):
            draw.line((x, y0, x, y1), fill=stripe, width=max(2, step // 3))
    elif pattern == "h":
        for y in range(y0, y1, step):
            draw.line((x0, y, x1, y), fill=stripe, width=max(2, step // 3))
    else:
        for x in range(x0, x1, step):
            for y in range(y0, y1, step):
                draw.ellipse((x, y, x + step // 2, y + step // 2), fill=stripe)
    # Parts: smaller shapes overlapping the body's edge.
    for _ in range(rng.randint(2, 4)):
        # Parts stay inside the body's box: nothing touches the frame, so crops of up
        # to 10 % never cut the product.
        px = rng.randint(body[0] + 40, body[2] - 40)
        py = rng.randint(body[1] + 40, body[3] - 40)
        r = rng.randint(18, 40)
        part = (px - r, py - rng.randint(18, 40), px + r, py + rng.randint(18, 40))
        colour = _colour(rng, bg, _WHITE)
        if rng.random() < 0.5:
            draw.ellipse(part, fill=colour)
        else:
            draw.polygon([(part[0], part[3]), ((part[0] + part[2]) // 2, part[1]), (part[2], part[3])],
                         fill=colour)
    label = "".join(rng.choice(_LETTERS) for _ in range(3)) + str(rng.randint(10, 99))
    lx, ly = c[0] - 60 + rng.randint(-30, 30), c[1] + rng.randint(-40, 30)
    draw.rectangle((lx - 4, ly - 4, lx + 126, ly + 44), fill=_colour(rng))
    draw.text((lx, ly), label, fill=_colour(rng), font=_font(36))
    return img


@dataclass(frozen=True, slots=True)
class Variant:
    """One re-shoot of a product picture: the transformations, applied in this order."""

    background: tuple[int, int, int] | None = None
    crop: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # left, top, right, bottom
    scale: float = 1.0
    border: float = 0.0  # letterbox width as a fraction of the side
    border_colour: tuple[int, int, int] = (255, 255, 255)
    brightness: float = 1.0
    watermark: str = ""
    quality: int = 90


IDENTITY = Variant()


def random_variant(rng: random.Random, *, strength: float = 1.0) -> Variant:
    """A random mix of the near-duplicate transformations (crop at most 10 % in all)."""

    def maybe(p: float) -> bool:
        return rng.random() < p * strength

    crop = tuple(rng.uniform(0, 0.05) for _ in range(4)) if maybe(0.5) else (0.0,) * 4
    return Variant(
        background=_background(rng) if maybe(0.2) else None,
        crop=crop,  # type: ignore[arg-type]
        scale=rng.uniform(0.8, 1.4) if maybe(0.7) else 1.0,
        border=rng.uniform(0.03, 0.10) if maybe(0.3) else 0.0,
        border_colour=rng.choice(((255, 255, 255), (245, 245, 245), (236, 236, 236))),
        brightness=rng.uniform(0.92, 1.08) if maybe(0.4) else 1.0,
        watermark=rng.choice(_WATERMARKS) if maybe(0.4) else "",
        quality=rng.randint(55, 92),
    )


def apply_variant(img: Image.Image, v: Variant) -> Image.Image:
    """Apply everything in ``v`` except the background (rendered) and JPEG quality (encoded)."""
    w, h = img.size
    left, top, right, bottom = v.crop
    if any(v.crop):
        img = img.crop((round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom))))
    if v.scale != 1.0:
        img = img.resize((max(16, round(img.width * v.scale)), max(16, round(img.height * v.scale))),
                         Image.Resampling.BILINEAR)
    if v.brightness != 1.0:
        img = ImageEnhance.Brightness(img).enhance(v.brightness)
    if v.border:
        pad = max(1, round(max(img.size) * v.border))
        framed = Image.new("RGB", (img.width + 2 * pad, img.height + 2 * pad), v.border_colour)
        framed.paste(img, (pad, pad))
        img = framed
    if v.watermark:
        # Semi-transparent, like a shop's stamp over a re-used photo.
        layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
        size = max(10, img.width // 16)
        ImageDraw.Draw(layer).text((img.width // 20, img.height - 2 * size), v.watermark,
                                   fill=(235, 235, 235, 110), font=_font(size))
        img = Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
    return img


def render_variant(seed: int, v: Variant) -> Image.Image:
    """The picture of product ``seed`` re-shot as ``v`` (not yet JPEG-encoded)."""
    return apply_variant(render_product(seed, v.background), v)


def to_jpeg(img: Image.Image, quality: int = 90) -> bytes:
    """JPEG bytes of ``img`` (the format every marketplace serves)."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()
