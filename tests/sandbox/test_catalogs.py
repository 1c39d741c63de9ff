"""Catalogs generated from a sandbox world, and their ground truth."""

from __future__ import annotations

import csv
import json

import imagehash
import pytest
from PIL import Image

from snapprice.sandbox.catalogs import generate_catalog
from snapprice.sandbox.features import decode, extract
from snapprice.sandbox.testing import shared_world


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    world = shared_world(60)
    return world, generate_catalog(world, tmp_path_factory.mktemp("cat"), n_items=50, seed=3)


def test_files_and_truth(catalog):
    world, cat = catalog
    with cat.csv_path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["sku", "image", "title"] and len(rows) == 50
    assert len({r["sku"] for r in rows}) == 50
    for r in rows:
        assert (cat.out_dir / r["image"]).is_file() and r["title"]
        assert not r["image"].startswith("/")
    truth = json.loads(cat.truth_path.read_text(encoding="utf-8"))
    assert truth["items"] == cat.product_of
    copies = {s for g in cat.duplicate_groups for s in g[1:]}
    assert len(set(cat.distractors) - copies) == 5  # 10 % distinct distractors, plus their copies
    assert sum(len(g) - 1 for g in cat.duplicate_groups) == 15
    known = {p.product_id for p in world.products}
    assert all(p in known for p in cat.product_of.values() if p is not None)
    for group in cat.duplicate_groups:
        assert len({cat.product_of[s] for s in group}) == 1


def test_near_duplicates_are_close_and_others_far(catalog):
    _world, cat = catalog

    def h(sku):
        return imagehash.phash(Image.open(cat.out_dir / "images" / f"{sku}.jpg"))

    close = [h(g[0]) - h(s) for g in cat.duplicate_groups for s in g[1:]]
    assert sorted(close)[len(close) // 2] <= 10  # median pHash distance of copies is small
    singles = [s for s in cat.product_of if not any(s in g for g in cat.duplicate_groups)][:10]
    far = [h(a) - h(b) for i, a in enumerate(singles) for b in singles[i + 1:]]
    assert min(far) > 10


def test_catalog_rows_find_their_listings_and_distractors_find_nothing(catalog):
    world, cat = catalog
    ok = total = 0
    for sku, pid in cat.product_of.items():
        q = extract(decode((cat.out_dir / "images" / f"{sku}.jpg").read_bytes()))
        for platform in world.config.platforms:
            rows, _ = world.index.search(q, platform, min_score=world.config.min_score)
            got = {world.listings[r].product_id for r in rows[:1]}
            if pid is None:
                assert not len(rows)
            elif world.listings_for(pid, platform):
                total += 1
                ok += got == {pid}
    assert ok / total >= 0.95


def test_same_seed_same_catalog(tmp_path):
    world = shared_world(60)
    a = generate_catalog(world, tmp_path / "a", n_items=12, seed=5)
    b = generate_catalog(world, tmp_path / "b", n_items=12, seed=5)
    assert a.product_of == b.product_of and a.duplicate_groups == b.duplicate_groups
    first = "images/SKU-00001.jpg"
    assert (a.out_dir / first).read_bytes() == (b.out_dir / first).read_bytes()


def test_too_many_items_is_refused(tmp_path):
    with pytest.raises(ValueError, match="distinct products"):
        generate_catalog(shared_world(60), tmp_path, n_items=500, dup_rate=0.0)
