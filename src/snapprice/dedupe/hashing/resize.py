"""Pillow's 8-bit LANCZOS resize of small grey images, redone as two matrix products per batch.

On a ~100 px draft, Pillow's per-image call overhead was most of the resize; a batch of
same-size drafts goes through the same two products at once, with Pillow's fixed-point
weights and rounding, so the pixels are Pillow's.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_FIXED = float(1 << 22)  # Pillow's PRECISION_BITS for 8-bit resampling
_LANCZOS_SUPPORT = 3.0


def _lanczos(x: np.ndarray) -> np.ndarray:
    """Pillow's LANCZOS kernel (a = 3)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        px = np.pi * x
        value = np.where(x == 0, 1.0, np.sin(px) / px * np.sin(px / 3) / (px / 3))
    return np.where((x >= -3.0) & (x < 3.0), value, 0.0)


@lru_cache(maxsize=512)
def _weights(in_size: int, in0: float, in1: float, out_size: int) -> np.ndarray:
    """(out_size, in_size) matrix of Pillow's 8-bit LANCZOS weights, as float64 integers.

    Pillow's coefficients (libImaging/Resample.c: kernel over the box, normalised per
    output pixel, fixed point with 22 fraction bits), laid out densely so one pass is a
    matrix product. Integer-valued float64 products and sums stay exact (< 2**53).
    """
    scale = (in1 - in0) / out_size
    filterscale = max(scale, 1.0)
    support = _LANCZOS_SUPPORT * filterscale
    centers = in0 + (np.arange(out_size) + 0.5) * scale
    lo = np.maximum((centers - support + 0.5).astype(int), 0)[:, None]
    hi = np.minimum((centers + support + 0.5).astype(int), in_size)[:, None]
    x = np.arange(in_size)[None, :]
    w = np.where((x >= lo) & (x < hi), _lanczos((x - centers[:, None] + 0.5) * (1.0 / filterscale)), 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = np.divide(w, total, out=w, where=total != 0.0)
    out = np.trunc(w * _FIXED + np.where(w < 0, -0.5, 0.5))
    out.setflags(write=False)
    return out


@lru_cache(maxsize=512)
def _plan(h: int, w: int, box: tuple[float, float, float, float], side: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(horizontal weights transposed, vertical weights of the rows used, first row, last row)."""
    left, top, right, bottom = box
    wx, wy = _weights(w, left, right, side), _weights(h, top, bottom, side)
    used = np.flatnonzero(wy.any(axis=0))
    first, last = int(used[0]), int(used[-1]) + 1
    return np.ascontiguousarray(wx.T), np.ascontiguousarray(wy[:, first:last]), first, last


def _fixed_round(acc: np.ndarray) -> np.ndarray:
    """Pillow's rounding of a fixed-point sum back to 8 bits (add half, shift, clip)."""
    acc += _FIXED / 2
    acc *= 1.0 / _FIXED
    return np.clip(np.floor(acc, out=acc), 0, 255, out=acc)


def shrink(gray: np.ndarray, box: tuple[float, float, float, float], side: int) -> np.ndarray:
    """``Image.resize((side, side), LANCZOS, box=box)`` of small 8-bit gray images (…, h, w),
    as two matrix products (float64 integers 0..255 out).

    Horizontal pass then vertical, each rounded to 8 bits as Pillow does. Pillow may take
    the passes the other way round for tall images, which moves a pixel by one level at most.

    >>> from PIL import Image
    >>> gray = np.random.default_rng(0).integers(0, 256, (2, 100, 100), dtype=np.uint8)  # two images
    >>> small = shrink(gray, (0, 0, 100, 100), 32)
    >>> small.shape
    (2, 32, 32)
    >>> pillow = Image.fromarray(gray[1]).resize((32, 32), Image.Resampling.LANCZOS)
    >>> np.array_equal(small[1], np.asarray(pillow))
    True
    """
    wxt, wy, first, last = _plan(*gray.shape[-2:], box, side)
    return _fixed_round(wy @ _fixed_round(gray[..., first:last, :].astype(np.float64) @ wxt))
