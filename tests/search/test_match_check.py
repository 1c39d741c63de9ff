"""The match-check score: a listing's re-shot picture passes, another product does not."""

import io

import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from snapprice.errors import ImageRejected
from snapprice.sandbox import imaging
from snapprice.search.match_check import Features, compare, picture_features
from tests.reliability.corpus import corrupt_jpeg, huge_png

PASS = 0.5  # [match_check] min_score
SEED = 123456789


def encode(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def crop(im: Image.Image, f: float) -> Image.Image:
    w, h = im.size
    return im.crop((round(w * f), round(h * f / 2), round(w * (1 - f / 2)), round(h * (1 - f))))


def border(im: Image.Image, f: float) -> Image.Image:
    return ImageOps.expand(im, border=round(im.width * f), fill=(255, 255, 255))


def watermark(im: Image.Image) -> Image.Image:
    im = im.copy()
    ImageDraw.Draw(im).text((im.width // 10, im.height - 40), "HOT SALE 2026", fill=(250, 250, 250))
    return im


def scale(im: Image.Image, f: float) -> Image.Image:
    return im.resize((round(im.width * f), round(im.height * f)), Image.Resampling.BILINEAR)


def hue(im: Image.Image, shift: int) -> Image.Image:
    h, s, v = im.convert("HSV").split()
    return Image.merge("HSV", (h.point(lambda x: (x + shift) % 256), s, v)).convert("RGB")


SAME = [  # (name, the merchant's photo → the listing's picture)
    ("identical", lambda im: encode(im)),
    ("crop 10 %", lambda im: encode(crop(im, 0.10))),
    ("white border", lambda im: encode(border(im, 0.10))),
    ("watermark", lambda im: encode(watermark(im))),
    ("brighter 20 %", lambda im: encode(ImageEnhance.Brightness(im).enhance(1.2))),
    ("darker 20 %", lambda im: encode(ImageEnhance.Brightness(im).enhance(0.8))),
    ("blur", lambda im: encode(im.filter(ImageFilter.GaussianBlur(1.2)))),
    ("JPEG quality 30", lambda im: encode(im, 30)),
    ("rescale 0.6", lambda im: encode(scale(im, 0.6))),
    ("rescale 1.5", lambda im: encode(scale(im, 1.5))),
    ("all at once", lambda im: encode(scale(border(watermark(crop(im, 0.06)), 0.05), 0.8), 55)),
]


@pytest.fixture(scope="module")
def merchant() -> tuple[Image.Image, Features]:
    im = imaging.render_product(SEED)
    return im, picture_features(encode(im, 92))


@pytest.mark.parametrize(("name", "make"), SAME, ids=[n for n, _ in SAME])
def test_the_same_product_passes(merchant, name, make):
    im, own = merchant
    assert compare(own, picture_features(make(im))) >= PASS, name


@pytest.mark.parametrize("shift", [40, 85, 128])
def test_a_colour_variant_of_the_same_shape_fails(merchant, shift):
    im, own = merchant
    assert compare(own, picture_features(encode(hue(im, shift)))) < PASS


@pytest.mark.parametrize("other", [1, 2, 3, 4, 5, 6, 7, 8])
def test_another_product_fails(merchant, other):
    _, own = merchant
    assert compare(own, picture_features(encode(imaging.render_product(SEED + other)))) < PASS


def test_blank_pictures_never_pass():
    blank = picture_features(encode(Image.new("RGB", (300, 300), (250, 250, 250))))
    assert len(blank.points) == 0 and compare(blank, blank) == 0.0


@pytest.mark.parametrize(("data", "reason"), [
    (b"<html>", "not_an_image"), (corrupt_jpeg(), "corrupt"), (huge_png(9000), "pixel_bomb")])
def test_unreadable_pictures_are_refused_with_a_reason(data, reason):
    with pytest.raises(ImageRejected) as err:
        picture_features(data, max_pixels=16_000_000)
    assert err.value.reason == reason


def test_features_survive_the_cache(merchant):
    _, own = merchant
    back = Features.from_bytes(own.to_bytes())
    assert compare(own, back) == 1.0
    with pytest.raises(ValueError):
        Features.from_bytes(own.to_bytes()[:-1])
