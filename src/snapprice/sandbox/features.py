"""Perceptual features of a picture (DCT terms, chromaticity histogram, colour layout) and their similarity."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from snapprice.errors import ImageRejected

WORK = 96  # pictures are shrunk to about this side before anything else
W_DCT, W_HIST, W_LAYOUT = 0.4, 0.2, 0.4
_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP"}


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m.astype(np.float32)


_DCT32 = _dct_matrix(32)


@dataclass(frozen=True, slots=True)
class Features:
    """What the index stores per picture."""

    dct: np.ndarray  # (63,) float32, unit norm: pHash's 8x8 low DCT terms minus DC, unbinarised
    hist: np.ndarray  # (64,) float32, sums to 1: chromaticity (r, g shares), 8x8 bins
    layout: np.ndarray  # (192,) float32, unit norm: 8x8 colour layout, mean removed


def decode(data: bytes, *, max_bytes: int = 10_000_000, max_pixels: int = 40_000_000) -> Image.Image:
    """Decode image bytes into RGB, refusing what no marketplace would accept.

    Raises ``ImageRejected`` with reason ``too_large``, ``not_an_image`` or ``too_many_pixels``.
    """
    if len(data) > max_bytes:
        raise ImageRejected("too_large", f"{len(data)} bytes, limit {max_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.format not in _FORMATS:
                raise ImageRejected("not_an_image", f"format {img.format} is not accepted")
            if img.width * img.height > max_pixels:
                raise ImageRejected("too_many_pixels", f"{img.width}x{img.height}")
            if img.format == "JPEG":
                img.draft("RGB", (WORK * 2, WORK * 2))  # decode at reduced size: 5-10x faster
            img.load()
            return img.convert("RGB")
    except ImageRejected:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning) as exc:
        raise ImageRejected("not_an_image", f"cannot decode ({type(exc).__name__})") from None


def _trim(a: np.ndarray) -> np.ndarray:
    """Strip the light frame (padding plus plain backdrop) around the product.

    One pass with a wide tolerance, so white padding and a light backdrop go together;
    it refuses cuts that would leave less than 45 % of a side (that is not a frame).
    """
    h, w, _c = a.shape
    corners = np.stack([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]])
    ref = np.median(corners, axis=0)
    if np.abs(corners - ref).max() > 40:
        return a  # corners disagree: no uniform frame to strip
    # Channel by channel: numpy reduces a trailing axis of 3 slowly.
    mask = (
        (np.abs(a[..., 0] - ref[0]) > 60)
        | (np.abs(a[..., 1] - ref[1]) > 60)
        | (np.abs(a[..., 2] - ref[2]) > 60)
    )
    rows = np.flatnonzero(mask.sum(axis=1) > 0.06 * w)
    cols = np.flatnonzero(mask.sum(axis=0) > 0.06 * h)
    if rows.size == 0 or cols.size == 0:
        return a
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if (r1 - r0) < h * 0.45 or (c1 - c0) < w * 0.45:
        return a
    if r0 == 0 and c0 == 0 and r1 == h and c1 == w:
        return a
    # One pixel more: resampling blends the frame's edge into the picture.
    return a[r0 + 1 : r1 - 1, c0 + 1 : c1 - 1]


def _resize(a: np.ndarray, n: int) -> np.ndarray:
    img = Image.fromarray(a.astype(np.uint8))
    return np.asarray(img.resize((n, n), Image.Resampling.BOX), dtype=np.float32)


def extract(img: Image.Image) -> Features:
    """Features of one decoded picture."""
    small = img if img.mode == "RGB" else img.convert("RGB")
    factor = max(small.size) // WORK
    if factor >= 2:
        small = small.reduce(factor)  # integer box reduction: much cheaper than resampling
    if max(small.size) > WORK:
        small = small.resize((max(1, small.width * WORK // max(small.size)),
                              max(1, small.height * WORK // max(small.size))), Image.Resampling.BOX)
    a = _trim(np.asarray(small, dtype=np.float32))
    c32 = _resize(a, 32)
    grey = c32 @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    # pHash keeps the signs of these terms against their median; on smooth product shots
    # many terms sit near the median and flip, so the terms themselves are compared.
    dct = (_DCT32 @ grey @ _DCT32.T)[:8, :8].ravel()[1:]
    # Chromaticity (r, g shares of the sum) ignores brightness; weighting by intensity
    # keeps near-black pixels, whose shares are noise, from counting.
    total = c32.sum(axis=2) + 1.0
    rq = np.clip((c32[..., 0] / total) * 8, 0, 7).astype(np.int64)
    gq = np.clip((c32[..., 1] / total) * 8, 0, 7).astype(np.int64)
    hist = np.bincount((rq * 8 + gq).ravel(), weights=np.sqrt(total).ravel(), minlength=64)
    hist = (hist / hist.sum()).astype(np.float32)
    layout = c32.reshape(8, 4, 8, 4, 3).mean(axis=(1, 3)).ravel()
    return Features(dct=_unit(dct), hist=hist, layout=_unit(layout - layout.mean()))


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 1e-6 else np.zeros_like(v)).astype(np.float32)


def similarity(q: Features, dct: np.ndarray, hist: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """Similarity in [0, 1] of ``q`` to many stored pictures (arrays stacked per feature)."""
    # einsum, not @: a matrix-vector product through multithreaded BLAS stalls for
    # milliseconds on a busy two-core machine; einsum's own loop stays near 0.1 ms.
    s_dct = np.clip(np.einsum("ij,j->i", dct, q.dct), 0.0, 1.0)
    s_hist = np.minimum(hist, q.hist).sum(axis=1)
    s_layout = np.clip(np.einsum("ij,j->i", layout, q.layout), 0.0, 1.0)
    return (W_DCT * s_dct + W_HIST * s_hist + W_LAYOUT * s_layout).astype(np.float32)
