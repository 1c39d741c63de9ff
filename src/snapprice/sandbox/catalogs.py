"""Our own catalogs drawn from a sandbox world: near-duplicate copies, distractors, ground truth."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from snapprice.sandbox import imaging, vocab
from snapprice.sandbox.world import World


@dataclass
class GeneratedCatalog:
    """Where the catalog was written and what is true about it."""

    out_dir: Path
    csv_path: Path
    truth_path: Path
    product_of: dict[str, str | None]  # sku -> world product id (None: distractor)
    duplicate_groups: list[list[str]] = field(default_factory=list)  # skus showing one picture

    @property
    def distractors(self) -> list[str]:
        return [s for s, p in self.product_of.items() if p is None]


@dataclass
class _Row:
    product_id: str | None
    title: str
    picture: Image.Image
    quality: int
    group: int


def _near_duplicate(rng: random.Random, img: Image.Image) -> tuple[Image.Image, int]:
    """A copy of a catalog picture as another team would re-upload it."""
    v = imaging.Variant(
        crop=tuple(rng.uniform(0, 0.025) for _ in range(4)) if rng.random() < 0.4 else (0.0,) * 4,  # type: ignore[arg-type]
        scale=rng.uniform(0.6, 1.5) if rng.random() < 0.7 else 1.0,
        border=rng.uniform(0.02, 0.08) if rng.random() < 0.3 else 0.0,
        brightness=rng.uniform(0.9, 1.1) if rng.random() < 0.4 else 1.0,
        watermark=rng.choice(("SAMPLE", "OUR SHOP", "2026")) if rng.random() < 0.3 else "",
    )
    return imaging.apply_variant(img, v), rng.randint(60, 90)


def generate_catalog(world: World, out_dir: Path, n_items: int, dup_rate: float = 0.3,
                     distractor_rate: float = 0.1, seed: int = 0) -> GeneratedCatalog:
    """Write ``catalog.csv`` (sku,image,title), ``images/*.jpg`` and ``truth.json`` under ``out_dir``.

    Rows: distinct world products (each shot a little differently from its listings),
    distractor products that exist on no platform, and near-duplicate copies of other rows.
    """
    if n_items < 1 or not 0 <= dup_rate < 1 or not 0 <= distractor_rate < 1:
        raise ValueError("need n_items >= 1 and rates within [0, 1)")
    rng = random.Random(f"catalog:{world.config.seed}:{seed}")
    n_distractors = round(n_items * distractor_rate)
    n_dups = round(n_items * dup_rate)
    n_base = n_items - n_distractors - n_dups
    if n_base > len(world.products):
        raise ValueError(f"{n_base} distinct products needed, the world has {len(world.products)}; "
                         "lower n_items or raise dup_rate")
    if n_base + n_distractors == 0:
        raise ValueError("no original rows to copy: lower dup_rate")
    rows: list[_Row] = []
    for product in rng.sample(world.products, n_base):
        v = imaging.random_variant(rng, strength=0.5)
        rows.append(_Row(product.product_id, product.title,
                         imaging.render_variant(product.seed, v), v.quality, len(rows)))
    for _ in range(n_distractors):
        cat = rng.choice(list(vocab.CATEGORIES))
        noun = rng.choice(vocab.CATEGORIES[cat][1])[0]
        seed_i = 2**50 + rng.getrandbits(40)  # world products use seeds below 2**48
        rows.append(_Row(None, f"{rng.choice(vocab.BRANDS)}{rng.choice(vocab.ADJECTIVES)[0]}{noun}",
                         imaging.render_product(seed_i), 90, len(rows)))
    originals = list(rows)
    for _ in range(n_dups):
        src = rng.choice(originals)
        pic, quality = _near_duplicate(rng, src.picture)
        rows.append(_Row(src.product_id, src.title, pic, quality, src.group))
    rng.shuffle(rows)

    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    product_of: dict[str, str | None] = {}
    groups: dict[int, list[str]] = {}
    csv_path = out_dir / "catalog.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sku", "image", "title"])
        for n, row in enumerate(rows, 1):
            sku = f"SKU-{n:05d}"
            rel = f"images/{sku}.jpg"
            (out_dir / rel).write_bytes(imaging.to_jpeg(row.picture, row.quality))
            writer.writerow([sku, rel, row.title])
            product_of[sku] = row.product_id
            groups.setdefault(row.group, []).append(sku)
    dup_groups = sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])
    truth_path = out_dir / "truth.json"
    truth_path.write_text(json.dumps({
        "world_seed": world.config.seed, "catalog_seed": seed,
        "items": product_of, "duplicate_groups": dup_groups,
        "distractors": [s for s, p in product_of.items() if p is None],
    }, ensure_ascii=False, indent=1), encoding="utf-8")
    return GeneratedCatalog(out_dir, csv_path, truth_path, product_of, dup_groups)
