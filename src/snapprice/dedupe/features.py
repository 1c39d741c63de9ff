"""Extra near-duplicate features per image: crop-window hashes and a small colour thumbnail.

The 64-bit pHash alone misses crops (a 10 % crop moves 8–16 bits), images whose pads were
trimmed differently, and cannot tell apart products of one template. Per image we keep
(``describe_many``, 280 bytes in all):

- ``full``: a pHash of the trimmed image (area resize to 32×32, DCT, 8×8 vs median);
- ``untrimmed``: the same of the image before trimming (equal to ``full`` when nothing was cut):
  a query key when two copies of one picture were trimmed differently;
- ``windows``: the same over 9 windows covering 92 % of each side (anchored at start,
  centre, end): a crop of this image finds it by its ``full`` hash;
- ``thumb``: the trimmed image's mean colours on an 8×8 grid (RGB, 192 bytes), the
  verification descriptor (``verify_pairs``): luminance correlation at the best of 49
  crop alignments (whole side or an 80 %/90 % window per axis), and the chromaticity
  difference over the inner 6×6 cells there.

Pure functions over numpy arrays; the decoding stays in ``hashing``.

Example: a picture, a crop of 90 % of each side scaled back (its ``full`` hash is far from
the picture's, 22-24 bits by the Pillow version, but one of the picture's windows is within
a few bits of it), and another picture::

    >>> from PIL import Image
    >>> def tinted(box):  # a picture with detail: a corner of the Mandelbrot set, tinted
    ...     lum = Image.effect_mandelbrot((120, 90), box, 48)
    ...     return Image.merge("RGB", (lum, lum.point(lambda v: v * 0.8), lum.point(lambda v: v * 0.6)))
    >>> picture, other = tinted((-2.0, -1.2, 1.0, 1.2)), tinted((-0.8, -0.2, -0.4, 0.1))
    >>> images = (picture, picture.crop((0, 0, 108, 81)).resize((120, 90)), other)
    >>> rgb = np.stack([np.asarray(im) for im in images])
    >>> gray = np.stack([np.asarray(im.convert("L")) for im in images])
    >>> feats = unpack(describe_many(gray, thumbnails(rgb), [None] * 3))
    >>> bits = lambda a, b: (int(a) ^ int(b)).bit_count()
    >>> bits(feats.full[0], feats.full[1]) > 16, min(bits(w, feats.full[1]) for w in feats.windows[0]) <= 6
    (True, True)
    >>> verify_pairs(feats, np.array([0, 0]), np.array([1, 2]))  # the crop is the picture, not the other
    array([ True, False])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from snapprice.dedupe.colour import CHROMA_DAMPING, DARK

WINDOW = 0.92  # side share of a crop window: crops of 3–10 % per axis land within ~4 %
THUMB = 8  # thumbnail cells per side
N_HASHES = 11  # full, untrimmed, 9 windows
DESC_BYTES = 8 * N_HASHES + THUMB * THUMB * 3
NCC_MIN = 0.6  # luminance correlation below this: different pictures
CHROMA_TOLERANCE = 0.065  # mean |Δ chromaticity| over bright inner cells (sweep: docs/dedupe.md)
# Side shares of the windows tried per axis when aligning two thumbnails (at start, centre,
# end). Two copies trimmed differently (a plain backdrop cut by one, not the other) differ by
# 10–30 % of a side: 80 %/90 % windows lift sandbox recall 0.863 → 0.912 and transformed-set
# recall 0.957 → 0.968 over 92 %/96 % at the same cost, precision unchanged (docs/dedupe.md).
ALIGN_WINDOWS = (0.8, 0.9)

# Unnormalised DCT-II basis rows 0..7 over 32 samples (scipy.fftpack.dct's convention up to
# a factor 2, which the median comparison ignores): pHash's low frequencies.
DCT_LOW = np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(32)[None, :] + 1) / 64)
_SPANS = ((0.0, WINDOW), ((1 - WINDOW) / 2, (1 + WINDOW) / 2), (1 - WINDOW, 1.0))


@lru_cache(maxsize=4096)
def _area(n: int, lo: float, hi: float, m: int) -> np.ndarray:
    """m×n matrix averaging the span [lo, hi) (shares of n pixels) into m cells."""
    edges = n * (lo + (hi - lo) * np.arange(m + 1) / m)
    p = np.arange(n)
    w = np.minimum(edges[1:, None], p + 1) - np.maximum(edges[:-1, None], p)
    w = np.clip(w, 0, None)
    # float32 like the pixels: a mixed-dtype matmul skips BLAS and is ~50× slower.
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


@lru_cache(maxsize=4096)
def _dct_rows(n: int, spans: tuple[tuple[float, float], ...]) -> np.ndarray:
    return np.concatenate([DCT_LOW @ _area(n, lo, hi, 32) for lo, hi in spans]).astype(np.float32)


def median_bits(low: np.ndarray) -> np.ndarray:
    """(k, 64) low frequencies → k hashes (bit set: above the median), first bit MSB: pHash's
    bits (``hashing.batch`` takes the pHash with it)."""
    mid = np.partition(low, (31, 32), axis=1)
    med = (mid[:, 31:32] + mid[:, 32:33]) / 2
    return np.packbits(low > med, axis=1).view(">u8")[:, 0].astype(np.uint64)


def _low(gray: np.ndarray, spans: tuple[tuple[float, float], ...]) -> np.ndarray:
    """(b, k, k, 8, 8) low frequencies of every window spans[i] (rows) × spans[j] (columns) of
    b images (b, h, w): one pair of matrix products."""
    b, h, w = gray.shape
    low = _dct_rows(h, spans) @ gray.astype(np.float32) @ _dct_rows(w, spans).T
    k = len(spans)
    return low.reshape(b, k, 8, k, 8).transpose(0, 1, 3, 2, 4)


_ALL_SPANS = ((0.0, 1.0), *_SPANS)


def thumbnails(rgb: np.ndarray) -> np.ndarray:
    """Mean colours on a THUMB×THUMB grid of b images (b, h, w, 3 uint8): (b, 8, 8, 3) float32."""
    b, h, w, _ = rgb.shape
    rows = (_area(h, 0.0, 1.0, THUMB) @ rgb.reshape(b, h, w * 3).astype(np.float32)).reshape(b, THUMB, w, 3)
    return (rows.transpose(0, 1, 3, 2) @ _area(w, 0.0, 1.0, THUMB).T).transpose(0, 1, 3, 2)


def describe_many(gray: np.ndarray, thumbs: np.ndarray,
                  untrimmed: Sequence[np.ndarray | None]) -> list[bytes]:
    """The features of b images of one size: ``gray`` the trimmed images (b, h, w uint8),
    ``thumbs`` their ``thumbnails``, ``untrimmed[i]`` image i's grey pixels before a pad
    was cut (None: nothing was cut). DESC_BYTES bytes each.
    """
    b = gray.shape[0]
    low = _low(gray, _ALL_SPANS)  # the whole images and their 9 windows in one product
    full = low[:, 0, 0].reshape(b, 1, 64)
    before = full.copy()
    for k, pixels in enumerate(untrimmed):
        if pixels is not None:
            before[k, 0] = _low(pixels[None], ((0.0, 1.0),)).reshape(64)
    hashes = median_bits(np.concatenate([full, before, low[:, 1:, 1:].reshape(b, 9, 64)], axis=1).reshape(-1, 64))
    packed = np.concatenate([hashes.astype(">u8").view(np.uint8).reshape(b, 8 * N_HASHES),
                             np.rint(thumbs).astype(np.uint8).reshape(b, THUMB * THUMB * 3)], axis=1)
    return [row.tobytes() for row in packed]


@dataclass(frozen=True, slots=True)
class Features:
    """Unpacked ``describe_many`` output of n images (rows without a descriptor: ``ok`` False)."""

    full: np.ndarray  # (n,) uint64
    untrimmed: np.ndarray  # (n,) uint64
    windows: np.ndarray  # (n, 9) uint64
    thumb: np.ndarray  # (n, 8, 8, 3) uint8 (made float per chunk of pairs)
    ok: np.ndarray  # (n,) bool


def unpack(descs: Sequence[bytes | None]) -> Features:
    n = len(descs)
    ok = np.fromiter((d is not None and len(d) == DESC_BYTES for d in descs), dtype=bool, count=n)
    raw = np.zeros((n, DESC_BYTES), dtype=np.uint8)
    if ok.any():
        good = b"".join(d for d, g in zip(descs, ok, strict=True) if g)  # type: ignore[misc]
        raw[ok] = np.frombuffer(good, dtype=np.uint8).reshape(-1, DESC_BYTES)
    hashes = raw[:, :8 * N_HASHES].copy().view(">u8").astype(np.uint64)
    thumb = raw[:, 8 * N_HASHES:].reshape(n, THUMB, THUMB, 3)
    return Features(hashes[:, 0], hashes[:, 1], hashes[:, 2:], thumb, ok)


def _alignment_spans() -> np.ndarray:
    """Area matrices of the spans tried per axis: the whole side, then ALIGN_WINDOWS windows."""
    spans = [(0.0, 1.0)]
    for s in ALIGN_WINDOWS:
        spans += [(0.0, s), ((1 - s) / 2, (1 + s) / 2), (1 - s, 1.0)]
    return np.array([_area(THUMB, lo, hi, THUMB) for lo, hi in spans], dtype=np.float32)


_SPAN_MATS = _alignment_spans()  # (7, 8, 8): 7 spans per axis → 49 alignments
_K = _SPAN_MATS.shape[0]
_STACKED = _SPAN_MATS.reshape(_K * THUMB, THUMB)  # (56, 8): every span's rows at once
_SIDE_BY_SIDE = np.ascontiguousarray(_SPAN_MATS.transpose(1, 0, 2).reshape(THUMB, _K * THUMB))  # (8, 56)


@dataclass(frozen=True, slots=True)
class _Aligned:
    """Per image, what the luminance correlation at every alignment needs (float32):
    ``rows`` the rows re-sampled by each span (u, 7, 64: span, cell i*8+column), ``cols``
    the centred, unit luminance with its columns re-sampled by each span (u, 64, 7), and
    ``inv`` one over the norm of the centred luminance of every window (u, 49).
    """

    rows: np.ndarray
    cols: np.ndarray
    inv: np.ndarray


def _luminance(thumb: np.ndarray) -> np.ndarray:
    return thumb.astype(np.float32).mean(axis=-1)


# ‖R x Cᵀ‖² = ⟨(R x)ᵀ(R x), CᵀC⟩ and Σ R x Cᵀ = (Rᵀ1)ᵀ x (Cᵀ1): window norms without warping.
_GRAM = np.ascontiguousarray((_SPAN_MATS.transpose(0, 2, 1) @ _SPAN_MATS).reshape(_K, -1).T)  # (64, 7)
_ONES = _SPAN_MATS.sum(axis=1)  # (7, 8): column sums of each span matrix


def _align(lum: np.ndarray) -> _Aligned:
    """Window statistics of u luminance thumbnails (u, 8, 8), in a few small products per image."""
    u = lum.shape[0]
    rows = np.matmul(_STACKED, lum).reshape(u, _K, THUMB, THUMB)  # span ky's rows of each image
    gram = np.matmul(rows.transpose(0, 1, 3, 2), rows).reshape(u * _K, THUMB * THUMB)
    energy = (gram @ _GRAM).reshape(u, _K, _K)
    total = _ONES @ lum @ _ONES.T  # (u, 7, 7)
    var = np.maximum(energy - total * total / (THUMB * THUMB), 0.0)
    centred = lum - lum.mean(axis=(1, 2), keepdims=True)
    centred /= np.sqrt((centred * centred).sum(axis=(1, 2), keepdims=True)) + 1e-6
    cols = np.matmul(centred, _SIDE_BY_SIDE).reshape(u, THUMB, _K, THUMB).transpose(0, 1, 3, 2)
    return _Aligned(rows.reshape(u, _K, THUMB * THUMB),
                    np.ascontiguousarray(cols).reshape(u, THUMB * THUMB, _K),
                    (1.0 / (np.sqrt(var) + 1e-6)).reshape(u, _K * _K))


# The outer ring of cells is left out of the colour test: crops, pads and a coarse
# alignment change what those cells cover (recall 0.896 → 0.938 on the transformed set).
_INNER = np.zeros((THUMB, THUMB), dtype=bool)
_INNER[1:-1, 1:-1] = True


def _chroma_diff(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Mean |Δ chromaticity| over inner cells bright in both, window ``at`` of x (p, 8, 8, 3
    float32) against the whole of y."""
    p = x.shape[0]
    ry, rx = _SPAN_MATS[at // _K], _SPAN_MATS[at % _K]
    rows = np.matmul(ry, x.reshape(p, THUMB, THUMB * 3)).reshape(p, THUMB, THUMB, 3)
    wx = np.matmul(rx[:, None], rows)  # (p, 8, 8, 3)
    cx = (wx + CHROMA_DAMPING) / (wx + CHROMA_DAMPING).sum(axis=-1, keepdims=True)
    cy = (y + CHROMA_DAMPING) / (y + CHROMA_DAMPING).sum(axis=-1, keepdims=True)
    both = (wx.mean(axis=-1) > DARK) & (y.mean(axis=-1) > DARK) & _INNER
    diff = np.abs(cx - cy).sum(axis=-1)
    return (diff * both).sum(axis=(1, 2)) / np.maximum(both.sum(axis=(1, 2)), 1)


def pair_scores(thumb: np.ndarray, i: np.ndarray, j: np.ndarray,
                chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For the thumbnails of pairs (i[k], j[k]) (``thumb``: n×8×8×3): the best luminance
    correlation over crop alignments (a window of one against the whole other, both ways)
    and the mean chromaticity difference over inner cells bright in both at that alignment.

    The correlation needs no warped image: with y centred, ⟨R x Cᵀ, y⟩ = Σ (R x)·(y C), so
    per pair it is one (7×64)·(64×7) product each way; colours are warped only at the best
    alignment. About 14 µs per pair on one core; memory bounded by ``chunk`` (≈ 25 MB).
    """
    ncc_out, chroma_out = np.empty(len(i)), np.empty(len(i))
    for s in range(0, len(i), chunk):
        x, y = thumb[i[s:s + chunk]].astype(np.float32), thumb[j[s:s + chunk]].astype(np.float32)
        p = len(x)
        fx, fy = _align(_luminance(x)), _align(_luminance(y))
        xy = np.matmul(fx.rows, fy.cols).reshape(p, _K * _K) * fx.inv
        yx = np.matmul(fy.rows, fx.cols).reshape(p, _K * _K) * fy.inv
        at_xy, at_yx = xy.argmax(axis=1), yx.argmax(axis=1)
        n_xy, n_yx = xy[np.arange(p), at_xy], yx[np.arange(p), at_yx]
        flip = n_yx > n_xy
        src, dst = np.where(flip[:, None, None, None], y, x), np.where(flip[:, None, None, None], x, y)
        ncc_out[s:s + p] = np.maximum(n_xy, n_yx)
        chroma_out[s:s + p] = _chroma_diff(src, dst, np.where(flip, at_yx, at_xy))
    return ncc_out, chroma_out


def verify_pairs(feats: Features, i: np.ndarray, j: np.ndarray, *, ncc_min: float = NCC_MIN,
                 chroma_tolerance: float = CHROMA_TOLERANCE) -> np.ndarray:
    """Which candidate pairs (i[k], j[k]) are the same picture by their thumbnails."""
    if i.size == 0:
        return np.zeros(0, dtype=bool)
    ncc, chroma = pair_scores(feats.thumb, i, j)
    return (ncc >= ncc_min) & (chroma <= chroma_tolerance)
