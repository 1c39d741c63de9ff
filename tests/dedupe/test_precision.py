"""Precision first: groups never chain, local features tell look-alike products apart."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image, ImageDraw, ImageFont

from snapprice.cli.dedupe import dedupe_command
from snapprice.dedupe.grouping import group
from snapprice.dedupe.hashing import MemoryHashCache
from snapprice.dedupe.local import MIN_AGREEMENT, MIN_INLIERS, MemoryFeatureCache, describe, score, unpack
from snapprice.dedupe.stage import dedupe_catalog
from tests.dedupe.pictures import bottle, catalog, jpeg


def _frame(digests: Sequence[str], sizes: Sequence[int] | None = None) -> pl.DataFrame:
    n = len(digests)
    sizes = sizes or [100] * n
    return pl.DataFrame({"sku": list(digests), "digest": list(digests), "phash": list(range(n)),
                         "width": list(sizes), "height": list(sizes)})


def _verifier(pairs: dict[tuple[str, str], float]):
    def verify(a: Sequence[str], b: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        got = [pairs.get((x, y), pairs.get((y, x))) for x, y in zip(a, b, strict=True)]
        return np.array([g is not None for g in got]), np.array([g or 0.0 for g in got])
    return verify


def _groups(out: pl.DataFrame) -> set[frozenset[str]]:
    return {frozenset(g) for g in out.group_by("group_id").agg("sku")["sku"].to_list()}


def test_no_chaining() -> None:
    """A~B and B~C, A≁C: never one group (connected components made it one)."""
    out = group(_frame(["a", "b", "c"]), 8, verifier=_verifier({("a", "b"): 50, ("b", "c"): 40}))
    assert frozenset("abc") not in _groups(out)
    assert _groups(out) == {frozenset("ab"), frozenset("c")}
    # A long chain of look-alikes: no group holds two links' ends.
    names = [f"n{k}" for k in range(8)]
    chain = {(names[k], names[k + 1]): 100 - k for k in range(7)}
    out = group(_frame(names), 8, verifier=_verifier(chain))
    assert max(len(g) for g in _groups(out)) == 2


def test_members_verified_against_the_representative() -> None:
    """A clique joins one group; a node verified against two groups' representatives stays alone."""
    clique = {("a", "b"): 90, ("a", "c"): 80, ("b", "c"): 70}
    out = group(_frame(["a", "b", "c"], [300, 200, 100]), 8, verifier=_verifier(clique))
    assert _groups(out) == {frozenset("abc")}
    assert out.filter("is_representative")["sku"].to_list() == ["a"]  # the larger of the founding pair
    torn = {("a", "b"): 90, ("c", "d"): 90, ("x", "a"): 50, ("x", "c"): 50}
    out = group(_frame(["a", "b", "c", "d", "x"], [300, 100, 300, 100, 50]), 8, verifier=_verifier(torn))
    assert _groups(out) == {frozenset("ab"), frozenset("cd"), frozenset("x")}


RED = (200, 30, 30)


@pytest.mark.parametrize(("other", "same"), [
    (bottle(RED).crop((12, 12, 240, 240)), True),  # crop ≤ 10 %
    (bottle(RED).resize((160, 160)), True),  # rescale
    (bottle((30, 60, 200)), False),  # colour variant
    (bottle((30, 150, 60)), False),
    (bottle(RED, "GLOW 42 ml"), False),  # label variant: keypoints agree, the aligned check does not
])
def test_local_score(other: Image.Image, same: bool) -> None:
    original = unpack(describe(np.asarray(bottle(RED))))
    assert score(original, unpack(describe(np.asarray(other)))).same == same


def _watermarked(im: Image.Image, text: str, at: tuple[int, int], ink: tuple[int, int, int]) -> Image.Image:
    """Semi-transparent text stamped on a copy, as shops do (alpha 120 of 255)."""
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).text(at, text, fill=(*ink, 120), font=ImageFont.load_default(size=22))
    return Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")


def _jpeg_copy(im: Image.Image, quality: int, scale: float = 1.0) -> np.ndarray:
    if scale != 1.0:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BILINEAR)
    return np.asarray(Image.open(io.BytesIO(jpeg(im, quality))).convert("RGB"))


@pytest.mark.parametrize(("text", "at", "ink"), [
    ("SAMPLE", (20, 150), (128, 128, 128)),  # across the body and the label
    ("HOT SALE", (60, 120), (200, 30, 30)),  # over the label's words
    ("© shop", (10, 200), (255, 255, 255)),
])
def test_watermarked_copy_is_the_same(text: str, at: tuple[int, int], ink: tuple[int, int, int]) -> None:
    """A watermark adds thin strokes to one picture; the original's edges persist under them."""
    red = bottle(RED)
    original = unpack(describe(np.asarray(red)))
    copy = unpack(describe(_jpeg_copy(_watermarked(red, text, at, ink), 60, 0.8)))
    result = score(original, copy)
    assert result.same and result.agreement is not None and result.agreement >= MIN_AGREEMENT


@pytest.mark.parametrize("label", ["GLOW 42 ml", "MINT 42 ml", "SNAP 42 cl", pytest.param(
    "SNAP 99 ml", marks=pytest.mark.xfail(strict=True, reason="known gap (docs/dedupe.md): two digits of "
                                          "small print changed leave most of their cell explained"))])
def test_label_variant_is_apart(label: str) -> None:
    """Same object, another printed label: a different product, even recompressed and rescaled,
    although its keypoints verify."""
    original = unpack(describe(np.asarray(bottle(RED))))
    variant = unpack(describe(_jpeg_copy(bottle(RED, label), 70, 0.9)))
    result = score(original, variant)
    assert result.inliers >= MIN_INLIERS  # keypoints alone would merge them
    assert not result.same and result.agreement is not None and result.agreement < MIN_AGREEMENT


def _run(path: Path) -> set[frozenset[str]]:
    result = dedupe_catalog(path, MemoryHashCache(), threshold=14, workers=1, features=MemoryFeatureCache())
    return _groups(result.frame)


def test_catalog_groups(tmp_path: Path) -> None:
    red = bottle(RED)
    framed = Image.new("RGB", (280, 280), "white")
    framed.paste(red, (20, 20))
    images = {"red": jpeg(red), "crop": jpeg(red.crop((10, 8, 236, 232)), 70), "framed": jpeg(framed, 60),
              "blue": jpeg(bottle((30, 60, 200))), "green": jpeg(bottle((30, 150, 60)))}
    assert _run(catalog(tmp_path, images)) == {
        frozenset({"red", "crop", "framed"}), frozenset({"blue"}), frozenset({"green"})}


def test_degenerate_catalogs(tmp_path: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    assert _run(catalog(one, {"only": jpeg(bottle(RED))})) == {frozenset({"only"})}
    same = tmp_path / "same"
    same.mkdir()
    data = jpeg(bottle(RED))
    assert _run(catalog(same, {f"s{k}": data for k in range(4)})) == {frozenset({"s0", "s1", "s2", "s3"})}
    blank = tmp_path / "blank"
    blank.mkdir()
    whites = {f"w{k}": jpeg(Image.new("RGB", (100 + 20 * k, 100 + 20 * k), "white"), 60 + 10 * k)
              for k in range(3)}
    reds = {"r0": jpeg(Image.new("RGB", (120, 120), RED))}
    assert _run(catalog(blank, {**whites, **reds})) == {frozenset(whites), frozenset(reds)}


def test_dedupe_command_html_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    red = bottle(RED)
    path = catalog(tmp_path, {"red": jpeg(red), "crop": jpeg(red.crop((10, 8, 236, 232)), 70),
                               "blue": jpeg(bottle((30, 60, 200)))})
    page = tmp_path / "groups.html"
    assert dedupe_command(path, None, True, 1, html_out=page) == 0
    out = json.loads(capsys.readouterr().out)
    groups = {i["sku"]: i["group"] for i in out["images"]}
    assert groups["red"] == groups["crop"] != groups["blue"]
    text = page.read_text(encoding="utf-8")
    assert text.count('class="g"') == 1  # one group of two or more
    assert text.count("data:image/jpeg;base64,") == 2  # embedded: the page works offline
    assert "inliers" in text and ">blue<" not in text
    assert dedupe_command(path, None, False, 1, html_out=tmp_path / "no" / "such" / "dir.html") == 2
    assert "cannot be written" in capsys.readouterr().err
