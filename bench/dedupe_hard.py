"""The hard dedupe set: hundreds of products of a few shapes, photographed the same way on white.

Real catalogs hold many products of one kind: the same bottle in five colours, the same box
with another printed label. ``make_hard_set(TUNE)`` and ``make_hard_set(REPORT)`` draw
products from at most six shape families (bottle, box, can, jar, pouch, tube) on white or
light backdrops; colour variants and label variants of one design are separate products.
Every product has its original and three transformed copies (crop ≤ 10 %, white border or
letterbox, watermark text, brightness ±20 %, blur, rescale 0.4–1.5×, JPEG quality 30–95).

REPORT differs from TUNE in seed and in its generator parameters (canvas, object sizes,
colours, backdrops, label font): tune on TUNE only, quote REPORT.

    >>> samples = make_hard_set(HardParams(n_products=4, seed=3))
    >>> len(samples), len({s.cluster for s in samples})
    (16, 4)
"""

from __future__ import annotations

import colorsys
import io
import random
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

FAMILIES = ("bottle", "box", "can", "jar", "pouch", "tube")
EDITS = ("crop", "border", "watermark", "brightness", "blur")
WORDS = ("ORANGE", "LEMON", "MINT", "BERRY", "COCOA", "HONEY", "GINGER", "PEACH", "GRAPE", "CHERRY",
         "VANILLA", "MANGO", "LIME", "PLUM", "APPLE", "MELON", "COFFEE", "CARAMEL", "SALT", "PEPPER")
MARKS = ("SAMPLE", "HOT SALE", "© shop", "OUR STORE", "NEW 2026", "热卖")


@dataclass(frozen=True, slots=True)
class HardParams:
    """What the generator draws from; TUNE and REPORT differ in every field."""

    seed: int = 0
    n_products: int = 500
    families: tuple[str, ...] = FAMILIES
    canvas: tuple[int, int] = (400, 400)  # width, height of an original
    body: tuple[float, float] = (0.45, 0.75)  # object height as a share of the canvas height
    saturation: tuple[float, float] = (0.45, 0.95)
    value: tuple[float, float] = (0.35, 0.95)
    backdrop: tuple[int, int] = (238, 255)  # grey level of the backdrop
    tint: int = 0  # how far a backdrop channel may stray from grey
    font: str = ""  # a TrueType file; "" is Pillow's bundled font
    label_size: tuple[float, float] = (0.07, 0.10)  # label text height, share of the canvas height
    colour_variants: tuple[int, int] = (0, 3)  # extra colours per design
    label_variants: tuple[int, int] = (0, 2)  # extra labels per design
    copies: int = 3


TUNE = HardParams(seed=11)
REPORT = HardParams(
    seed=2027, canvas=(440, 520), body=(0.5, 0.8), saturation=(0.35, 1.0), value=(0.3, 1.0),
    backdrop=(226, 250), tint=8, font="/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    label_size=(0.06, 0.09), colour_variants=(1, 2), label_variants=(0, 1))


@dataclass(frozen=True, slots=True)
class Sample:
    """One picture: JPEG bytes, its product (the true cluster) and how it was made."""

    name: str
    data: bytes
    cluster: int
    kind: str  # "original" or the edits of a copy joined by "+"


@dataclass(frozen=True, slots=True)
class _Design:
    family: str
    size: float  # object height share
    aspect: float  # width / height of the body
    dx: float  # centre offset, share of the canvas width
    backdrop: tuple[int, int, int]
    colour: tuple[int, int, int]
    accent: tuple[int, int, int]  # cap, lid, rim
    label_bg: tuple[int, int, int]
    label_fg: tuple[int, int, int]
    words: tuple[str, str]
    label_size: float
    stripe: bool


@lru_cache(maxsize=32)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path and Path(path).exists():
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _hsv(rng: random.Random, p: HardParams, hue: float | None = None) -> tuple[int, int, int]:
    h = rng.random() if hue is None else hue % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*p.saturation), rng.uniform(*p.value))
    return round(r * 255), round(g * 255), round(b * 255)


def _design(rng: random.Random, p: HardParams) -> _Design:
    level = rng.randint(*p.backdrop)
    backdrop = tuple(min(255, max(0, level + rng.randint(-p.tint, p.tint))) for _ in range(3))
    light = rng.random() < 0.5
    return _Design(
        family=rng.choice(p.families), size=rng.uniform(*p.body), aspect=rng.uniform(0.35, 0.8),
        dx=rng.uniform(-0.06, 0.06), backdrop=backdrop,  # type: ignore[arg-type]
        colour=_hsv(rng, p), accent=_hsv(rng, p),
        label_bg=(250, 248, 240) if light else (30, 30, 36), label_fg=(20, 20, 20) if light else (240, 240, 230),
        words=(rng.choice(WORDS), f"{rng.randint(1, 99) * 10}ml"), label_size=rng.uniform(*p.label_size),
        stripe=rng.random() < 0.5)


def _recolour(rng: random.Random, d: _Design, p: HardParams, taken: list[float]) -> _Design:
    """The same design in another colour: a hue at least 0.1 from the colours already used."""
    for _ in range(100):
        hue = rng.random()
        if all(min(abs(hue - t), 1 - abs(hue - t)) >= 0.1 for t in taken):
            break
    taken.append(hue)
    return replace(d, colour=_hsv(rng, p, hue))


def _relabel(rng: random.Random, d: _Design) -> _Design:
    """The same object with another printed label."""
    word = rng.choice([w for w in WORDS if w != d.words[0]])
    return replace(d, words=(word, d.words[1]))


def _shade(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour: tuple[int, int, int],
           shape: str, radius: int = 0) -> None:
    """A body with a soft highlight down its middle, so that it looks lit from the front."""
    x0, y0, x1, y1 = box
    if shape == "ellipse":
        draw.ellipse(box, fill=colour)
    elif shape == "round":
        draw.rounded_rectangle(box, radius=radius, fill=colour)
    else:
        draw.rectangle(box, fill=colour)
    w = x1 - x0
    hl = tuple(min(255, c + 40) for c in colour)
    draw.rectangle((x0 + w * 3 // 10, y0 + radius // 2 + 2, x0 + w * 4 // 10, y1 - radius // 2 - 2), fill=hl)


def render(d: _Design, p: HardParams) -> Image.Image:
    """The original picture of a design."""
    cw, ch = p.canvas
    img = Image.new("RGB", p.canvas, d.backdrop)
    draw = ImageDraw.Draw(img)
    h = round(ch * d.size)
    w = round(h * d.aspect) if d.family != "box" else round(h * min(0.9, d.aspect + 0.2))
    cx, top = round(cw / 2 + cw * d.dx), (ch - h) // 2
    x0, x1, y1 = cx - w // 2, cx + w // 2, top + h
    shadow = tuple(max(0, c - 25) for c in d.backdrop)
    draw.ellipse((x0 - w // 10, y1 - h // 30, x1 + w // 10, y1 + h // 30), fill=shadow)
    body_top = top
    if d.family == "bottle":
        neck = w // 3
        body_top = top + h // 4
        draw.rectangle((cx - neck // 2, top + h // 12, cx + neck // 2, body_top + 10), fill=d.colour)
        draw.rectangle((cx - neck // 2 - 3, top, cx + neck // 2 + 3, top + h // 12), fill=d.accent)
        _shade(draw, (x0, body_top, x1, y1), d.colour, "round", radius=w // 5)
    elif d.family == "box":
        depth = w // 6
        side = tuple(max(0, c - 50) for c in d.colour)
        draw.polygon([(x1, top + depth), (x1 + depth, top), (x1 + depth, y1 - depth), (x1, y1)], fill=side)
        draw.polygon([(x0, top + depth), (x0 + depth, top), (x1 + depth, top), (x1, top + depth)],
                     fill=tuple(min(255, c + 30) for c in d.colour))
        body_top = top + depth
        _shade(draw, (x0, body_top, x1, y1), d.colour, "rect")
    elif d.family == "can":
        rim = max(6, w // 6)
        _shade(draw, (x0, top + rim // 2, x1, y1 - rim // 2), d.colour, "rect")
        draw.ellipse((x0, y1 - rim, x1, y1), fill=d.colour)
        draw.ellipse((x0, top, x1, top + rim), fill=d.accent)
        body_top = top + rim
    elif d.family == "jar":
        lid = h // 6
        x0, x1 = cx - round(w * 0.65), cx + round(w * 0.65)
        draw.rounded_rectangle((x0 + 8, top, x1 - 8, top + lid), radius=6, fill=d.accent)
        body_top = top + lid
        _shade(draw, (x0, body_top, x1, y1), d.colour, "round", radius=w // 4)
    elif d.family == "pouch":
        draw.polygon([(x0 + w // 10, top), (x1 - w // 10, top), (x1, y1), (x0, y1)], fill=d.colour)
        draw.rectangle((x0 + w // 10, top + h // 14, x1 - w // 10, top + h // 14 + 5), fill=d.accent)
        body_top = top + h // 8
    else:  # tube
        draw.polygon([(x0, top + h // 10), (x1, top + h // 10), (cx + w // 4, y1 - h // 8), (cx - w // 4, y1 - h // 8)],
                     fill=d.colour)
        draw.rectangle((x0 - 2, top, x1 + 2, top + h // 10), fill=d.colour)
        draw.rectangle((cx - w // 6, y1 - h // 8, cx + w // 6, y1), fill=d.accent)
        body_top = top + h // 10
    if d.stripe:
        draw.rectangle((x0 + w // 8, y1 - h // 6, x1 - w // 8, y1 - h // 6 + max(4, h // 40)), fill=d.accent)
    size = max(10, round(ch * d.label_size))
    font = _font(p.font, size)
    lw = round(w * 0.8)
    ly = body_top + (y1 - body_top) // 4
    draw.rectangle((cx - lw // 2, ly, cx + lw // 2, ly + round(size * 2.6)), fill=d.label_bg)
    for k, word in enumerate(d.words):
        f = font if k == 0 else _font(p.font, max(8, size * 2 // 3))
        tw = draw.textlength(word, font=f)
        scale = min(1.0, (lw - 8) / max(tw, 1))
        f = f if scale >= 1 else _font(p.font, max(8, int(f.size * scale)))  # type: ignore[union-attr]
        tw = draw.textlength(word, font=f)
        draw.text((cx - tw / 2, ly + 4 + k * round(size * 1.3)), word, fill=d.label_fg, font=f)
    return img


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def copy(img: Image.Image, rng: random.Random) -> tuple[bytes, str]:
    """A transformed copy: one or two edits, then rescale 0.4–1.5× and JPEG quality 30–95."""
    edits = sorted(rng.sample(EDITS, rng.randint(1, 2)), key=EDITS.index)
    w, h = img.size
    for edit in edits:
        if edit == "crop":  # ≤ 10 % of each side in all
            fx, fy = rng.uniform(0.03, 0.10), rng.uniform(0.03, 0.10)
            ax, ay = rng.random(), rng.random()
            img = img.crop((round(w * fx * ax), round(h * fy * ay),
                            round(w - w * fx * (1 - ax)), round(h - h * fy * (1 - ay))))
        elif edit == "border":
            pad = round(max(img.size) * rng.uniform(0.03, 0.12))
            sides = (pad, pad, pad, pad) if rng.random() < 0.5 else (0, pad, 0, pad)  # letterbox
            framed = Image.new("RGB", (img.width + sides[0] + sides[2], img.height + sides[1] + sides[3]),
                               (255, 255, 255))
            framed.paste(img, (sides[0], sides[1]))
            img = framed
        elif edit == "watermark":
            layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
            size = max(10, img.width // rng.randint(9, 16))
            at = (rng.randint(0, img.width // 3), rng.randint(img.height // 3, img.height - 2 * size))
            ink = (*rng.choice(((128, 128, 128), (255, 255, 255), (200, 30, 30))), 120)
            ImageDraw.Draw(layer).text(at, rng.choice(MARKS), fill=ink, font=ImageFont.load_default(size=size))
            img = Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
        elif edit == "brightness":
            img = ImageEnhance.Brightness(img).enhance(rng.choice((rng.uniform(0.8, 0.92), rng.uniform(1.08, 1.2))))
        else:
            img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.0)))
    f = rng.uniform(0.4, 1.5)
    img = img.resize((max(32, round(img.width * f)), max(32, round(img.height * f))), Image.Resampling.BILINEAR)
    return _jpeg(img, rng.randint(30, 95)), "+".join([*edits, "rescale"])


def products(p: HardParams) -> list[_Design]:
    """``p.n_products`` designs: base designs, each with its colour and label variants."""
    rng = random.Random(f"hard:{p.seed}")
    out: list[_Design] = []
    while len(out) < p.n_products:
        base = _design(rng, p)
        group = [base]
        taken = [colorsys.rgb_to_hsv(*(c / 255 for c in base.colour))[0]]
        group += [_recolour(rng, base, p, taken) for _ in range(rng.randint(*p.colour_variants))]
        group += [_relabel(rng, rng.choice(group)) for _ in range(rng.randint(*p.label_variants))]
        out += group
    return out[:p.n_products]


def make_hard_set(p: HardParams) -> list[Sample]:
    """Every product's original (JPEG q 90) and ``p.copies`` transformed copies."""
    rng = random.Random(f"copies:{p.seed}")
    out: list[Sample] = []
    for cluster, d in enumerate(products(p)):
        img = render(d, p)
        out.append(Sample(f"p{cluster}/original", _jpeg(img, 90), cluster, "original"))
        for k in range(p.copies):
            data, kind = copy(img, rng)
            out.append(Sample(f"p{cluster}/copy{k}", data, cluster, kind))
    return out


def write(samples: list[Sample], folder: Path) -> Path:
    """The samples as JPEG files and a catalog.csv (sku,image) for ``snapprice dedupe``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["sku,image"]
    for k, s in enumerate(samples):
        name = f"{k:05d}.jpg"
        (folder / name).write_bytes(s.data)
        lines.append(f"{s.name.replace('/', '-')},{name}")
    path = folder / "catalog.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    import sys
    import tempfile

    which = REPORT if "report" in sys.argv[1:] else TUNE
    target = Path(tempfile.mkdtemp(prefix="dedupe-hard-"))
    print(write(make_hard_set(which), target))
