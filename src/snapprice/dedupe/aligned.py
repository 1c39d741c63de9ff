"""Dense check of two aligned pictures: are the object's edges in one explained by the other?

A label variant (the same object with another printed word) keeps most keypoints, so ORB +
RANSAC verifies it; what differs is one compact region of the object where *both* pictures
have edges the other lacks. A transformed copy differs a little everywhere (JPEG, blur,
brightness) or gains the thin strokes of a semi-transparent watermark, under which the
original's edges persist at about half their contrast. So: warp one grey picture onto the
other with the RANSAC similarity transform, match brightness (gain), blur both a little,
and in each cell of a grid over the object count the strong edge pixels of each picture
whose gradient the other picture reproduces (projection ≥ ``EXPLAINED`` of its own).
A cell agrees when either picture's edges are mostly explained (a watermark adds edges to
one picture only), or, where strokes cut the object's outline and neither side is explained,
when one picture is the other under a semi-transparent overlay: every pixel that changed lies
between the other picture's level and one ink level, at most ``OPACITY`` of the way (a label
variant's word flips dark and light at full contrast, which no such overlay does). The pair's
agreement is its worst cell. Only pixels that are off the
backdrop in both pictures (and their surroundings) count, so marks stamped on the backdrop
of one copy do not matter. Tuned on the TUNE hard set only (docs/dedupe.md).

A dark object with a light label, a darker copy of it, and the label with another mark::

    >>> import numpy as np
    >>> im = np.full((120, 120), 240, np.float32)
    >>> im[20:100, 30:90] = 60
    >>> im[40:50, 40:80] = 230
    >>> other = im.copy()
    >>> other[40:50, 40:80] = 60
    >>> other[40:50, 45:50] = 230
    >>> same = np.float32([[1, 0, 0], [0, 1, 0]])
    >>> agreement(im, im * 0.9, same) > 0.9, agreement(im, other, same), agreement(im, 255 - im, same)
    (True, 0.0, 0.0)
"""

from __future__ import annotations

import cv2
import numpy as np

EXPLAINED = 0.3  # an edge pixel is explained when the other gradient projects ≥ this share onto it
EDGE = 80.0  # Sobel magnitude of a strong edge pixel (after the σ 1 blur)
CELL = 16  # cell side in pixels of the ~320 px copy; cells overlap by half
MIN_EDGES = 6  # strong edge pixels a cell needs to count
BACKDROP = 10.0  # grey levels from the most common level that are still backdrop
NEAR_OBJECT = 4  # pixels around the object that count too (its outline)
SIDE = 320  # long side of the frame the pictures are compared in
# 10 steps: on 1,500 TUNE pairs as good as 30 at 1e-4 (half-size copies lost 3 % of true pairs)
_ECC_STOP = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 10, 1e-3)
_ERODE = 3  # pixels dropped along the warped picture's edge (interpolation, blur)
# A cell whose edges disagree still agrees when one picture is the other under a
# semi-transparent overlay (a watermark's strokes): every pixel that differs by more than
# CHANGED lies between the other picture's level and one ink level k, at most OPACITY of the
# way (the same k for the whole cell, either picture on top). Needs ≥ MIN_CHANGED such pixels
# and OVERLAID of them explained. A label variant's word flips dark and light at full
# contrast (no single ink, no opacity ≤ 0.6 does that). docs/dedupe.md (TUNE set).
CHANGED = 16.0
OPACITY = 0.6
MIN_CHANGED = 10
OVERLAID = 0.99
_INKS = 16  # ink levels tried: 8, 24, … 248


def _backdrop_free(im: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pixels off the backdrop: further than BACKDROP from the picture's most common level."""
    levels = np.clip(im[valid], 0, 255).astype(np.uint8)
    mode = int(np.bincount(levels, minlength=256).argmax()) if levels.size else 255
    return np.abs(im - mode) > BACKDROP


def _cells(x: np.ndarray) -> np.ndarray:
    """Sums over CELL×CELL cells at a stride of CELL/2 (from the integral image)."""
    s = cv2.integral(x.astype(np.uint8))
    h, w = x.shape
    y0 = np.arange(0, max(1, h - CELL + 1), CELL // 2)
    x0 = np.arange(0, max(1, w - CELL + 1), CELL // 2)
    y1, x1 = np.minimum(y0 + CELL, h), np.minimum(x0 + CELL, w)
    return (s[np.ix_(y1, x1)] - s[np.ix_(y0, x1)] - s[np.ix_(y1, x0)] + s[np.ix_(y0, x0)]).astype(np.float32)


def _overlay_cells(a: np.ndarray, b: np.ndarray, region: np.ndarray, failing: np.ndarray) -> np.ndarray:
    """Which ``failing`` cells (shape of ``_cells``) show one picture as the other under a
    semi-transparent overlay: ≥ MIN_CHANGED pixels differ by more than CHANGED, and one ink
    level k explains ≥ OVERLAID of them as ``under`` + α (k − ``under``), α ≤ OPACITY (the same
    k for the cell; either picture on top). Counted per (CELL/2)² block, only in failing cells."""
    half, (ny, nx) = CELL // 2, failing.shape
    near = np.zeros((ny + 1, nx + 1), dtype=bool)  # the blocks of the failing cells
    for dy in (0, 1):
        for dx in (0, 1):
            near[dy:dy + ny, dx:dx + nx] |= failing
    ys, xs = np.nonzero(np.repeat(np.repeat(near, half, 0), half, 1)
                        & region[:(ny + 1) * half, :(nx + 1) * half]
                        & (np.abs(b - a)[:(ny + 1) * half, :(nx + 1) * half] > CHANGED))
    block = (ys // half) * (nx + 1) + xs // half
    size = (ny + 1) * (nx + 1)

    def cells(per_block: np.ndarray) -> np.ndarray:
        blk = per_block.reshape(ny + 1, nx + 1, -1)
        return blk[:ny, :nx] + blk[1:, :nx] + blk[:ny, 1:] + blk[1:, 1:]

    changed = cells(np.bincount(block, minlength=size).astype(np.float32))[:, :, 0]
    step = 256.0 / _INKS
    explained = np.zeros((ny, nx), dtype=np.float32)
    for under, over in ((a[ys, xs], b[ys, xs]), (b[ys, xs], a[ys, xs])):
        r = over - under
        # The inks that explain a pixel: k ≥ under + r / OPACITY when it got lighter, ≤ when darker.
        k = (under + r / OPACITY - step / 2) / step
        first = np.clip(np.ceil(k), 0, _INKS).astype(np.intp)
        last = np.clip(np.floor(k), -1, _INKS - 1).astype(np.intp)
        up, down = (r > 0) & (first < _INKS), (r < 0) & (last >= 0)
        lighter = np.bincount(block[up] * _INKS + first[up], minlength=size * _INKS).astype(np.float32)
        darker = np.bincount(block[down] * _INKS + last[down], minlength=size * _INKS).astype(np.float32)
        per_ink = cells(lighter).cumsum(axis=2) + cells(darker)[:, :, ::-1].cumsum(axis=2)[:, :, ::-1]
        explained = np.maximum(explained, per_ink.max(axis=2))
    return failing & (changed >= MIN_CHANGED) & (explained >= OVERLAID * changed)


def _refined(a: np.ndarray, b: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """The map from ``b``'s pixels to ``a``'s, refined densely (ECC, affine) from the RANSAC
    fit: keypoints cluster on the label, and 1–2 % of scale error moves the object's far
    edges by pixels. The RANSAC map when ECC does not converge."""
    warp = inverse.astype(np.float32)
    try:
        _, warp = cv2.findTransformECC(b, a, warp, cv2.MOTION_AFFINE, _ECC_STOP, None, 5)
    except cv2.error:
        return inverse.astype(np.float32)
    return warp


def agreement(a: np.ndarray, b: np.ndarray, transform: np.ndarray, min_agreement: float = 0.6) -> float:
    """The worst cell's share of explained edge pixels (0 … 1; 1: nothing to compare) between
    grey pictures ``a`` and ``b`` (float or uint8, any sizes), ``transform`` (2×3) taking
    ``a``'s pixel coordinates to ``b``'s."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    # Compare in b's frame at SIDE px (the cell and edge constants are for that scale).
    f = SIDE / max(b.shape)
    h, w = max(1, round(b.shape[0] * f)), max(1, round(b.shape[1] * f))
    b = cv2.resize(b, (w, h), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    transform = np.asarray(transform, dtype=np.float64) * f
    inverse = _refined(a, b, cv2.invertAffineTransform(transform))
    flags = cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(a, inverse, (w, h), flags=cv2.INTER_LINEAR | flags, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.ones_like(a, dtype=np.uint8), inverse, (w, h), flags=cv2.INTER_NEAREST | flags,
                            borderValue=0)
    inside = cv2.erode(inside, np.ones((2 * _ERODE + 1,) * 2, np.uint8)) > 0
    if inside.sum() < CELL * CELL:
        return 1.0
    warped = cv2.GaussianBlur(warped, (0, 0), 1.0)
    b = cv2.GaussianBlur(b, (0, 0), 1.0)
    wa, wb = warped[inside], b[inside]
    gain = float(((wa - wa.mean()) * (wb - wb.mean())).mean() / max(float(wa.var()), 1e-6))
    if gain <= 0:  # brightness runs the other way: not a copy (and no edges would be left to compare)
        return 0.0
    obj = (_backdrop_free(warped, inside) & _backdrop_free(b, inside)).astype(np.uint8)
    near = cv2.dilate(obj, np.ones((2 * NEAR_OBJECT + 1,) * 2, np.uint8)) > 0
    region = inside & near
    warped = warped * gain
    ax, ay = cv2.Sobel(warped, cv2.CV_32F, 1, 0), cv2.Sobel(warped, cv2.CV_32F, 0, 1)
    bx, by = cv2.Sobel(b, cv2.CV_32F, 1, 0), cv2.Sobel(b, cv2.CV_32F, 0, 1)
    ea, eb, dot = ax * ax + ay * ay, bx * bx + by * by, ax * bx + ay * by
    strong_a, strong_b = (ea > EDGE * EDGE) & region, (eb > EDGE * EDGE) & region
    n_a, n_b = _cells(strong_a), _cells(strong_b)
    k_a, k_b = _cells(strong_a & (dot >= EXPLAINED * ea)), _cells(strong_b & (dot >= EXPLAINED * eb))
    share_a = np.where(n_a >= MIN_EDGES, k_a / np.maximum(n_a, 1), 1.0)
    share_b = np.where(n_b >= MIN_EDGES, k_b / np.maximum(n_b, 1), 1.0)
    cell = np.maximum(share_a, share_b)
    failing = cell < min_agreement
    if failing.any() and h >= CELL and w >= CELL:  # watermark strokes cut edges: one picture overlaid?
        cell = np.where(_overlay_cells(warped, b, region, failing), 1.0, cell)
    return float(cell.min())
