"""Uniform pads and letterboxes on grey images: how deep each side's is, the box without them.

Padding is a common edit that pHash does not survive on its own, so pads are cut before hashing.
"""

from __future__ import annotations

import math

import numpy as np

TRIM_TOLERANCE = 12  # grey levels a border pixel may differ from the border colour (JPEG noise)
TRIM_MAX_OUTLIERS = 0.02  # share of a border line allowed to be off (dust, ringing)
TRIM_EDGE = 0.5  # share of the line after a band that must differ: a pad's sharp edge
TRIM_MAX_SHARE = 0.3  # a band deeper than this share of the side is picture, not pad
TRIM_PASSES = 3
TRIM_LOOK = 0.04  # share of the side searched past a band for its edge (rounded corners, blur)
TRIM_DRIFT = 5  # grey levels a band may drift inside the tolerance before it may be a gradient
TRIM_STEP = 0.6  # a drift is a step (pad, then backdrop) when two lines make this share of it
TRIM_SAMPLES = 128  # pixels looked at per border line, at most


def _far(lines: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Per line of b images' lines (b, …, n), how many pixels are off that image's ``colour``
    by more than TRIM_TOLERANCE."""
    level = colour.astype(np.int16).reshape(-1, *(1,) * (lines.ndim - 1))
    above = np.minimum(level + TRIM_TOLERANCE, 255).astype(np.uint8)  # 255: none is above
    below = np.maximum(level - TRIM_TOLERANCE, 0).astype(np.uint8)  # 0: none is below
    return np.count_nonzero((lines > above) | (lines < below), axis=-1)  # uint8 compares: 3× faster


def _outer(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For b border lines (b, n: the outermost line of a side of b images): (each line's
    median grey level, whether it is uniform: at most TRIM_MAX_OUTLIERS of it off that level)."""
    half = lines.shape[1] // 2
    middle = np.partition(lines, half, axis=1)[:, half]  # np.median: 5× slower
    return middle, _far(lines, middle) <= TRIM_MAX_OUTLIERS * lines.shape[1]


def _look(n: int) -> int:
    """Lines past a band searched for its edge, for a side of n lines: a share of the side, so
    that a copy at another scale sees the same edge (a rounded corner covers a growing part of
    the first lines; at 1/8 scale the edge line blends pad and picture)."""
    return max(2, math.ceil(TRIM_LOOK * n))


def pad_depths(gray: np.ndarray) -> np.ndarray:
    """(b, 4) lines to cut (top, bottom, left, right) from b images of one size (b, h, w), by
    one pass of ``_bands`` over all four sides of the whole batch at once."""
    b, h, w = gray.shape
    if min(h, w) < 16:
        return np.zeros((b, 4), dtype=np.intp)

    def near(lines: np.ndarray) -> np.ndarray:  # what a band may cover and where its edge is
        n, pixels = lines.shape[1:]  # long lines (finer decodes) are sampled
        return lines[:, :int(TRIM_MAX_SHARE * n) + _look(n), ::max(1, pixels // TRIM_SAMPLES)]

    across = gray.transpose(0, 2, 1)
    rows = np.concatenate([near(gray), near(gray[:, ::-1])])  # top, bottom
    cols = np.concatenate([near(across), near(across[:, ::-1])])  # left, right
    # A square's four sides go as one batch.
    depths = (_bands(np.concatenate([rows, cols]), h) if h == w
              else np.concatenate([_bands(rows, h), _bands(cols, w)]))
    return depths.reshape(4, b).T


def _bands(near: np.ndarray, n: int) -> np.ndarray:
    """For the first lines of b image sides (b, lines, pixels; outermost first; n lines in
    each whole side): how many to cut, a uniform band that ends at a sharp full-width edge.

    A pad or letterbox ends where the picture starts across the whole side; a plain
    background around an object does not (the object covers part of a line), so product
    shots are not cut down to their object, which a watermark or a shadow would move.
    """
    depths = np.zeros(near.shape[0], dtype=np.intp)
    middle, uniform = _outer(near[:, 0])
    todo = np.flatnonzero(uniform)  # the others decided from one line: no band on this side
    if todo.size == 0:
        return depths
    colour, near = middle[todo], near[todo]
    extra = _look(n)
    off = _far(near, colour) / near.shape[2]
    inside = off > TRIM_MAX_OUTLIERS
    depth = inside.argmax(axis=1)  # the first line of the picture
    after = np.concatenate([off, np.full((len(todo), extra), -1.0)], axis=1)  # past the lines looked at
    window = np.take_along_axis(after, depth[:, None] + np.arange(extra), axis=1)
    edge = depth + window.argmax(axis=1)
    cut = inside.any(axis=1) & (window.max(axis=1) >= TRIM_EDGE) & (depth <= TRIM_MAX_SHARE * n)
    for i in np.flatnonzero(cut & (depth > 3)):
        cut[i] = not _gradual(near[i, :depth[i]], int(colour[i]), near[i, edge[i]])
    depths[todo[cut]] = depth[cut]
    return depths


def _gradual(band: np.ndarray, colour: int, edge: np.ndarray) -> bool:
    """Whether a band of this border colour is a smooth gradient (sky, vignette) that the
    tolerance sliced, not a pad.

    A gradient drifts line by line and goes on past the "edge" in steps no bigger than its
    drift, so where it is cut depends on scale and JPEG noise; a pad (or a pad then a plain
    backdrop) is flat with at most a sharp step, and its edge steps further than it drifts.
    """
    band = band[:-1]  # the last line may blend the edge
    half = band.shape[1] // 2
    tail = band[-max(3, band.shape[0] // 4):].copy()  # where the band ends up
    tail.partition(half, axis=1)
    end = int(np.sort(tail[:, half])[tail.shape[0] // 2])
    drift = abs(end - colour)
    if drift <= TRIM_DRIFT:
        return False  # the common case: a flat pad
    band = band.copy()
    band.partition(half, axis=1)
    levels = band[:, half].astype(int)  # line medians
    if np.abs(levels[2:] - levels[:-2]).max() < TRIM_STEP * drift:
        return True  # no sharp step inside: a gradient
    beyond = edge[np.abs(edge.astype(int) - colour) > TRIM_TOLERANCE]
    return beyond.size > 0 and abs(int(np.median(beyond)) - end) <= drift  # a staircase goes on


def trim_box(gray: np.ndarray) -> tuple[int, int, int, int]:
    """Box (left, top, right, bottom) without uniform pads/letterboxes on any side.

    >>> gray = np.full((100, 120), 255, np.uint8)  # white
    >>> gray[10:90, 20:100] = np.random.default_rng(0).integers(0, 200, (80, 80))  # a picture on it
    >>> trim_box(gray)
    (20, 10, 100, 90)
    """
    h, w = gray.shape
    left, top, right, bottom = 0, 0, w, h
    # Again on what is left: a pad around a plain backdrop comes off in two passes, so the
    # padded copy ends where the unpadded original does.
    for _ in range(TRIM_PASSES):
        cut = pad_depths(gray[None, top:bottom, left:right])[0]
        if not cut.any():
            break
        top, bottom, left, right = top + int(cut[0]), bottom - int(cut[1]), left + int(cut[2]), right - int(cut[3])
    return left, top, right, bottom
