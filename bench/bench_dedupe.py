"""Dedupe benchmarks: hashing vs naive imagehash, grouping vs brute force, accuracy sweep.

    python bench/bench_dedupe.py                 # everything (≈ 3 min on 2 cores)
    python bench/bench_dedupe.py --n 300 --skip-1m --skip-accuracy   # quick look
    python bench/bench_dedupe.py --skip-grouping --skip-accuracy     # hashing only
    python bench/bench_dedupe.py --verdict-cache --verdict-db        # pair-verdict cache, cold vs warm
    python bench/bench_dedupe.py --verdict-scale 100000              # the cache's table at 100 k pictures

Ratios are against baselines run in the same process on the same data.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import imagehash
import numpy as np
import polars as pl
from PIL import Image

from dedupe_eval import (
    TRANSFORMS,
    make_transformed_set,
    pairwise_scores,
    photo_tiles,
    recall_by_kind,
    render_scene,
)
from dedupe_hard import REPORT, TUNE, HardParams, make_hard_set
from snapprice.dedupe.features import (
    _SPAN_MATS,
    CHROMA_TOLERANCE,
    DESC_BYTES,
    NCC_MIN,
    THUMB,
    unpack,
    verify_pairs,
)
from snapprice.dedupe.grouping import (
    BAND_BITS,
    DEFAULT_THRESHOLD,
    WINDOW_BAND_BITS,
    WINDOW_RADIUS,
    _candidates,
    candidate_digests,
    group,
)
from snapprice.dedupe.hamming import brute_force_pairs, near_pairs, popcount64
from snapprice.dedupe.hashing import hamming, hash_image, hash_many, to_signed64
from snapprice.dedupe.local import COLOUR_TOLERANCE, MIN_INLIERS, LocalVerifier, MemoryFeatureCache, features_with_cache

T = TypeVar("T")
GROUP_DEFAULTS = {"window_radius": WINDOW_RADIUS, "chroma_tolerance": CHROMA_TOLERANCE, "ncc_min": NCC_MIN}


def _photos() -> list[Path]:
    """Real photos shipped inside scikit-image's wheel, when it is installed."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        return []
    data = Path(spec.origin).parent / "data"
    # motorcycle_right is the stereo twin of motorcycle_left: a true near-duplicate, so it
    # cannot be a distinct base.
    return sorted(p for p in data.iterdir() if p.suffix in (".png", ".jpg")
                  and p.stat().st_size > 20_000 and p.name != "motorcycle_right.png")


def make_jpegs(n: int, folder: Path, kind: str = "photos") -> list[Path]:
    """n JPEGs of 800×800 (Pillow's default quality 75): zoomed crops of real photos (dense,
    expensive to entropy-decode) or of generated product-like scenes (plain or gradient
    backdrops with objects, like catalog shots); scenes when scikit-image is missing.
    """
    rng = random.Random(0)
    photos = [Image.open(p).convert("RGB") for p in _photos()] if kind == "photos" else []
    sources = photos or [render_scene(i) for i in range(20)]
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        w, h = src.size
        f = rng.uniform(0.5, 0.95)
        cw, ch = int(w * f), int(h * f)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        path = folder / f"{i:05d}.jpg"
        src.crop((x, y, x + cw, y + ch)).resize((800, 800), Image.Resampling.BILINEAR).save(path)
        out.append(path)
    return out


def _best(repeat: int, fn: Callable[[], T]) -> tuple[float, T]:
    """(best wall time of ``repeat`` runs, last result): other processes only add time."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def bench_hashing(n: int, repeat: int, kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = make_jpegs(n, Path(tmp), kind)
        mean_kb = sum(f.stat().st_size for f in files) / n / 1e3
        print(f"## hashing: {n} JPEGs 800×800, mean {mean_kb:.0f} kB "
              f"({'scikit-image photos' if kind == 'photos' and _photos() else 'generated scenes'})")
        t_naive, naive = _best(
            repeat, lambda: [int(str(imagehash.phash(Image.open(f))), 16) for f in files])
        print(f"naive imagehash.phash(Image.open(f)): {n / t_naive:7.0f} images/s")
        items = [(str(i), str(f)) for i, f in enumerate(files)]
        for workers in (1, 2):
            dt, recs = _best(repeat, lambda w=workers: hash_many(items, workers=w))
            print(f"hash_many workers={workers}: {n / dt:7.0f} images/s  ratio {t_naive / dt:5.1f}×")
        diffs = [hamming(recs[str(i)].phash, naive[i]) for i in range(n)]
        raw = [hamming(hash_image(str(f), trim=False).phash, naive[i]) for i, f in enumerate(files)]
        print(f"bits vs naive, draft only (trim off): max {max(raw)}, mean {np.mean(raw):.3f}")
        print(f"bits vs naive, default (trim on): max {max(diffs)}, mean {np.mean(diffs):.3f}, "
              f"{sum(d > max(raw) for d in diffs)} images trimmed")


def planted_hashes(n: int, seed: int = 0, share: float = 0.1) -> np.ndarray:
    """Random 64-bit hashes; a share of them are copies of others with 0–8 bits flipped."""
    return planted_catalog(n, seed, share)[0]


def _flip(rng: np.random.Generator, h: np.ndarray, most: int) -> np.ndarray:
    """h with 0..most random bits flipped per element (last axis: several hashes per row)."""
    bits = rng.random((*h.shape, 64)) < rng.integers(0, most + 1, size=h.shape[:1] + (1,) * h.ndim) / 64
    return h ^ np.packbits(bits, axis=-1).view(">u8")[..., 0].astype(np.uint64)


def planted_catalog(n: int, seed: int = 0, share: float = 0.1) -> tuple[np.ndarray, list[bytes]]:
    """(pHashes, ``features.describe_many`` descriptors) of n images: random hashes, windows and
    thumbnails for distinct images; a ``share`` of near-duplicates of earlier ones. Half of
    those are re-encodings (hashes with 0–8 bits flipped, windows 0–4, the thumbnail ±6 per
    value), half are crops: the full hash is one of the source's window hashes with 0–4 bits
    flipped and the thumbnail is the source's thumbnail re-sampled over that window.
    """
    rng = np.random.default_rng(seed)
    full = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    windows = rng.integers(0, 2**64 - 1, size=(n, 9), dtype=np.uint64, endpoint=True)
    thumb = rng.integers(0, 256, size=(n, THUMB, THUMB, 3)).astype(np.float32)
    k = int(n * share)
    src = rng.integers(0, n - k, size=k)
    dst = np.arange(n - k, n)
    half = k // 2
    full[dst[:half]] = _flip(rng, full[src[:half]], 8)
    windows[dst[:half]] = _flip(rng, windows[src[:half]], 4)
    thumb[dst[:half]] = thumb[src[:half]] + rng.integers(-6, 7, size=(half, THUMB, THUMB, 3))
    w = rng.integers(0, 9, size=k - half)  # window iy*3+ix; 92 % spans are _SPAN_MATS[1:4]
    full[dst[half:]] = _flip(rng, windows[src[half:], w], 4)
    ry, rx = _SPAN_MATS[1 + w // 3], _SPAN_MATS[1 + w % 3]
    rows = np.matmul(ry, thumb[src[half:]].reshape(-1, THUMB, THUMB * 3)).reshape(-1, THUMB, THUMB, 3)
    thumb[dst[half:]] = np.matmul(rx[:, None], rows)
    raw = np.concatenate([np.stack([full, full], axis=1), windows], axis=1).astype(">u8").view(np.uint8)
    raw = np.concatenate([raw, np.clip(np.rint(thumb), 0, 255).astype(np.uint8).reshape(n, -1)], axis=1)
    assert raw.shape[1] == DESC_BYTES
    return full, [bytes(row) for row in raw]


def _frame(h: np.ndarray, dup: list[bytes] | None = None) -> pl.DataFrame:
    n = h.size
    digests = pl.Series("digest", np.arange(n)).cast(pl.String).str.zfill(12)
    frame = pl.DataFrame({"sku": digests, "digest": digests, "phash": h.view(np.int64),
                          "width": np.full(n, 800), "height": np.full(n, 800)})
    return frame if dup is None else frame.with_columns(pl.Series("dup", dup, dtype=pl.Binary))


def _brute_windows(full: np.ndarray, windows: np.ndarray, radius: int, queries: int) -> float:
    """Seconds a tiled brute-force full-vs-windows search takes, timed on the first
    ``queries`` queries and scaled up."""
    q = full[:queries]
    t = time.perf_counter()
    for a in range(0, q.size, 1024):
        for b in range(0, windows.size, 8192):
            np.nonzero(popcount64(q[a:a + 1024, None] ^ windows[None, b:b + 8192]) <= radius)
    return (time.perf_counter() - t) * full.size / q.size


def bench_grouping(sizes: list[int], radius: int, threads: int, repeat: int) -> None:
    print(f"## grouping at threshold {radius} (band bits {BAND_BITS}), window radius {WINDOW_RADIUS} "
          f"(band bits {WINDOW_BAND_BITS}); random descriptors + 10 % planted near-duplicates "
          "(half re-encodings, half crops)")
    for n in sizes:
        h, dup = planted_catalog(n)
        frame = _frame(h, dup)
        feats = unpack(dup)
        heads = np.arange(n)
        t_pairs, (pi, _) = _best(repeat, partial(near_pairs, h, radius, threads=threads, band_bits=BAND_BITS))
        t_cand, (ca, cb) = _best(repeat, partial(_candidates, h, feats, heads, radius, WINDOW_RADIUS, threads))
        t_verify, kept = _best(repeat, partial(verify_pairs, feats, ca, cb))
        t_group, out = _best(repeat, partial(group, frame, radius, threads=threads))
        t_plain, plain = _best(repeat, partial(group, _frame(h), radius, threads=threads))
        print(f"n={n:>9,}: pHash pairs {t_pairs:6.2f} s ({pi.size:,}); candidates (pHash + windows) "
              f"{t_cand:6.2f} s ({ca.size:,}); verification {t_verify:5.2f} s "
              f"({t_verify / max(ca.size, 1) * 1e6:.1f} µs/pair, {int(kept.sum()):,} kept)")
        print(f"             group() with descriptors {t_group:6.2f} s ({out['group_id'].max() + 1:,} groups; "
              f"planted {int(n * 0.1):,}); pHash only {t_plain:6.2f} s ({plain['group_id'].max() + 1:,} groups)")
        if n <= 100_000:
            t = time.perf_counter()
            bi, _ = brute_force_pairs(h, radius)
            t_brute = time.perf_counter() - t
            t_brute_w = _brute_windows(feats.full, feats.windows.ravel(), WINDOW_RADIUS, 5000)
            print(f"             brute force: pHash {t_brute:6.2f} s ({bi.size:,} pairs: the banded search "
                  f"found {pi.size / max(bi.size, 1):.4f}), windows ≈ {t_brute_w:6.1f} s (5,000 queries "
                  f"timed) → candidates {(t_brute + t_brute_w) / t_cand:5.1f}× faster, "
                  f"group() {(t_brute + t_brute_w) / t_group:5.1f}×")


Knobs = dict[str, float | int | bool | None]
# Accuracy sweep: pHash + colour grid only (the path for rows without a descriptor), then
# the descriptor path around its defaults (threshold, window radius, chroma tolerance, NCC).
SWEEP: list[Knobs] = (
    [{"verify": False, "threshold": th, "colour_tolerance": 0.02} for th in (6, 8, 12)]
    + [{"threshold": th} for th in (6, 8, 10, 12, 14)]
    + [{"threshold": 12, "window_radius": r} for r in (4, 6)]
    + [{"threshold": 12, "window_radius": 8, "window_band_bits": None, "band_bits": None}]
    + [{"threshold": 12, "chroma_tolerance": t} for t in (0.04, 0.05, 0.08, 0.1)]
    + [{"threshold": 12, "ncc_min": c} for c in (0.5, 0.7, 0.8)]
)


def _sweep(frame: pl.DataFrame, truth: list[int], kinds: list[str] | None, sweep: list[Knobs]) -> None:
    cols = list(TRANSFORMS) if kinds else []
    names = ("threshold", "window_radius", "chroma_tolerance", "ncc_min")
    print("| path | threshold | window radius | chroma tol. | NCC min | precision | recall |"
          + "".join(f" {k} |" for k in cols))
    print("|---" * (7 + len(cols)) + "|")
    for knobs in sweep:
        kw = dict(knobs)
        threshold = int(kw.pop("threshold"))  # type: ignore[arg-type]
        out = group(frame, threshold, **kw)  # type: ignore[arg-type]
        pred = out["group_id"].to_list()
        p, r = pairwise_scores(truth, pred)
        by = recall_by_kind(truth, pred, kinds) if kinds else {}
        values = {**GROUP_DEFAULTS, **knobs}
        if knobs.get("verify") is False:
            path, shown = f"pHash + colour {knobs['colour_tolerance']}", [str(threshold), "–", "–", "–"]
        else:
            exact = " exact" if "band_bits" in knobs else ""
            path, shown = "descriptor" + exact, [str(values[k]) for k in names]
        print(f"| {path} | " + " | ".join(shown) + f" | {p:.4f} | {r:.4f} |"
              + "".join(f" {by[k]:.2f} |" for k in cols), flush=True)


def _frame_of(datas: list[bytes]) -> pl.DataFrame:
    recs = hash_many([(f"{i:06d}", d) for i, d in enumerate(datas)])
    rows = [recs[f"{i:06d}"] for i in range(len(datas))]
    return pl.DataFrame({
        "sku": [f"{i:06d}" for i in range(len(rows))], "digest": [r.digest for r in rows],
        "phash": [to_signed64(r.phash) for r in rows], "width": [r.width for r in rows],
        "height": [r.height for r in rows], "colour": [r.colour for r in rows],
        "dup": pl.Series([r.dup for r in rows], dtype=pl.Binary)})


def bench_accuracy(n_scenes: int, sweep: list[Knobs]) -> None:
    photos = photo_tiles(_photos())
    samples = make_transformed_set(n_scenes, photos, seed=1)
    truth = [s.cluster for s in samples]
    print(f"## accuracy: {len(samples)} images, {n_scenes} scenes + {len(photos)} photo bases, "
          f"{max(truth) + 1} true clusters")
    _sweep(_frame_of([s.data for s in samples]), truth, [s.kind for s in samples], sweep)


def bench_sandbox(n_items: int, sweep: list[Knobs]) -> None:
    if importlib.util.find_spec("snapprice.sandbox.catalogs") is None:
        print("## sandbox catalog: snapprice.sandbox.catalogs not in this tree, not evaluated")
        return
    datas, truth = _sandbox_samples(n_items)
    groups = len({t for t in truth if t < len(truth)})  # ids under len(truth): duplicate groups
    print(f"## sandbox catalog: {n_items} items (dup_rate 0.3, distractor_rate 0.1), "
          f"{groups} duplicate groups")
    _sweep(_frame_of(datas), truth, None, sweep)


def largest_wrong_group(truth: list[int], predicted: list[int]) -> int:
    """Images in the largest predicted group that holds more than one true cluster (0: none)."""
    members: dict[int, set[int]] = {}
    sizes: dict[int, int] = {}
    for t, p in zip(truth, predicted, strict=True):
        members.setdefault(p, set()).add(t)
        sizes[p] = sizes.get(p, 0) + 1
    return max((sizes[p] for p, m in members.items() if len(m) > 1), default=0)


def _sandbox_samples(n_items: int) -> tuple[list[bytes], list[int]]:
    from snapprice.sandbox.catalogs import generate_catalog
    from snapprice.sandbox.config import SandboxConfig
    from snapprice.sandbox.world import build_world

    world = build_world(SandboxConfig(n_products=n_items))
    with tempfile.TemporaryDirectory() as tmp:
        cat = generate_catalog(world, Path(tmp), n_items=n_items, seed=1)
        skus = list(cat.product_of)
        cluster = {s: i for i, g in enumerate(cat.duplicate_groups) for s in g}
        truth = [cluster.get(s, len(skus) + i) for i, s in enumerate(skus)]
        datas = [(Path(tmp) / "images" / f"{s}.jpg").read_bytes() for s in skus]
    return datas, truth


Sweep = list[tuple[int, float, bool]]  # (min inliers, colour tolerance, thumbnails checked too)


def bench_verified(name: str, datas: list[bytes], truth: list[int], threshold: int, workers: int,
                   sweep: Sweep) -> None:
    """The stage's path: hash, candidates, local features of images with candidates, groups
    verified on them; P/R and the largest wrong group at each (min inliers, colour tolerance)."""
    frame = _frame_of(datas)
    t = time.perf_counter()
    wanted = candidate_digests(frame, threshold)
    t_cand = time.perf_counter() - t
    sources = dict(zip(frame["digest"].to_list(), datas, strict=True))
    t = time.perf_counter()
    feats = features_with_cache({d: sources[d] for d in sorted(wanted)}, MemoryFeatureCache(), workers)
    t_feat = time.perf_counter() - t
    print(f"## {name}: {len(datas)} images, {len(set(truth))} true clusters; threshold {threshold}: "
          f"{len(wanted)} images with candidates ({t_cand:.2f} s), local features "
          f"{t_feat / max(len(wanted), 1) * 1e3:.1f} ms per image on {workers} workers")
    print("| thumbnails too | min inliers | colour tol. | precision | recall | largest wrong group | pairs verified "
          "| ms per pair |")
    print("|---|---|---|---|---|---|---|---|")
    for min_inl, tol, thumbs in sweep:
        verifier = LocalVerifier(feats, min_inliers=min_inl, colour_tolerance=tol)
        t = time.perf_counter()
        pred = group(frame, threshold, verifier=verifier, thumbnails=thumbs)["group_id"].to_list()
        dt = time.perf_counter() - t
        matched = sum(1 for sc in verifier.scores.values() if sc.inliers or sc.same)
        aligned = sum(1 for sc in verifier.scores.values() if sc.agreement is not None)
        p, r = pairwise_scores(truth, pred)
        worst = largest_wrong_group(truth, pred)
        print(f"| {'yes' if thumbs else 'no'} | {min_inl} | {tol} | {p:.4f} | {r:.4f} | {worst} | "
              f"{len(verifier.scores):,} ({matched:,} past colour, {aligned:,} aligned) | "
              f"{dt / max(len(verifier.scores), 1) * 1e3:.2f} |",
              flush=True)


def bench_hard(which: str, threshold: int, workers: int, sweep: Sweep,
               n_products: int | None = None) -> None:
    params: HardParams = {"tune": TUNE, "report": REPORT}[which]
    if n_products:
        params = replace(params, n_products=n_products)
    samples = make_hard_set(params)
    bench_verified(f"hard set {which.upper()}", [s.data for s in samples], [s.cluster for s in samples],
                   threshold, workers, sweep)


DEFAULT_SWEEP: Sweep = [(MIN_INLIERS, COLOUR_TOLERANCE, False)]  # the defaults of the stage


def bench_verdict_cache(threshold: int, workers: int, repeat: int, n_products: int | None,
                        database: bool) -> None:
    """Grouping of the hard REPORT set with the pair-verdict cache cold (every candidate pair
    verified) and warm (every verdict read), alternating, best of ``repeat``; with ``database``,
    PostgreSQL's read and write too (a scratch database). Local features are in memory already
    (``workers`` compute them): this is the verification alone."""
    import hashlib

    from snapprice.dedupe.verdicts import CachedVerifier, MemoryVerdictCache, verifier_key

    params: HardParams = replace(REPORT, n_products=n_products) if n_products else REPORT
    samples = make_hard_set(params)
    datas = [s.data for s in samples]
    frame = _frame_of(datas).with_columns(  # real digests: pair_verdict keeps raw SHA-256
        pl.Series("digest", [hashlib.sha256(d).hexdigest() for d in datas]))
    wanted = candidate_digests(frame, threshold)
    sources = dict(zip(frame["digest"].to_list(), datas, strict=True))
    feats = features_with_cache({d: sources[d] for d in sorted(wanted)}, MemoryFeatureCache(), workers)

    def scorer(a: list[str], b: list[str]) -> dict[tuple[str, str], object]:
        v = LocalVerifier(feats)
        v(a, b)
        return v.scores

    def grouped(known: dict) -> tuple[float, CachedVerifier, list[int]]:
        verifier = CachedVerifier(known, scorer)
        t = time.perf_counter()
        ids = group(frame, threshold, verifier=verifier)["group_id"].to_list()
        return time.perf_counter() - t, verifier, ids

    memory = MemoryVerdictCache()
    _, first, base_ids = grouped({})
    memory.put_many(first.fresh, verifier_key())
    known = memory.get_many(sorted(wanted), verifier_key())
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    for _ in range(max(1, repeat)):  # alternating, so drifting load hits both alike
        for label, kn in (("cold", {}), ("warm", known)):
            dt, v, ids = grouped(kn)
            assert ids == base_ids, f"{label}: other groups"
            times[label].append(dt)
            if label == "warm":
                assert v.verified == 0
    best = {k: min(v) for k, v in times.items()}
    n_pairs = len(first.fresh)
    print(f"## verdict cache: hard set REPORT, {len(datas)} pictures, {n_pairs:,} candidate pairs verified cold "
          f"(threshold {threshold}), best of {repeat}, alternating")
    print("| grouping | seconds | ms per pair | vs cold |")
    print("|---|---|---|---|")
    for label, dt in best.items():
        print(f"| {label} | {dt:.2f} | {dt / n_pairs * 1e3:.3f} | {best['cold'] / dt:.1f}× |", flush=True)
    if not database:
        return
    import sqlalchemy as sa

    from bench_load import scratch_database
    from snapprice.store.hash_cache import PgVerdictCache

    with scratch_database("snapprice_bench_verdict") as url:
        engine = sa.create_engine(url)
        pg = PgVerdictCache(engine)
        put, get = [], []
        for k in range(max(1, repeat)):
            if k:
                with engine.begin() as conn:
                    conn.exec_driver_sql("TRUNCATE pair_verdict")
            t = time.perf_counter()
            pg.put_many(first.fresh, verifier_key())
            put.append(time.perf_counter() - t)
            t = time.perf_counter()
            got = pg.get_many(sorted(wanted), verifier_key())
            get.append(time.perf_counter() - t)
            assert got.keys() == first.fresh.keys()
        with engine.connect() as conn:
            size = conn.exec_driver_sql("SELECT pg_total_relation_size('pair_verdict')").scalar_one()
        engine.dispose()
    print(f"| PostgreSQL: write {n_pairs:,} verdicts (COPY + INSERT … ON CONFLICT) | {min(put):.2f} | "
          f"{min(put) / n_pairs * 1e3:.3f} | |")
    print(f"| PostgreSQL: read them ({len(wanted):,} digests) | {min(get):.2f} | {min(get) / n_pairs * 1e3:.3f} | |")
    print(f"table and index: {size / n_pairs:.0f} bytes per verdict", flush=True)


def bench_verdict_scale(n_images: int, per_image: int = 40, seed: int = 0) -> None:
    """The verdict cache at catalog scale, in PostgreSQL: ``n_images`` synthetic digests with
    ``per_image`` random partners each (REPORT has ~40 candidate pairs per picture), written
    once (the first run), then read back and answered as a warm run's verifier does."""
    import hashlib

    import sqlalchemy as sa

    from bench_load import scratch_database
    from snapprice.dedupe.local import PairScore
    from snapprice.dedupe.verdicts import CachedVerifier, pair, verifier_key
    from snapprice.store.hash_cache import PgVerdictCache

    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n_images)]
    rng = np.random.default_rng(seed)
    a = np.repeat(np.arange(n_images), per_image)
    b = rng.integers(0, n_images, a.size)
    keep = a != b
    pairs = {pair(digests[i], digests[j]) for i, j in zip(a[keep].tolist(), b[keep].tolist(), strict=True)}
    scores = {k: PairScore(int(n) % 200, 0.5, bool(n % 7 == 0), None if n % 3 else 0.7)
              for n, k in enumerate(sorted(pairs))}
    print(f"## verdict cache at scale: {n_images:,} pictures, {len(scores):,} pairs (PostgreSQL)", flush=True)
    with scratch_database("snapprice_bench_verdict") as url:
        engine = sa.create_engine(url)
        pg = PgVerdictCache(engine)
        t = time.perf_counter()
        pg.put_many(scores, verifier_key())
        put = time.perf_counter() - t
        t = time.perf_counter()
        known = pg.get_many(digests, verifier_key())
        get = time.perf_counter() - t
        assert len(known) == len(scores)
        with engine.connect() as conn:
            size = conn.exec_driver_sql("SELECT pg_total_relation_size('pair_verdict')").scalar_one()
        engine.dispose()
    keys = list(scores)
    verifier = CachedVerifier(known, lambda x, y: {})
    t = time.perf_counter()
    ok, _ = verifier([k[1] for k in keys], [k[0] for k in keys])
    answer = time.perf_counter() - t
    assert verifier.verified == 0 and int(ok.sum()) == sum(s.same for s in scores.values())
    print(f"| write (COPY + INSERT … ON CONFLICT) | {put:.1f} s |\n| read (one query) | {get:.1f} s |\n"
          f"| answer every pair from the cache | {answer:.1f} s |\n"
          f"| table + primary key | {size / 2**20:,.0f} MiB ({size / len(scores):.0f} bytes per verdict) |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000, help="JPEGs for the hashing benchmark")
    ap.add_argument("--radius", type=int, default=DEFAULT_THRESHOLD)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="best of this many timed runs")
    ap.add_argument("--images", choices=("photos", "scenes", "both"), default="both",
                    help="hashing set: real photos (needs scikit-image), product-like scenes, or both")
    ap.add_argument("--skip-hashing", action="store_true")
    ap.add_argument("--skip-grouping", action="store_true")
    ap.add_argument("--skip-1m", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--scenes", type=int, default=200)
    ap.add_argument("--skip-hard", action="store_true", help="skip the hard sets and the sandbox at the defaults")
    ap.add_argument("--hard", choices=("tune", "report", "both"), default="report",
                    help="which hard set (tune on TUNE only; quote REPORT)")
    ap.add_argument("--hard-products", type=int, default=0, help="fewer products for a quick look")
    ap.add_argument("--skip-sandbox", action="store_true", help="no sandbox catalog on the stage's path")
    ap.add_argument("--sweep", action="store_true", help="min inliers × colour tolerance around the defaults")
    ap.add_argument("--verdict-cache", action="store_true",
                    help="only the grouping of the hard REPORT set with a cold vs warm pair-verdict cache")
    ap.add_argument("--verdict-db", action="store_true", help="with --verdict-cache: PostgreSQL read/write too")
    ap.add_argument("--verdict-scale", type=int, default=0, metavar="N",
                    help="only the verdict cache in PostgreSQL for N synthetic pictures × 40 pairs")
    args = ap.parse_args()
    if args.verdict_scale:
        bench_verdict_scale(args.verdict_scale)
        return
    if args.verdict_cache:
        bench_verdict_cache(args.radius, args.threads, args.repeat, args.hard_products or None, args.verdict_db)
        return
    sweep: Sweep = ([(n, t, th) for th in (False, True) for n in (30, 60, 100) for t in (0.4, 0.6)]
                    if args.sweep else DEFAULT_SWEEP)
    if not args.skip_hard:
        for which in ("tune", "report") if args.hard == "both" else (args.hard,):
            bench_hard(which, args.radius, args.threads, sweep, args.hard_products or None)
    if not args.skip_hard and not args.skip_sandbox:
        datas, truth = _sandbox_samples(2000)
        bench_verified("sandbox catalog (2,000 items, seed 1)", datas, truth, args.radius, args.threads, sweep)
    if not args.skip_hashing:
        for kind in ("scenes", "photos") if args.images == "both" else (args.images,):
            bench_hashing(args.n, args.repeat, kind)
    if not args.skip_grouping:
        bench_grouping([100_000] if args.skip_1m else [100_000, 1_000_000], args.radius,
                       args.threads, args.repeat)
    if not args.skip_accuracy:
        bench_accuracy(args.scenes, SWEEP)
        bench_sandbox(2000, SWEEP)


if __name__ == "__main__":
    main()
