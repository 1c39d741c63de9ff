"""The colour signal: mean colours of a 2×2 grid, packed in one integer, and their comparison.

pHash sees luminance only, so recoloured variants of a product (different SKUs) share it;
chromaticity (each channel's share of R+G+B) tells them apart and ignores brightness.

Example::

    >>> red = pack_colours(bytes([200, 50, 50] * 4))
    >>> colours_agree(np.array([red]), np.array([pack_colours(bytes([50, 50, 200] * 4))]))
    array([False])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GRID = 2  # cells per side
COLOUR_TOLERANCE = 0.02  # max chromaticity difference in any cell and channel (sweep: docs)
CHROMA_DAMPING = 8.0  # added to every channel: near-black cells have no reliable colour
BITS = 7  # per share
LEVELS = (1 << BITS) - 1
DARK = 24  # mean channel value below which a cell's colour is noise
DARK_SHIFT = 2 * BITS * GRID**2


def _shares(rgb: np.ndarray) -> np.ndarray:
    """(…, 3) colours → their chromaticity (each channel's share), damped near black."""
    rgb = rgb.astype(np.float64) + CHROMA_DAMPING
    return rgb / rgb.sum(axis=-1, keepdims=True)


def pack_colours(rgb: bytes | Sequence[int]) -> int:
    """2×2 mean colours (R, G, B per cell, row-major) → 60 bits: per cell the red and green
    shares of R+G+B, 7 bits each (blue is the rest), then one "too dark to tell" bit per
    cell. Brightness drops out here already.
    """
    cells = np.frombuffer(bytes(rgb), dtype=np.uint8).reshape(1, -1, 3)
    return int(pack_colours_many(cells)[0])


def pack_colours_many(cells: np.ndarray) -> np.ndarray:
    """``pack_colours`` of n images at once: (n, GRID², 3) mean colours (any real dtype) →
    (n,) int64."""
    n = cells.shape[0]
    shares = _shares(cells)[..., :2].reshape(n, -1)
    quantised = np.rint(shares * LEVELS).astype(np.int64) << (BITS * np.arange(shares.shape[1], dtype=np.int64))
    dark = (cells.astype(np.float64).sum(axis=2) < 3 * DARK).astype(np.int64)
    return quantised.sum(axis=1) | (dark << (DARK_SHIFT + np.arange(cells.shape[1], dtype=np.int64))).sum(axis=1)


def unpack_colours(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Packed colour signals (int64 array) → (chromaticity (n, 4 cells, 3), dark (n, 4))."""
    packed = np.asarray(packed, dtype=np.int64)
    shifts = BITS * np.arange(2 * GRID**2, dtype=np.int64).reshape(GRID**2, 2)
    rg = ((packed[:, None, None] >> shifts[None]) & LEVELS) / LEVELS
    dark = (packed[:, None] >> (DARK_SHIFT + np.arange(GRID**2))) & 1
    return np.concatenate([rg, 1.0 - rg.sum(axis=-1, keepdims=True)], axis=-1), dark.astype(bool)


def colours_agree(a: np.ndarray, b: np.ndarray, tolerance: float = COLOUR_TOLERANCE) -> np.ndarray:
    """Elementwise: do two colour signals (``pack_colours``) have the same chromaticity in
    every grid cell bright enough in both, within ``tolerance``? A negative value (no
    signal) agrees with everything.
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    (ca, da), (cb, db) = unpack_colours(np.maximum(a, 0)), unpack_colours(np.maximum(b, 0))
    diff = np.abs(ca - cb).max(axis=2)
    diff[da | db] = 0.0
    return (diff.max(axis=1) <= tolerance) | (a < 0) | (b < 0)
