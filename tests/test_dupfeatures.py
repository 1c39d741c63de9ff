"""Near-duplicate features: window search, thumbnail verification, grouping with them."""

import io
import random

import numpy as np
import polars as pl
import pytest
from PIL import Image

from snapprice.dedupe import group
from snapprice.dedupe_eval import jpeg, recolour, render_scene, transform
from snapprice.dupfeatures import DESC_BYTES, unpack, verify_pairs
from snapprice.hamming import near_pairs_between, popcount64
from snapprice.hashing import hash_image, to_signed64


@pytest.mark.parametrize("radius", [0, 3, 6, 9])
def test_near_pairs_between_equals_brute_force(radius: int) -> None:
    rng = np.random.default_rng(radius)
    q = rng.integers(0, 2**64, 300, dtype=np.uint64)
    t = rng.integers(0, 2**64, 500, dtype=np.uint64)
    t[:100] = q[:100] ^ (np.uint64(3) << rng.integers(0, 60, 100).astype(np.uint64))
    qi, ti = near_pairs_between(q, t, radius)
    bi, bt = np.nonzero(popcount64(q[:, None] ^ t[None, :]) <= radius)
    assert sorted(zip(qi.tolist(), ti.tolist(), strict=True)) == sorted(zip(bi.tolist(), bt.tolist(), strict=True))


def _records(images: list[Image.Image]) -> pl.DataFrame:
    recs = [hash_image(jpeg(im), f"d{i}") for i, im in enumerate(images)]
    assert all(r.dup is not None and len(r.dup) == DESC_BYTES for r in recs)
    return pl.DataFrame({"digest": [r.digest for r in recs], "phash": [to_signed64(r.phash) for r in recs],
                         "width": [r.width for r in recs], "height": [r.height for r in recs],
                         "colour": [r.colour for r in recs], "dup": pl.Series([r.dup for r in recs], dtype=pl.Binary)})


def test_crop_joins_its_original_and_recolouring_does_not() -> None:
    base = render_scene(3)
    w, h = base.size
    crop = base.crop((0, 0, round(w * 0.92), round(h * 0.92)))  # 8 % off two sides
    frame = _records([base, crop, recolour(base, 0.5)])
    out = group(frame)["group_id"].to_list()
    assert out[0] == out[1] and out[2] != out[0]
    # The pHash alone (no verification, no window hashes) misses this crop.
    assert group(frame, verify=False)["group_id"].to_list()[1] != out[0]


def test_verification_rejects_a_different_scene() -> None:
    feats = unpack([hash_image(jpeg(render_scene(s))).dup for s in (1, 2)]
                   + [hash_image(jpeg(transform(render_scene(1), "brightness", random.Random(0))[0])).dup])
    assert verify_pairs(feats, np.array([0, 0]), np.array([1, 2])).tolist() == [False, True]


def test_descriptor_survives_a_rescale() -> None:
    base = render_scene(5)
    small = Image.open(io.BytesIO(jpeg(base.resize((200, 200)), 60)))
    feats = unpack([hash_image(jpeg(base)).dup, hash_image(jpeg(small)).dup])
    assert popcount64(feats.full[:1] ^ feats.full[1:])[0] <= 6
    assert verify_pairs(feats, np.array([0]), np.array([1])).tolist() == [True]
