"""Extra near-duplicate features per image: crop-window hashes and a small colour thumbnail.

The 64-bit pHash alone misses crops (a 10 % crop moves 8–16 bits), images whose pads were
trimmed differently, and cannot tell apart products of one template. Per image we keep
(``describe``, 280 bytes in all):

- ``full``: a pHash of the trimmed image (area resize to 32×32, DCT, 8×8 vs median);
- ``untrimmed``: the same of the image before trimming (equal to ``full`` when nothing was cut):
  a query key when two copies of one picture were trimmed differently;
- ``windows``: the same over 9 windows covering 92 % of each side (anchored at start,
  centre, end): a crop of this image finds it by its ``full`` hash;
- ``thumb``: the trimmed image's mean colours on an 8×8 grid (RGB, 192 bytes), the
  verification descriptor (``verify_pairs``): luminance correlation and chromaticity
  difference at the best of 49 small crop alignments.

Pure functions over numpy arrays; the decoding stays in ``hashing``.

Example::

    >>> desc = describe(gray, box, rgb[top:bottom, left:right])
    >>> feats = unpack([desc])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

WINDOW = 0.92  # side share of a crop window: crops of 3–10 % per axis land within ~4 %
THUMB = 8  # thumbnail cells per side
N_HASHES = 11  # full, untrimmed, 9 windows
DESC_BYTES = 8 * N_HASHES + THUMB * THUMB * 3
NCC_MIN = 0.7  # luminance correlation below this: different pictures
CHROMA_TOLERANCE = 0.04  # mean |Δ chromaticity| over bright cells (sweep: docs/dedupe.md)
DARK = 24  # mean channel value below which a cell's colour is noise
DAMPING = 8.0

_N = np.arange(32)
_DCT = np.cos(np.pi * np.arange(8)[:, None] * (2 * _N[None, :] + 1) / 64)
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
    return np.concatenate([_DCT @ _area(n, lo, hi, 32) for lo, hi in spans]).astype(np.float32)


def _bits(low: np.ndarray) -> np.ndarray:
    """(k, 64) low frequencies → k hashes (bit set: above the median), first bit MSB."""
    mid = np.partition(low, (31, 32), axis=1)
    med = (mid[:, 31:32] + mid[:, 32:33]) / 2
    return np.packbits(low > med, axis=1).view(">u8")[:, 0].astype(np.uint64)


def _hashes(gray: np.ndarray, spans: tuple[tuple[float, float], ...]) -> np.ndarray:
    """pHash of every window spans[i] (rows) × spans[j] (columns): one pair of matrix products."""
    h, w = gray.shape
    low = _dct_rows(h, spans) @ gray.astype(np.float32) @ _dct_rows(w, spans).T
    k = len(spans)
    return _bits(low.reshape(k, 8, k, 8).transpose(0, 2, 1, 3).reshape(k * k, 64))


def describe(gray: np.ndarray, box: tuple[int, int, int, int], rgb: np.ndarray) -> bytes:
    """The features of one image: ``gray`` untrimmed (H×W uint8), ``box`` its trim box
    (left, top, right, bottom), ``rgb`` the trimmed image (h×w×3 uint8). DESC_BYTES bytes.
    """
    left, top, right, bottom = box
    trimmed = gray[top:bottom, left:right]
    full = _hashes(trimmed, ((0.0, 1.0),))
    untrimmed = full if trimmed.shape == gray.shape else _hashes(gray, ((0.0, 1.0),))
    hashes = np.concatenate([full, untrimmed, _hashes(trimmed, _SPANS)])
    h, w = rgb.shape[:2]
    rows = (_area(h, 0.0, 1.0, THUMB) @ rgb.reshape(h, w * 3).astype(np.float32)).reshape(THUMB, w, 3)
    thumb = _area(w, 0.0, 1.0, THUMB) @ rows  # (8, 8, 3): each row's w pixels → 8 cells
    return hashes.astype(">u8").tobytes() + np.rint(thumb).astype(np.uint8).tobytes()


@dataclass(frozen=True, slots=True)
class Features:
    """Unpacked ``describe`` output of n images (rows without a descriptor: ``ok`` False)."""

    full: np.ndarray  # (n,) uint64
    untrimmed: np.ndarray  # (n,) uint64
    windows: np.ndarray  # (n, 9) uint64
    thumb: np.ndarray  # (n, 8, 8, 3) float64
    ok: np.ndarray  # (n,) bool


def unpack(descs: Sequence[bytes | None]) -> Features:
    n = len(descs)
    raw = np.zeros((n, DESC_BYTES), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    for i, d in enumerate(descs):
        if d is not None and len(d) == DESC_BYTES:
            raw[i] = np.frombuffer(d, dtype=np.uint8)
            ok[i] = True
    hashes = raw[:, :8 * N_HASHES].copy().view(">u8").astype(np.uint64)
    thumb = raw[:, 8 * N_HASHES:].reshape(n, THUMB, THUMB, 3).astype(np.float64)
    return Features(hashes[:, 0], hashes[:, 1], hashes[:, 2:], thumb, ok)


def _alignment_spans() -> np.ndarray:
    """Area matrices of the spans tried per axis: whole side, then 92 % and 96 % windows."""
    spans = [(0.0, 1.0)]
    for s in (0.92, 0.96):
        spans += [(0.0, s), ((1 - s) / 2, (1 + s) / 2), (1 - s, 1.0)]
    return np.array([_area(THUMB, lo, hi, THUMB) for lo, hi in spans], dtype=np.float64)


_SPAN_MATS = _alignment_spans()  # (7, 8, 8): 7 spans per axis → 49 alignments


def _warp(x: np.ndarray) -> np.ndarray:
    """(p, 8, 8, 3) thumbnails → (p, 49, 8, 8, 3): every window re-sampled to 8×8 (two BLAS calls)."""
    rows = np.tensordot(_SPAN_MATS, x, axes=([2], [1]))  # (7y, 8i, p, 8k, 3)
    both = np.tensordot(rows, _SPAN_MATS, axes=([3], [2]))  # (7y, 8i, p, 3, 7x, 8l)
    k = _SPAN_MATS.shape[0]
    return both.transpose(2, 0, 4, 1, 5, 3).reshape(x.shape[0], k * k, THUMB, THUMB, 3)


def _parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lum = x.mean(axis=-1)
    centred = lum - lum.mean(axis=(-2, -1), keepdims=True)
    centred /= np.sqrt((centred * centred).sum(axis=(-2, -1), keepdims=True)) + 1e-6
    chroma = (x + DAMPING) / (x + DAMPING).sum(axis=-1, keepdims=True)
    return centred, chroma, lum > DARK


def pair_scores(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For thumbnails a[k], b[k] (p×8×8×3): the best luminance correlation over crop
    alignments (a window of one against the whole other, both ways) and the mean
    chromaticity difference over cells bright in both at that alignment.
    """
    ncc_out, chroma_out = np.empty(len(a)), np.empty(len(a))
    for s in range(0, len(a), chunk):
        x_all, y_all = a[s:s + chunk], b[s:s + chunk]
        best_n = np.full(len(x_all), -2.0)
        best_c = np.full(len(x_all), np.inf)
        for x, y in ((x_all, y_all), (y_all, x_all)):
            lx, cx, bx = _parts(_warp(x))
            ly, cy, by = _parts(y[:, None])
            ncc = (lx * ly).sum(axis=(-2, -1))
            both = bx & by
            diff = (np.abs(cx - cy).sum(axis=-1) * both).sum(axis=(-2, -1)) / np.maximum(
                both.sum(axis=(-2, -1)), 1)
            at = ncc.argmax(axis=1)
            n = ncc[np.arange(len(x)), at]
            better = n > best_n
            best_n[better] = n[better]
            best_c[better] = diff[np.arange(len(x)), at][better]
        ncc_out[s:s + chunk], chroma_out[s:s + chunk] = best_n, best_c
    return ncc_out, chroma_out


def verify_pairs(feats: Features, i: np.ndarray, j: np.ndarray, *, ncc_min: float = NCC_MIN,
                 chroma_tolerance: float = CHROMA_TOLERANCE) -> np.ndarray:
    """Which candidate pairs (i[k], j[k]) are the same picture by their thumbnails."""
    if i.size == 0:
        return np.zeros(0, dtype=bool)
    ncc, chroma = pair_scores(feats.thumb[i], feats.thumb[j])
    return (ncc >= ncc_min) & (chroma <= chroma_tolerance)
