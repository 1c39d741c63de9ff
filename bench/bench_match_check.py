"""Per-SKU match checks: accuracy on the sandbox's own search results, and their cost.

    python bench/bench_match_check.py [--products 300] [--queries 80] [--seed 7]

For each of ``--queries`` products, a merchant's photo is made as the sandbox catalog makes
it (a re-shoot at half strength), the sandbox's visual index is searched with it on every
platform (as its API would answer), and every result picture is scored against the photo:
results of the product itself should pass, the others (look-alikes the search returned, and
ten random listings standing in for a wrongly merged SKU) should not. Prints recall and false
passes at the default ``min_score``, and the cost: features per picture and comparisons per
pair, against naive ``imagehash.phash(Image.open(...))`` of the same pictures in the same
process, and the CPU a search costs in a first run (each picture reduced once, then reused).
"""

from __future__ import annotations

import argparse
import io
import random
import time

import imagehash
import numpy as np
from PIL import Image

from snapprice.sandbox import SandboxConfig, build_world, imaging
from snapprice.sandbox.features import decode, extract
from snapprice.search.match_check import Features, compare, picture_features

MIN_SCORE = 0.5  # [match_check] min_score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--products", type=int, default=300)
    ap.add_argument("--queries", type=int, default=80)
    ap.add_argument("--seed", type=int, default=7, help="the sandbox world's seed")
    args = ap.parse_args()
    t0 = time.perf_counter()
    world = build_world(SandboxConfig(seed=args.seed, n_products=args.products))
    rng = random.Random(3)
    print(f"world of {args.products} products (seed {args.seed}) in {time.perf_counter() - t0:.1f} s")

    pictures: dict[tuple[str, str], bytes] = {}
    features: dict[tuple[str, str], Features] = {}
    feature_s = 0.0
    pos: list[float] = []
    neg: list[float] = []
    compare_s, n_compare, n_results, per_search = 0.0, 0, 0, []

    def listing_features(key: tuple[str, str]) -> tuple[Features, float]:
        nonlocal feature_s
        if key in features:
            return features[key], 0.0
        data = pictures[key] = world.listing_image_bytes(*key)
        t = time.perf_counter()
        features[key] = picture_features(data)
        spent = time.perf_counter() - t
        feature_s += spent
        return features[key], spent

    def score(own: Features, theirs: Features) -> float:
        nonlocal compare_s, n_compare
        t = time.perf_counter()
        s = compare(own, theirs)
        compare_s += time.perf_counter() - t
        n_compare += 1
        return s

    for product in rng.sample(world.products, args.queries):
        v = imaging.random_variant(rng, strength=0.5)
        photo = imaging.to_jpeg(imaging.render_variant(product.seed, v), v.quality)
        own = picture_features(photo)
        query = extract(decode(photo))
        for platform in world.config.platforms:
            rows, _ = world.index.search(query, platform, min_score=0.88)
            cost = 0.0
            for i in rows[:20]:
                x = world.listings[i]
                n_results += 1
                theirs, spent = listing_features((x.platform, x.item_id))
                t = time.perf_counter()
                (pos if x.product_id == product.product_id else neg).append(score(own, theirs))
                cost += spent + time.perf_counter() - t
            per_search.append(cost)
        for x in rng.sample(world.listings, 10):  # a SKU wrongly merged with this one
            if x.product_id != product.product_id:
                neg.append(score(own, listing_features((x.platform, x.item_id))[0]))

    p, n = np.array(pos), np.array(neg)
    print(f"accuracy: {len(p)} results of the product itself, {len(n)} of others; at min_score {MIN_SCORE}:"
          f" recall {np.mean(p >= MIN_SCORE):.4f}, false passes {int(np.sum(n >= MIN_SCORE))}"
          f" (precision {np.sum(p >= MIN_SCORE) / max(1, np.sum(p >= MIN_SCORE) + np.sum(n >= MIN_SCORE)):.4f});"
          f" highest other {n.max():.3f}, lowest own {p.min():.3f}")

    t = time.perf_counter()
    for data in pictures.values():
        imagehash.phash(Image.open(io.BytesIO(data)))
    naive_s = time.perf_counter() - t
    k = len(pictures)
    print(f"cost: features {feature_s / k * 1000:.2f} ms per picture ({k} pictures) ="
          f" {feature_s / naive_s:.2f}x naive imagehash.phash ({naive_s / k * 1000:.2f} ms);"
          f" compare {compare_s / n_compare * 1000:.2f} ms per pair ({n_compare} pairs)")
    print(f"per search: {np.mean(per_search) * 1000:.1f} ms CPU for {n_results / len(per_search):.1f} results"
          f" (mean of {len(per_search)} searches; a picture's features once per run, as the executor"
          " does with an empty cache)")


if __name__ == "__main__":
    main()
