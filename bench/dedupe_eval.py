"""Dedupe accuracy: a generated near-duplicate set with ground truth, and pairwise scores.

``make_transformed_set`` draws distinct base pictures (procedural product shots, plus real
photos when given), re-encodes each under the transformations catalogs really contain
(rescale, recompress q10–q90, crop ≤ 10 %, border/padding, watermark, brightness, a mix)
and adds distinct-but-similar distractors (a recoloured variant, the same scene with a
different object). ``pairwise_scores`` compares predicted groups with the truth.
"""

from __future__ import annotations

import colorsys
import io
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

TRANSFORMS = ("rescale", "recompress", "crop", "border", "watermark", "brightness", "mix")


@dataclass(frozen=True, slots=True)
class Sample:
    """One generated image: its JPEG bytes, its true cluster and how it was made."""

    name: str
    data: bytes
    cluster: int  # same number = true near-duplicates
    kind: str  # "original", a TRANSFORMS name, or "distractor:<how>"


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _colour(rng: random.Random) -> tuple[int, int, int]:
    h, s, v = rng.random(), rng.uniform(0.4, 1.0), rng.uniform(0.3, 1.0)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def render_scene(seed: int, *, object_seed: int | None = None, size: int = 512) -> Image.Image:
    """A product-like picture: a background (plain or gradient) and a few shapes and text.

    ``object_seed`` changes only the objects, keeping the background: a similar distractor.
    """
    rng = random.Random(seed)
    top, bottom = _colour(rng), _colour(rng)
    plain = rng.random() < 0.4
    grad = np.linspace(0, 1, size)[:, None, None]
    bg = (np.array(top) * (1 - grad) + np.array(bottom) * grad) if not plain else np.array(top)
    arr = np.broadcast_to(bg, (size, size, 3)).astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(arr))
    draw = ImageDraw.Draw(img)
    orng = random.Random(object_seed if object_seed is not None else seed * 7919 + 1)
    for _ in range(orng.randint(2, 5)):
        x0, y0 = orng.randint(0, size * 3 // 4), orng.randint(0, size * 3 // 4)
        x1, y1 = x0 + orng.randint(size // 8, size // 2), y0 + orng.randint(size // 8, size // 2)
        shape = orng.choice(("ellipse", "rectangle", "polygon"))
        if shape == "polygon":
            pts = [(orng.randint(x0, x1), orng.randint(y0, y1)) for _ in range(orng.randint(3, 6))]
            draw.polygon(pts, fill=_colour(orng))
        else:
            getattr(draw, shape)((x0, y0, x1, y1), fill=_colour(orng))
    label = "".join(orng.choice("ABCDEFGHKMNPRSTUVWXYZ") for _ in range(4))
    draw.text((orng.randint(10, size // 2), orng.randint(10, size - 60)), label,
              fill=_colour(orng), font=ImageFont.load_default(size=size // 10))
    return img


def photo_tiles(paths: Iterable[str | Path], size: int = 512) -> list[Image.Image]:
    """Distinct base pictures from real photos: each photo, or its two halves when wide."""
    out = []
    for p in paths:
        im = Image.open(p).convert("RGB")
        w, h = im.size
        if w >= 2 * min(size, h) and h >= size // 2:
            out += [im.crop((0, 0, w // 2, h)), im.crop((w // 2, 0, w, h))]
        else:
            out.append(im)
    return [im.resize((size, round(size * im.height / im.width))) for im in out]


def transform(img: Image.Image, how: str, rng: random.Random) -> tuple[Image.Image, int]:
    """(image, JPEG quality) after one named transformation."""
    w, h = img.size
    quality = rng.randint(75, 92)
    if how == "rescale":
        f = rng.choice((rng.uniform(0.35, 0.8), rng.uniform(1.2, 1.8)))
        img = img.resize((max(16, round(w * f)), max(16, round(h * f))), Image.Resampling.BILINEAR)
    elif how == "recompress":
        quality = rng.randint(10, 90)
    elif how == "crop":
        fx, fy = rng.uniform(0.03, 0.10), rng.uniform(0.03, 0.10)  # ≤ 10 % of each side
        ax, ay = rng.random(), rng.random()
        img = img.crop((round(w * fx * ax), round(h * fy * ay),
                        round(w - w * fx * (1 - ax)), round(h - h * fy * (1 - ay))))
    elif how == "border":
        pad = round(max(w, h) * rng.uniform(0.03, 0.10))
        colour = rng.choice(((255, 255, 255), (0, 0, 0), (240, 240, 240), (128, 128, 128)))
        sides = (pad, pad, pad, pad) if rng.random() < 0.5 else (pad, 0, pad, 0)  # letterbox
        framed = Image.new("RGB", (w + sides[0] + sides[2], h + sides[1] + sides[3]), colour)
        framed.paste(img, (sides[0], sides[1]))
        img = framed
    elif how == "watermark":
        layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
        size = max(10, w // 14)
        text = rng.choice(("SAMPLE", "© shop", "热卖", "HOT SALE", "watermark"))
        ImageDraw.Draw(layer).text((rng.randint(0, w // 3), rng.randint(h // 2, h - 2 * size)),
                                   text, fill=(255, 255, 255, 120),
                                   font=ImageFont.load_default(size=size))
        img = Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
    elif how == "brightness":
        img = ImageEnhance.Brightness(img).enhance(rng.choice((rng.uniform(0.75, 0.9),
                                                               rng.uniform(1.1, 1.25))))
    elif how == "mix":
        img, _ = transform(img, "rescale", rng)
        img, _ = transform(img, "watermark", rng)
        quality = rng.randint(30, 80)
    else:
        raise ValueError(f"unknown transformation {how!r}; use one of {TRANSFORMS}")
    return img, quality


def recolour(img: Image.Image, shift: float) -> Image.Image:
    """The same picture with every hue turned by ``shift`` (0..1): another colour variant."""
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(shift * 255)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def make_transformed_set(n_scenes: int, photos: Sequence[Image.Image] = (), *,
                         seed: int = 0, distractors: bool = True) -> list[Sample]:
    """Originals, one sample per transformation of each, and similar distractors."""
    rng = random.Random(seed)
    bases = [(f"scene{i}", render_scene(seed * 100_003 + i)) for i in range(n_scenes)]
    bases += [(f"photo{i}", im) for i, im in enumerate(photos)]
    out: list[Sample] = []
    cluster = 0
    for name, base in bases:
        out.append(Sample(f"{name}/original", jpeg(base), cluster, "original"))
        for how in TRANSFORMS:
            img, q = transform(base, how, rng)
            out.append(Sample(f"{name}/{how}", jpeg(img, q), cluster, how))
        cluster += 1
        # A recoloured grey picture is the same picture: only colourful bases get one.
        colourful = float(np.asarray(base.convert("HSV"))[..., 1].mean()) > 60
        if distractors and colourful:
            out.append(Sample(f"{name}/recolour", jpeg(recolour(base, rng.uniform(0.25, 0.75))),
                              cluster, "distractor:recolour"))
            cluster += 1
        if distractors and name.startswith("scene"):
            idx = int(name[5:])
            other = render_scene(seed * 100_003 + idx, object_seed=rng.randrange(1 << 30))
            out.append(Sample(f"{name}/other_object", jpeg(other), cluster,
                              "distractor:other_object"))
            cluster += 1
    return out


def pairwise_scores(truth: Sequence[int], predicted: Sequence[int]) -> tuple[float, float]:
    """(precision, recall) over all pairs of items: same predicted group vs same true cluster."""
    def pairs(labels: Iterable[int]) -> int:
        return sum(c * (c - 1) // 2 for c in Counter(labels).values())

    both = pairs(zip(truth, predicted, strict=True))
    pred, true = pairs(predicted), pairs(truth)
    return (both / pred if pred else 1.0), (both / true if true else 1.0)


def recall_by_kind(truth: Sequence[int], predicted: Sequence[int], kinds: Sequence[str]) -> dict[str, float]:
    """Share of each transformation's samples grouped with their cluster's original."""
    original_group = {t: p for t, p, k in zip(truth, predicted, kinds, strict=True) if k == "original"}
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for t, p, k in zip(truth, predicted, kinds, strict=True):
        if k in TRANSFORMS:
            totals[k] += 1
            hits[k] += original_group.get(t) == p
    return {k: hits[k] / totals[k] for k in totals}
