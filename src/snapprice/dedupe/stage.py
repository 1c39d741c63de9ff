"""One dedupe pass over a catalog: read → load images → hash (cached) → group, with rejects.

The command line and the flow both call ``dedupe_catalog``; the caches of hashes, local
features and pair verdicts are injected (in memory for the command line, PostgreSQL
``image_hash``, ``image_feature`` and ``pair_verdict`` in the flow).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import polars as pl

from snapprice.dedupe.grouping import DedupeStats, candidate_digests, dedupe_stats, group
from snapprice.dedupe.hashing import HashCache, ImageSource, hash_with_cache, to_signed64
from snapprice.dedupe.local import (
    FeatureCache,
    LocalFeatures,
    LocalVerifier,
    MemoryFeatureCache,
    PairScore,
    features_with_cache,
)
from snapprice.dedupe.verdicts import (
    DEFAULTS,
    CachedVerifier,
    MemoryVerdictCache,
    Pair,
    VerdictCache,
    VerifierParams,
)
from snapprice.errors import ImageRejected
from snapprice.ingest.catalog import read_catalog
from snapprice.ingest.fetch import image_client
from snapprice.ingest.images import is_url, load_image
from snapprice.models import Reject

Progress = Callable[[str, int, int], None]  # (stage, advance, total)


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """Per-image limits (settings.dedupe)."""

    max_bytes: int = 25_000_000
    max_pixels: int = 60_000_000
    timeout: float = 15.0


@dataclass
class DedupeResult:
    """The grouped frame (catalog columns + digest, phash, group columns), rejects, counts."""

    frame: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    stats: DedupeStats | None = None
    hashed: int = 0  # images hashed now (the rest came from the cache)
    described: int = 0  # images whose local features were needed (a pair of theirs was not cached)
    verified: int = 0  # pairs verified now (the rest came from the verdict cache)
    scores: dict[tuple[str, str], PairScore] = field(default_factory=dict)  # digest pairs verified or cached
    sources: dict[str, ImageSource] = field(default_factory=dict)  # digest → bytes or path (the HTML page)
    # Every SKU of the catalog's usable rows, images that failed to load included: a SKU
    # whose picture is unreachable today is still in the catalog.
    skus: frozenset[str] = frozenset()


class _Loaded(NamedTuple):
    """An image that passed the header checks: its content digest and what to hash (a URL's
    bytes, a local file's path: the hashing workers read it from disk)."""

    digest: str
    source: ImageSource


def _load_all(refs: list[str], limits: ImageLimits, io_threads: int,
              progress: Progress | None) -> dict[str, _Loaded | ImageRejected]:
    """ref → the loaded image or its rejection."""
    out: dict[str, _Loaded | ImageRejected] = {}
    with image_client() as http:  # a deadline per fetch, headers included
        def one(ref: str) -> tuple[str, _Loaded | ImageRejected]:
            try:
                # Header checks only: the hashing workers decode, and report corrupt files.
                img = load_image(ref, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels,
                                 timeout=limits.timeout, http=http, verify=False)
            except ImageRejected as exc:
                return ref, exc
            return ref, _Loaded(img.digest, img.data if is_url(ref) else ref)

        with ThreadPoolExecutor(io_threads) as pool:
            for ref, res in pool.map(one, refs):
                out[ref] = res
                if progress:
                    progress("load", 1, len(refs))
    return out


def _named(sku: str, ref: str, detail: str) -> str:
    """A reject's detail that names the SKU and the file or URL, whatever the loader said."""
    detail = detail.replace(ref, "").strip(" :;,") if ref in detail else detail
    return f"sku {sku}: image {ref!r}" + (f": {detail}" if detail else "")


class _LocalScorer:
    """A ``verdicts.Scorer`` on local features: the features of a pair's pictures are loaded
    (from their cache, else computed) the first time a pair of theirs is not in the verdict
    cache, so a run over an unchanged catalog loads none."""

    def __init__(self, load: Callable[[list[str]], dict[str, LocalFeatures]], params: VerifierParams) -> None:
        self.load, self.params = load, params
        self.features: dict[str, LocalFeatures] = {}
        self.tried: set[str] = set()

    def __call__(self, a: Sequence[str], b: Sequence[str]) -> dict[Pair, PairScore]:
        need = sorted({*a, *b} - self.tried)
        if need:
            self.features.update(self.load(need))
            self.tried.update(need)
        p = self.params
        verifier = LocalVerifier(self.features, min_inliers=p.min_inliers, colour_tolerance=p.colour_tolerance,
                                 min_agreement=p.min_agreement)
        verifier(a, b)
        return verifier.scores


def dedupe_catalog(
    catalog: str | Path,
    cache: HashCache,
    *,
    threshold: int,
    workers: int = 0,
    limits: ImageLimits = ImageLimits(),
    io_threads: int = 8,
    progress: Progress | None = None,
    allow_outside: bool = False,
    limit: int | None = None,
    features: FeatureCache | None = None,
    verdicts: VerdictCache | None = None,
    params: VerifierParams = DEFAULTS,
) -> DedupeResult:
    """Read, load, hash and group a catalog. CatalogError when it cannot be read at all.

    ``allow_outside``: image paths may leave the catalog's folder (``[catalog]``).
    ``limit``: only the first ``limit`` usable rows (a trial run; the others are not read).
    ``features``: the cache of local features (in memory when None); they are computed only
    for images that have hash candidates, and verify those pairs (``local``).
    ``verdicts``: the cache of pair verdicts (in memory when None): read before grouping, the
    pairs verified now written after, so only pairs it lacks are verified; ``params``: the
    verifier's thresholds (their key selects the cached verdicts)."""
    read = read_catalog(catalog, allow_outside=allow_outside)
    source = Path(catalog).name
    rejects = list(read.rejects)
    if limit is not None:
        read = replace(read, items=read.items.head(limit))
    refs = read.items["image_ref"].unique(maintain_order=True).to_list()
    loaded = _load_all(refs, limits, io_threads, progress)

    to_hash = {v.digest: v.source for v in loaded.values() if isinstance(v, _Loaded)}
    failed: dict[str, ImageRejected] = {}
    total = len(to_hash)
    records, hashed = hash_with_cache(
        to_hash.items(), cache, workers,
        progress=(lambda k: progress("hash", k, total)) if progress else None,
        on_error=failed.__setitem__)

    digests, phashes, widths, heights, colours, dups = [], [], [], [], [], []
    keep = []
    for row, sku, ref in read.items.select("row", "sku", "image_ref").iter_rows():
        res = loaded[ref]
        where = f"{source}:row {row}"
        if isinstance(res, ImageRejected):
            rejects.append(Reject("image", where, res.reason, _named(sku, ref, res.detail)))
            continue
        rec = records.get(res.digest)
        if rec is None:
            exc = failed.get(res.digest, ImageRejected("hash_failed", ref))
            rejects.append(Reject("image", where, exc.reason, _named(sku, ref, exc.detail)))
            continue
        keep.append(row)
        digests.append(rec.digest)
        phashes.append(to_signed64(rec.phash))
        widths.append(rec.width)
        heights.append(rec.height)
        colours.append(rec.colour)
        dups.append(rec.dup)
    frame = read.items.filter(pl.col("row").is_in(keep)).with_columns(
        pl.Series("digest", digests, dtype=pl.String),
        pl.Series("phash", phashes, dtype=pl.Int64),
        pl.Series("width", widths, dtype=pl.Int64),
        pl.Series("height", heights, dtype=pl.Int64),
        pl.Series("colour", colours, dtype=pl.Int64),
        pl.Series("dup", dups, dtype=pl.Binary),
    )
    wanted = candidate_digests(frame, threshold)
    verdicts = verdicts if verdicts is not None else MemoryVerdictCache()
    key = params.key()
    feature_cache = features if features is not None else MemoryFeatureCache()

    def load(digests: list[str]) -> dict[str, LocalFeatures]:
        return features_with_cache(
            {d: to_hash[d] for d in digests}, feature_cache, workers,
            progress=(lambda k: progress("verify", k, len(digests))) if progress and len(digests) > 1 else None)

    scorer = _LocalScorer(load, params)
    verifier = CachedVerifier(verdicts.get_many(sorted(wanted), key), scorer)
    grouped = group(frame, threshold, verifier=verifier)
    verdicts.put_many(verifier.fresh, key)
    return DedupeResult(grouped, rejects, dedupe_stats(grouped, rejects), hashed, len(scorer.tried),
                        verifier.verified, verifier.scores, to_hash, frozenset(read.items["sku"].to_list()))
