"""The sandbox world: determinism, prices over time, sales styles, and visual search quality."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from PIL import Image

from snapprice.sandbox import SandboxConfig, build_world, imaging
from snapprice.sandbox.features import decode, extract, similarity
from snapprice.sandbox.index import stack
from snapprice.sandbox.testing import shared_world
from snapprice.sandbox.world import sales_text

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world():
    return shared_world(60)


def test_same_seed_same_world():
    a = build_world(SandboxConfig(n_products=25, seed=3))
    b = build_world(SandboxConfig(n_products=25, seed=3))
    assert [p for p in a.products] == [p for p in b.products]
    assert [x for x in a.listings] == [x for x in b.listings]
    fa = [a.listing_features(x) for x in a.listings[:20]]
    fb = [b.listing_features(x) for x in b.listings[:20]]
    for x, y in zip(fa, fb, strict=True):
        assert np.array_equal(x.dct, y.dct) and np.array_equal(x.layout, y.layout)
        assert np.array_equal(x.hist, y.hist)
    assert a.listing_image_bytes(a.listings[0].platform, a.listings[0].item_id) == \
        b.listing_image_bytes(b.listings[0].platform, b.listings[0].item_id)
    for x in a.listings[:30]:
        assert a.served_price(x.item_id, x.platform, T0) == b.served_price(x.item_id, x.platform, T0)


def test_other_seed_other_world():
    a = build_world(SandboxConfig(n_products=10, seed=3))
    b = build_world(SandboxConfig(n_products=10, seed=4))
    assert [p.title for p in a.products] != [p.title for p in b.products]


def test_world_shape(world):
    assert len(world.products) == 60
    counts = [len(world.listings_for(p.product_id, pl)) for p in world.products for pl in world.config.platforms]
    honest = [sum(x.kind == "honest" for x in world.listings_for(p.product_id, pl))
              for p in world.products for pl in world.config.platforms]
    assert min(counts) == 0 and max(honest) <= 6 and max(counts) <= 6 + len(world.config.bait_rates)
    assert any(c == 0 for c in counts) and sum(counts) == len(world.listings)
    x = world.listings[0]
    assert world.listing(x.item_id, x.platform) is x
    assert x.item_id.isdigit() and x.shop
    ids = [(x.platform, x.item_id) for x in world.listings]
    assert len(ids) == len(set(ids))


def test_bait_shows_the_products_picture_at_a_price_that_is_not_the_products(world):
    kinds = {}
    for x in world.listings:
        kinds.setdefault(x.kind, []).append(x)
    assert set(kinds) == {"honest", "deposit", "accessory", "decoy", "clearance"}
    for x in kinds["deposit"] + kinds["accessory"] + kinds["decoy"] + kinds["clearance"]:
        product = world.product(x.product_id)
        assert x.image_seed == product.seed and product.title in x.title
        low, _, _ = world.served_price(x.item_id, x.platform, T0)
        ratio = low / product.base_price
        assert {"deposit": ratio <= Decimal("0.5"), "accessory": ratio <= Decimal("0.2"),
                "decoy": ratio >= 3, "clearance": Decimal("0.55") < ratio < Decimal("0.75")}[x.kind], (x, ratio)
    # The honest part of a world does not depend on its bait.
    from snapprice.sandbox.config import SandboxConfig
    from snapprice.sandbox.world import build_world

    plain = build_world(SandboxConfig(**{**world.config.model_dump(), "bait_rates": {}}))
    assert [x for x in world.listings if x.kind == "honest"] == plain.listings


def test_prices_drift_by_day_and_hold_within_a_day(world):
    x = world.listings[3]
    day = world.config.day_seconds
    same = [world.served_price(x.item_id, x.platform, T0.replace(hour=0) + timedelta(seconds=s))
            for s in (0, 3600, day - 1)]
    assert same[0] == same[1] == same[2]
    lows = {world.served_price(x.item_id, x.platform, T0 + timedelta(days=d))[0] for d in range(30)}
    assert len(lows) > 10
    for d in range(30):
        low, high, promo = world.served_price(x.item_id, x.platform, T0 + timedelta(days=d))
        assert isinstance(low, Decimal) and Decimal("0") < low <= high
        assert low.as_tuple().exponent == -2
        assert promo is None or promo < low


def test_served_item_matches_ground_truth(world):
    host = "127.0.0.1:1"
    for x in world.listings[:40]:
        item = world.served_item(x, T0, host)
        low, high, promo = world.served_price(x.item_id, x.platform, T0)
        assert item["price"] == (str(low) if low == high else f"{low}-{high}")
        assert item["promotion_price"] == str(promo if promo is not None else low)
        assert item["num_iid"] == x.item_id and item["seller_nick"] == x.shop
        assert str(item["pic_url"]).endswith(f"//{host}/img/{x.platform}/{x.item_id}.jpg")


def test_some_listings_disappear_and_come_back(world):
    flaky = [x for x in world.listings if x.flaky]
    assert flaky
    x = flaky[0]
    seen = [world.is_listed(x.item_id, x.platform, T0 + timedelta(days=d)) for d in range(60)]
    assert True in seen and False in seen
    steady = next(x for x in world.listings if not x.flaky)
    assert all(world.is_listed(steady.item_id, steady.platform, T0 + timedelta(days=d)) for d in range(30))


@pytest.mark.parametrize(("platform", "n", "as_int", "expected"), [
    ("taobao", 7318, False, ("7318人付款", 7318)),
    ("taobao", 12345, False, ("1万+人付款", 10000)),
    ("taobao", 12345, True, (10000, 10000)),
    ("taobao", 42, True, (42, 42)),
    ("pinduoduo", 123456, False, ("已拼: 12万+件", 120000)),
    ("pinduoduo", 3456, False, ("已拼3456件", 3456)),
    ("jd", 1234, False, ("1000+", 1000)),
    ("jd", 56, False, ("56", 56)),
    ("jd", 25000, False, ("2万+", 20000)),
    ("1688", 2345, False, ("月销 2000+", 2000)),
    ("1688", 356, False, ("月销 356", 356)),
])
def test_sales_text(platform, n, as_int, expected):
    assert sales_text(platform, n, as_int=as_int) == expected


def test_product_image_is_a_real_picture(world):
    data = world.product_image_bytes(world.products[0].product_id)
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG" and img.size == (imaging.SIZE, imaging.SIZE)
    colours = img.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 200  # shapes, texture, text: not flat


def test_build_features_match_served_pictures(world):
    """The index is built from small renderings; they must agree with the served JPEGs."""
    sims = []
    for x in world.listings[:40]:
        f_index = world.listing_features(x)
        f_served = extract(decode(world.listing_image_bytes(x.platform, x.item_id)))
        sims.append(float(similarity(f_served, *stack([f_index]))[0]))
    assert min(sims) > world.config.min_score + 0.02, sims


def test_variant_queries_find_their_product_first(world):
    """>= 95 % of generated variants rank the product's own listings on top."""
    ok = total = 0
    stray = 0
    rng = random.Random(11)
    for p in world.products:
        v = imaging.random_variant(rng)
        q = extract(decode(imaging.to_jpeg(imaging.render_variant(p.seed, v), v.quality)))
        for platform in world.config.platforms:
            own = {x.item_id for x in world.listings_for(p.product_id, platform)}
            rows, _ = world.index.search(q, platform, min_score=world.config.min_score)
            got = [world.listings[r].item_id for r in rows]
            if own:
                total += 1
                ok += set(got[: len(own)]) == own
            else:
                stray += len(got)
    assert ok / total >= 0.95, ok / total
    assert stray <= 2  # absent products yield (almost) nothing above the relevance cut


def test_distractor_pictures_find_nothing(world):
    hits = 0
    for i in range(30):
        q = extract(imaging.render_product(2**49 + i))
        for platform in world.config.platforms:
            rows, _ = world.index.search(q, platform, min_score=world.config.min_score)
            hits += len(rows)
    assert hits <= 3


@pytest.mark.integration
def test_default_world_builds():
    # Its build time is a bench figure (bench/bench_sandbox.py), not a timed assertion.
    w = build_world(SandboxConfig())
    assert len(w.products) == 300 and len(w.listings) > 1500
