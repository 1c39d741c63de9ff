"""Pair verification on local features: ORB keypoints on a small grey copy, and the object's colour.

Hash candidates of one catalog of look-alike products (one bottle in five colours, one box
with other labels) are mostly different products; thumbnails cannot tell them apart. Two
pictures are the same product here when (1) ORB keypoints (``N_KEYPOINTS`` on a copy whose
long side is ``SIDE`` px) match under one similarity transform (RANSAC) with at least
``MIN_INLIERS`` inliers: crops, pads, rescaling and watermarks keep the geometry; and (2) the
a/b histograms (CIELAB) of their coloured pixels (the object: white or light backdrops and
pads are neutral) are within ``COLOUR_TOLERANCE`` in L1: a colour variant has the same keypoints;
and (3) warped onto each other with that transform, the object's edges of one are explained
by the other in every cell, or it is the other under a semi-transparent overlay (a watermark)
(``aligned.agreement`` ≥ ``MIN_AGREEMENT``): a label variant (the same object with another
printed word) passes (1) and (2) but not this.

Features are computed only for images that have hash candidates and cached by content digest
(``LOCAL_VERSION``). Pictures with too little structure for keypoints (blank, flat) compare
by their mean colour alone.

Example: a picture, a crop of it, and the same picture in another colour::

    >>> from PIL import Image, ImageDraw
    >>> def bottle(colour):
    ...     im = Image.new("RGB", (300, 300), "white")
    ...     draw = ImageDraw.Draw(im)
    ...     draw.rounded_rectangle((90, 60, 210, 280), 20, fill=colour)
    ...     draw.rectangle((110, 120, 190, 200), fill="white")
    ...     for k in range(6):
    ...         draw.text((115, 125 + 12 * k), "SNAP 42 ml"[k:], fill="black")
    ...     return im
    >>> red = bottle((200, 30, 30))
    >>> crop = red.crop((10, 10, 290, 290))
    >>> a, b, c = (unpack(describe(np.asarray(x))) for x in (red, crop, bottle((30, 30, 200))))
    >>> score(a, b).same, score(a, c).same
    (True, False)
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from snapprice.dedupe.aligned import agreement
from snapprice.dedupe.hashing.decode import ImageSource, decode, read_encoded
from snapprice.dedupe.hashing.pool import _pool_context, default_workers
from snapprice.errors import ImageRejected

# Bump when the features of an image change: cached ones are recomputed. 2: the grey copy is
# stored too (the aligned check), the object colour is a/b over lightness.
LOCAL_VERSION = 2
SIDE = 320  # long side of the grey copy ORB runs on
N_KEYPOINTS = 500
MIN_INLIERS = 30  # docs/dedupe.md: true pairs of the TUNE set have ≥ 97 at 1 %
COLOUR_TOLERANCE = 0.6  # L1 between the object's a/b histograms (0 … 2)
MIN_AGREEMENT = 0.6  # aligned.agreement of the worst cell; docs/dedupe.md (TUNE set)
_GREY_QUALITY = (90, 75, 50)  # JPEG quality of the stored grey copy, lower while it is too big
_MAX_BYTES = 60_000  # image_feature.data holds at most 65,536 bytes
RATIO = 0.8  # Lowe's ratio test on the two nearest descriptors
RANSAC_PX = 4.0  # reprojection error of an inlier, pixels of the SIDE copy
FLAT_TOLERANCE = 8.0  # flat pictures: largest difference of their mean RGB
_COLOUR_SIDE = 48  # the colour histogram is taken on a copy this small
_LIGHTNESS = 60.0  # a/b are divided by (L + 16) / _LIGHTNESS: the scale of a mid-light colour
_CHROMA = 12.0  # a pixel with this relative chroma or more is coloured: not a white backdrop
_MIN_VIVID = 20  # coloured pixels (of 48×48) a colour histogram needs
_BINS = 9  # a/b histogram nodes per axis, from -80 to 80
_HEAD = struct.Struct("<H3fI")  # keypoint count, mean RGB, bytes of the grey copy (JPEG)


@dataclass(frozen=True, slots=True)
class LocalFeatures:
    """One picture's keypoints (k, 2: x, y on the SIDE copy), ORB descriptors (k, 32 uint8),
    object colour histogram (81 float32, sums to 1), mean RGB, and the grey SIDE copy the
    keypoints are on (JPEG bytes: decoded only for pairs that reach the aligned check)."""

    points: np.ndarray
    descriptors: np.ndarray
    colour: np.ndarray
    mean: np.ndarray
    grey: bytes = b""

    def grey_pixels(self) -> np.ndarray | None:
        if not self.grey:
            return None
        return cv2.imdecode(np.frombuffer(self.grey, np.uint8), cv2.IMREAD_GRAYSCALE)


@dataclass(frozen=True, slots=True)
class PairScore:
    """What two pictures share: RANSAC inliers, the colour histograms' L1, the verdict, and
    the aligned check's agreement (None where it did not run)."""

    inliers: int
    colour: float
    same: bool
    agreement: float | None = None


def _soft_histogram(ab: np.ndarray) -> np.ndarray:
    """Bilinear (soft) histogram of a/b values on a 9×9 grid 20 units apart: a colour at a bin
    edge does not jump between bins when JPEG or brightness moves it a little."""
    u = np.clip((ab + 80.0) / 20.0, 0, _BINS - 1 - 1e-6)
    i0 = u.astype(np.intp)
    f = u - i0
    hist = np.zeros((_BINS, _BINS), dtype=np.float64)
    for di, wi in ((0, 1 - f[:, 0]), (1, f[:, 0])):
        for dj, wj in ((0, 1 - f[:, 1]), (1, f[:, 1])):
            np.add.at(hist, (i0[:, 0] + di, i0[:, 1] + dj), wi * wj)
    return (hist / max(hist.sum(), 1e-9)).ravel().astype(np.float32)


def _object_colour(rgb: np.ndarray) -> np.ndarray:
    """Histogram of the chromatic pixels' a/b (CIELAB) divided by their lightness (a, b and
    L + 16 all scale alike when a copy is made brighter or darker, so the ratio stays: raw a/b
    moved true pairs of the TUNE set with a brightness edit past the tolerance). Pixels with a
    relative chroma ≥ _CHROMA only: white or light backdrops, pads and letterboxes are neutral
    and drop out, so this is the object's colour. All zeros for a picture with (nearly) no colour."""
    small = cv2.resize(np.ascontiguousarray(rgb), (_COLOUR_SIDE, _COLOUR_SIDE), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    ab = lab[:, 1:] * (_LIGHTNESS / (lab[:, :1] + 16.0))
    vivid = np.hypot(ab[:, 0], ab[:, 1]) >= _CHROMA
    if vivid.sum() < _MIN_VIVID:
        return np.zeros(_BINS * _BINS, dtype=np.float32)
    return _soft_histogram(ab[vivid])


def describe(rgb: np.ndarray) -> bytes:
    """The packed local features of an RGB picture (h, w, 3 uint8) of any size."""
    h, w = rgb.shape[:2]
    f = SIDE / max(h, w)
    if f < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    keypoints, desc = _orb().detectAndCompute(gray, None)
    if desc is None:
        desc = np.zeros((0, 32), dtype=np.uint8)
    points = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    mean = rgb.reshape(-1, 3).mean(axis=0)
    body = (np.rint(points * 8).astype("<u2").tobytes() + desc.tobytes()
            + _object_colour(rgb).astype("<f2").tobytes())
    for quality in _GREY_QUALITY:
        grey = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        if _HEAD.size + len(body) + len(grey) <= _MAX_BYTES:
            break
    return _HEAD.pack(len(points), *mean.tolist(), len(grey)) + body + grey


def unpack(data: bytes) -> LocalFeatures:
    """``describe``'s bytes back as arrays."""
    k, *mean, n_grey = _HEAD.unpack_from(data)
    at = _HEAD.size
    points = np.frombuffer(data, "<u2", 2 * k, at).reshape(k, 2).astype(np.float32) / 8
    at += 4 * k
    desc = np.frombuffer(data, np.uint8, 32 * k, at).reshape(k, 32)
    at += 32 * k
    colour = np.frombuffer(data, "<f2", _BINS * _BINS, at).astype(np.float32)
    at += 2 * _BINS * _BINS
    return LocalFeatures(points, desc, colour, np.array(mean, dtype=np.float32), bytes(data[at:at + n_grey]))


_ORB: list[cv2.ORB] = []  # one per process: creating it costs more than a small image's keypoints


def _one_thread() -> None:
    """OpenCV without its own thread pool: the pool runs one worker per core, and a process
    holding OpenCV's (native, unseen by ``threading``) threads must never fork: the children
    hung in a lock (seen when a second catalog was deduped in one process)."""
    cv2.setNumThreads(1)


def _orb() -> cv2.ORB:
    if not _ORB:
        _one_thread()
        _ORB.append(cv2.ORB_create(nfeatures=N_KEYPOINTS))
    return _ORB[0]


def describe_source(source: ImageSource) -> bytes:
    """The local features of an encoded image (bytes or a path). Raises ImageRejected."""
    return describe(decode(read_encoded(source), SIDE).pixels)


def describe_chunk(items: list[tuple[str, ImageSource]]) -> list[tuple[str, bytes | None]]:
    """(digest, features) per (digest, source); None where the image cannot be decoded."""
    out: list[tuple[str, bytes | None]] = []
    for digest, source in items:
        try:
            out.append((digest, describe_source(source)))
        except ImageRejected:
            out.append((digest, None))
    return out


def colour_distance(a: LocalFeatures, b: LocalFeatures) -> float:
    return float(np.abs(a.colour - b.colour).sum())


def match(a: LocalFeatures, b: LocalFeatures) -> tuple[int, np.ndarray | None]:
    """Keypoint matches (ratio test) that one similarity transform explains (RANSAC), and that
    transform (2×3, ``a``'s SIDE copy to ``b``'s; None when too few matches to fit one)."""
    if len(a.descriptors) < 2 or len(b.descriptors) < 2:
        return 0, None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < MIN_INLIERS:
        return len(good), None
    src = a.points[[m.queryIdx for m in good]]
    dst = b.points[[m.trainIdx for m in good]]
    transform, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
    return (0, None) if transform is None else (int(mask.sum()), transform)


def inliers(a: LocalFeatures, b: LocalFeatures) -> int:
    """Keypoint matches (ratio test) that one similarity transform explains (RANSAC)."""
    return match(a, b)[0]


def flat(f: LocalFeatures) -> bool:
    """Too little structure for keypoints (a blank or nearly plain picture)."""
    return len(f.points) < MIN_INLIERS


def score(a: LocalFeatures, b: LocalFeatures, *, min_inliers: int = MIN_INLIERS,
          colour_tolerance: float = COLOUR_TOLERANCE, min_agreement: float = MIN_AGREEMENT) -> PairScore:
    """Whether two pictures are the same product: their colours first (cheap), then keypoints,
    then the aligned check (when both carry a grey copy). Two flat pictures are the same when
    their mean colours agree."""
    colour = colour_distance(a, b)
    if flat(a) or flat(b):
        same = flat(a) and flat(b) and float(np.abs(a.mean - b.mean).max()) <= FLAT_TOLERANCE
        return PairScore(0, colour, same)
    if colour > colour_tolerance:
        return PairScore(0, colour, False)
    n, transform = match(a, b)
    if n < min_inliers or transform is None:
        return PairScore(n, colour, False)
    grey_a, grey_b = a.grey_pixels(), b.grey_pixels()
    if grey_a is None or grey_b is None:
        return PairScore(n, colour, True)
    agree = agreement(grey_a, grey_b, transform, min_agreement)
    return PairScore(n, colour, agree >= min_agreement, round(agree, 3))


class FeatureCache(Protocol):
    """Where local features persist between runs (PostgreSQL ``image_feature`` in production)."""

    def get_many(self, digests: Sequence[str]) -> dict[str, bytes]: ...

    def put_many(self, features: Mapping[str, bytes]) -> None: ...


class MemoryFeatureCache:
    """A FeatureCache in a dict: for tests and one-shot command-line runs."""

    def __init__(self) -> None:
        self.features: dict[str, bytes] = {}

    def get_many(self, digests: Sequence[str]) -> dict[str, bytes]:
        return {d: self.features[d] for d in digests if d in self.features}

    def put_many(self, features: Mapping[str, bytes]) -> None:
        self.features.update(features)


CHUNK = 16  # images a pool worker describes per task


def features_with_cache(sources: Mapping[str, ImageSource], cache: FeatureCache, workers: int = 0,
                        progress: Callable[[int], None] | None = None) -> dict[str, LocalFeatures]:
    """Local features of every digest in ``sources``, describing only those the cache lacks
    (on a process pool; ``workers`` 0: every core). Images that cannot be decoded are left out.

    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO()
    >>> Image.effect_mandelbrot((200, 150), (-2, -1.2, 1, 1.2), 40).convert("RGB").save(buf, "PNG")
    >>> cache = MemoryFeatureCache()
    >>> len(features_with_cache({"a": buf.getvalue()}, cache, workers=1)), list(cache.features)
    (1, ['a'])
    """
    _one_thread()
    raw = cache.get_many(list(sources))
    missing = [(d, src) for d, src in sources.items() if d not in raw]
    if progress is not None and raw:
        progress(len(raw))
    chunks = [missing[k:k + CHUNK] for k in range(0, len(missing), CHUNK)]
    n_workers = min(workers or default_workers(), len(chunks))
    fresh: dict[str, bytes] = {}

    def collect(done: list[tuple[str, bytes | None]]) -> None:
        fresh.update((d, x) for d, x in done if x is not None)
        if progress is not None:
            progress(len(done))

    if n_workers <= 1:
        for chunk in chunks:
            collect(describe_chunk(chunk))
    else:
        with ProcessPoolExecutor(n_workers, mp_context=_pool_context()) as pool:
            for done in pool.map(describe_chunk, chunks):
                collect(done)
    cache.put_many(fresh)
    raw.update(fresh)
    return {d: unpack(x) for d, x in raw.items()}


class LocalVerifier:
    """A ``grouping.PairVerifier`` over local features: digest pairs → (same, inliers).

    A pair with a digest that has no features (its image could not be decoded) is not verified.
    """

    def __init__(self, features: Mapping[str, LocalFeatures], *, min_inliers: int = MIN_INLIERS,
                 colour_tolerance: float = COLOUR_TOLERANCE, min_agreement: float = MIN_AGREEMENT) -> None:
        _one_thread()
        self.features, self.min_inliers, self.colour_tolerance = features, min_inliers, colour_tolerance
        self.min_agreement = min_agreement
        self.scores: dict[tuple[str, str], PairScore] = {}  # every pair verified: the HTML report shows them

    def __call__(self, a: Sequence[str], b: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        ok, inl = np.zeros(len(a), dtype=bool), np.zeros(len(a))
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            fx, fy = self.features.get(x), self.features.get(y)
            if fx is None or fy is None:
                continue
            res = score(fx, fy, min_inliers=self.min_inliers, colour_tolerance=self.colour_tolerance,
                        min_agreement=self.min_agreement)
            self.scores[(x, y) if x < y else (y, x)] = res
            ok[k], inl[k] = res.same, res.inliers
        return ok, inl
