"""Perceptual hashes of images: pHash (imagehash-compatible bits) plus a colour signal, fast.

Speed comes from JPEG draft decoding (libjpeg scales by 1/2, 1/4 or 1/8 while decoding, so
an 800×800 JPEG is decoded at 100×100), from batches (a worker decodes BATCH images, then
does the array work for all same-size drafts at once: on a draft, per-call overhead was most
of that work), from resizing drafts with matrix products that reproduce Pillow's fixed-point
LANCZOS, and from a process pool (one BLAS thread per worker: BLAS threads only fight the
pool). The bits are those of
``imagehash.phash`` on the same decoded image: ``convert("L")``, LANCZOS to 32×32, 2-D
DCT-II, the 8×8 low frequencies compared with their median, row-major, first bit most
significant. Draft decoding moves a few bits at most (measured in docs/dedupe.md).

Before hashing, EXIF orientation is applied, alpha is flattened onto white, CMYK / palette /
16-bit images are brought to 8-bit RGB, and uniform pads or letterboxes are trimmed (padding is
a common edit pHash does not survive on its own).

Example::

    >>> from snapprice.dedupe.hashing import phash_bytes, hamming
    >>> hamming(phash_bytes(open("a.jpg", "rb").read()), phash_bytes(open("b.jpg", "rb").read()))
"""

from __future__ import annotations

import io
import math
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from typing import Protocol, TypeVar

import numpy as np
import simplejpeg
from PIL import Image, ImageOps
from threadpoolctl import ThreadpoolController

from snapprice.dedupe.colour import GRID, pack_colours_many
from snapprice.dedupe.features import DCT_LOW, THUMB, describe_many, median_bits, thumbnails
from snapprice.errors import ImageRejected

# Bump when the bits of phash or colour change for the same image (trimming, colour
# packing): cached records of another version must be recomputed, not compared.
HASH_VERSION = 6
CACHE_CHUNK = 4096  # images hashed between two writes to the hash cache
BATCH = 32  # images a worker decodes, then hashes as one batch (same-size drafts)
HASH_SIDE = 32  # imagehash: hash_size 8 × highfreq_factor 4
DRAFT_SIDE = 64  # smallest side asked of libjpeg; 800 px JPEGs decode at 1/8 (100 px)
REFINE_SIDE = 256  # a pad found on a draft is cut again on a decode this fine (1/2 for 800 px)
TRIM_TOLERANCE = 12  # grey levels a border pixel may differ from the border colour (JPEG noise)
TRIM_MAX_OUTLIERS = 0.02  # share of a border line allowed to be off (dust, ringing)
TRIM_EDGE = 0.5  # share of the line after a band that must differ: a pad's sharp edge
TRIM_MAX_SHARE = 0.3  # a band deeper than this share of the side is picture, not pad
TRIM_PASSES = 3
TRIM_LOOK = 0.04  # share of the side searched past a band for its edge (rounded corners, blur)
TRIM_DRIFT = 5  # grey levels a band may drift inside the tolerance before it may be a gradient
TRIM_STEP = 0.6  # a drift is a step (pad, then backdrop) when two lines make this share of it
_EXIF = b"Exif\x00\x00"  # an APP1 EXIF block: orientation may turn the picture (Pillow's path)
TRIM_SAMPLES = 128  # pixels looked at per border line, at most
DESCRIBE_SIDE = 128  # the descriptor is computed on images reduced to about this side
FAST_SIDE = 128  # images up to this side are resized by matrix products (drafts), larger by Pillow
READ_REUSE = 1 << 20  # files below this size are read into reusable buffers (``_read``; ≤ 40 MB kept a thread)
GRAY_SLAB = 1 << 22  # values of a big image made grey at once (16 MB of float32)
_FIXED = float(1 << 22)  # Pillow's PRECISION_BITS for 8-bit resampling

_LUMA = np.array([19595.0, 38470.0, 7471.0], dtype=np.float32)  # Pillow's RGB → L, 16-bit fixed point
T = TypeVar("T")

ImageSource = bytes | str | os.PathLike[str]
Encoded = bytes | memoryview  # an encoded image, or a view of a worker's read buffer (``_read``)
Into = Callable[[tuple[int, int]], np.ndarray | None]  # a draft's (height, width) → where to decode it
_buffers = threading.local()  # per thread: BATCH reusable read buffers


@dataclass(frozen=True, slots=True)
class HashRecord:
    """The hashes of one image, keyed by the sha256 hex digest of its bytes.

    ``phash`` is unsigned (0 .. 2**64-1); store it with ``to_signed64`` in a BIGINT column.
    ``colour`` is the colour signal (``colour.pack_colours``: chromaticity of a 2×2 grid
    over the trimmed image, 60 bits, non-negative), or None. ``dup`` is the near-duplicate
    descriptor (``dupfeatures.describe_many``: crop-window hashes and a colour thumbnail), or None.
    """

    digest: str
    phash: int
    width: int
    height: int
    nbytes: int
    colour: int | None = None
    dup: bytes | None = None


class HashCache(Protocol):
    """Where hash records persist between runs (PostgreSQL ``image_hash`` in production)."""

    def get_many(self, digests: Sequence[str]) -> dict[str, HashRecord]: ...

    def put_many(self, records: Sequence[HashRecord]) -> None: ...


class MemoryHashCache:
    """A HashCache in a dict: for tests and one-shot command-line runs."""

    def __init__(self) -> None:
        self.records: dict[str, HashRecord] = {}

    def get_many(self, digests: Sequence[str]) -> dict[str, HashRecord]:
        return {d: self.records[d] for d in digests if d in self.records}

    def put_many(self, records: Sequence[HashRecord]) -> None:
        self.records.update((r.digest, r) for r in records)


def to_signed64(value: int) -> int:
    """Unsigned 64-bit hash → the signed value a PostgreSQL BIGINT holds (same bits)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def from_signed64(value: int) -> int:
    """Signed BIGINT from the database → the unsigned 64-bit hash."""
    return value + (1 << 64) if value < 0 else value


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes."""
    return (a ^ b).bit_count()


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


def _shrink(gray: np.ndarray, box: tuple[float, float, float, float], side: int) -> np.ndarray:
    """``Image.resize((side, side), LANCZOS, box=box)`` of small 8-bit gray images (…, h, w),
    as two matrix products (float64 integers 0..255 out).

    Horizontal pass then vertical, each rounded to 8 bits as Pillow does. Pillow may take
    the passes the other way round for tall images, which moves a pixel by one level at most.
    """
    wxt, wy, first, last = _plan(*gray.shape[-2:], box, side)
    return _fixed_round(wy @ _fixed_round(gray[..., first:last, :].astype(np.float64) @ wxt))


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB: alpha onto white, 16-bit scaled (not clipped)."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = float(arr.max()) if arr.size else 0.0
        # Pillow's own convert("L") clips 16-bit values at 255 (a white image); rescale.
        scale = 255.0 / 65535.0 if top > 255 else (255.0 if im.mode == "F" and top <= 1 else 1.0)
        gray = np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if (im.mode == "P" and "transparency" in im.info) or im.mode in ("RGBA", "LA", "PA", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


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


def _cuts(gray: np.ndarray) -> np.ndarray:
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


def _trim_box(gray: np.ndarray) -> tuple[int, int, int, int]:
    """Box (left, top, right, bottom) without uniform pads/letterboxes on any side."""
    h, w = gray.shape
    left, top, right, bottom = 0, 0, w, h
    # Again on what is left: a pad around a plain backdrop comes off in two passes, so the
    # padded copy ends where the unpadded original does.
    for _ in range(TRIM_PASSES):
        cut = _cuts(gray[None, top:bottom, left:right])[0]
        if not cut.any():
            break
        top, bottom, left, right = top + int(cut[0]), bottom - int(cut[1]), left + int(cut[2]), right - int(cut[3])
    return left, top, right, bottom


def _draft_scale(width: int, height: int, side: int) -> int:
    """The 1/scale at which Pillow's ``draft`` decodes a JPEG asked for ``side`` px."""
    most = min(width // side, height // side)
    return next(s for s in (8, 4, 2, 1) if most >= s or s == 1)


def _plain_header(data: Encoded) -> bool:
    """Whether data is a JPEG whose header, walked segment by segment up to the scan, holds no
    EXIF block (searching the bytes for one cost ~25 µs on a 55 kB photo). Anything odd: False."""
    if data[:2] != b"\xff\xd8":
        return False
    pos, end = 2, len(data) - 4
    while pos <= end:
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0xDA:  # start of scan: the header is over
            return True
        elif 0xD0 <= marker <= 0xD9 or marker == 0x01 or (marker == 0xE1 and data[pos + 4:pos + 10] == _EXIF):
            return False  # a marker that has no place here, or EXIF
        else:
            pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return False


def _decode_plain_jpeg(data: Encoded, side: int, into: Into | None = None) -> tuple[np.ndarray, int, int] | None:
    """The common JPEG (YCbCr or grey, no EXIF) decoded by libjpeg-turbo through simplejpeg:
    the same pixels as Pillow's draft, without Pillow's Python-side header parsing (~60 µs).
    ``into`` may give an array of the draft's shape to decode into. None when Pillow has to do
    it (EXIF orientation, CMYK, anything odd, any error).
    """
    if not _plain_header(data):
        return None
    try:
        height, width, colourspace, _ = simplejpeg.decode_jpeg_header(data)
        if colourspace not in ("YCbCr", "Gray") or width * height > (Image.MAX_IMAGE_PIXELS or 0):
            return None
        scale = _draft_scale(width, height, side)
        size = -(-height // scale), -(-width // scale)
        pixels = simplejpeg.decode_jpeg(data, "RGB", min_height=size[0], min_width=size[1],
                                        buffer=None if into is None else into(size))
    except ValueError:
        return None
    return pixels, width, height


def _read(source: ImageSource, slot: int) -> Encoded:
    """The encoded bytes of an image. A file of up to READ_REUSE bytes is read into this
    thread's reusable buffer ``slot`` (0 ≤ slot < BATCH) and comes back as a view of it, valid
    until that slot is read into again: a fresh 55 kB bytes object cost ~40 µs of page faults
    and copying per photo here, reading into a warm buffer ~10 µs."""
    if isinstance(source, bytes):
        return source
    try:
        with open(source, "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size
            if not 0 <= slot < BATCH or size >= READ_REUSE:
                return fh.read()
            slots: list[bytearray] | None = getattr(_buffers, "slots", None)
            if slots is None or len(slots) < BATCH:
                slots = _buffers.slots = [bytearray() for _ in range(BATCH)]
            if len(slots[slot]) <= size:  # one byte more than the file: a file that grew shows
                slots[slot] = bytearray(size + size // 4 + 1)
            view = memoryview(slots[slot])
            n = 0
            while n < len(view) and (got := fh.readinto(view[n:])):
                n += got
            return view[:n] if n < len(view) else bytes(view) + fh.read()
    except OSError as exc:
        raise ImageRejected("corrupt", str(exc)) from exc


def _decode(data: Encoded, side: int, into: Into | None = None) -> tuple[np.ndarray, int, int]:
    """(8-bit RGB pixels (h, w, 3), upright width, upright height); JPEGs drafted to ≥ side px,
    plain ones into the array ``into`` gives for their draft's size, if any."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            fast = _decode_plain_jpeg(data, side, into) if side else None
            if fast is not None:
                return fast
            im = Image.open(io.BytesIO(data))
            width, height = im.size
            orientation = im.getexif().get(0x0112, 1) if "exif" in im.info else 1
            if orientation in (5, 6, 7, 8):  # EXIF orientations that turn the image 90°
                width, height = height, width
            if side and im.format == "JPEG" and im.mode in ("RGB", "L", "YCbCr"):
                im.draft(im.mode if im.mode == "L" else "RGB", (side, side))
            if orientation in (2, 3, 4, 5, 6, 7, 8):
                im = ImageOps.exif_transpose(im)
            im.load()
            return np.asarray(_to_rgb(im)), width, height
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("pixel_bomb", str(exc)) from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageRejected("not_an_image", "no image format Pillow can read") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("corrupt", str(exc)) from exc
    except Exception as exc:  # Pillow's parsers raise more (struct.error on a broken EXIF block)
        raise ImageRejected("corrupt", f"{type(exc).__name__}: {exc}") from exc


def _gray(rgb: np.ndarray) -> np.ndarray:
    """Pillow's ``convert("L")`` of 8-bit RGB pixels (…, h, w, 3): (19595 R + 38470 G + 7471 B +
    2**15) >> 16, as float32 products, exact because every partial sum is an integer below
    2**24. A whole batch of drafts at once; a big image in slabs of rows, so that its float
    copy stays small."""
    rows = max(1, GRAY_SLAB // (rgb[..., 0, :, :].size or 1))
    if rgb.shape[-3] <= rows:
        return _luma(rgb)
    out = np.empty(rgb.shape[:-1], dtype=np.uint8)
    for top in range(0, rgb.shape[-3], rows):
        out[..., top:top + rows, :] = _luma(rgb[..., top:top + rows, :, :])
    return out


def _luma(rgb: np.ndarray) -> np.ndarray:
    acc = rgb.astype(np.float32) @ _LUMA
    acc += 32768.0
    acc *= 1.0 / 65536.0
    return np.floor(acc, out=acc).astype(np.uint8)


def _trimmed(data: Encoded, rgb: np.ndarray, gray: np.ndarray, width: int,
             height: int) -> tuple[np.ndarray, np.ndarray]:
    """(RGB, grey) without its pads of one decoded image on whose border ``_cuts`` found a pad."""
    if max(gray.shape) < max(width, height):
        # A pad was found on a draft: at 1/8 scale one pixel is ~1.5 % of the picture and
        # its edge line blends pad and picture. Cut it on a finer decode (the draft's own box
        # is not needed), then bring the cut picture back to about the draft's scale.
        fine = _decode(data, REFINE_SIDE)[0]
        left, top, right, bottom = _trim_box(_gray(fine))
        cut = fine[top:bottom, left:right]
        factor = max(1, round(fine.shape[1] / rgb.shape[1]))
        cut = np.asarray(Image.fromarray(np.ascontiguousarray(cut)).reduce(factor)) if factor > 1 else cut
    else:
        left, top, right, bottom = _trim_box(gray)
        cut = rgb[top:bottom, left:right]
    return cut, _gray(cut)


def _features(rgb: np.ndarray, gray: np.ndarray,
              untrimmed: Sequence[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """(pHashes, colour signals, descriptors) of b trimmed images of one size: ``rgb``
    (b, h, w, 3), ``gray`` (b, h, w), ``untrimmed`` each one's grey pixels before its cut."""
    b, h, w = gray.shape
    if max(h, w) <= FAST_SIDE:  # drafts: two matrix products for the whole batch
        small = _shrink(gray, (0, 0, w, h), HASH_SIDE)
    else:  # big images (not JPEG): Pillow's sparse kernel is cheaper than dense products
        small = np.stack([np.asarray(Image.fromarray(g).resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS))
                          for g in gray]).astype(np.float64)
    phashes = median_bits((DCT_LOW @ small @ DCT_LOW.T).reshape(b, 64))
    factor = -(-max(h, w) // DESCRIBE_SIDE)  # the descriptor is computed on ~DESCRIBE_SIDE px
    if factor > 1:
        rgb = np.stack([np.asarray(Image.fromarray(x).reduce(factor)) for x in rgb])
        gray = _gray(rgb)
        untrimmed = [None if u is None else np.asarray(Image.fromarray(u).reduce(factor)) for u in untrimmed]
    thumbs = thumbnails(rgb)
    part = THUMB // GRID
    cells = thumbs.reshape(b, GRID, part, GRID, part, 3).mean(axis=(2, 4)).reshape(b, GRID * GRID, 3)
    return phashes, pack_colours_many(cells), describe_many(gray, thumbs, untrimmed)


_Decoded = tuple[str, Encoded, np.ndarray, int, int]  # digest, encoded bytes, RGB pixels, width, height
Result = HashRecord | tuple[str, str, str]  # a record, or (digest, reject reason, detail)


def _records(images: Sequence[_Decoded], rgb: np.ndarray, gray: np.ndarray,
             untrimmed: Sequence[np.ndarray | None]) -> list[Result]:
    phashes, colours, dups = _features(rgb, gray, untrimmed)
    return [HashRecord(digest, int(p), width, height, len(data), int(c), dup)
            for (digest, data, _, width, height), p, c, dup in zip(images, phashes, colours, dups, strict=True)]


_Cut = tuple[_Decoded, np.ndarray, np.ndarray, np.ndarray]  # image, cut RGB, cut grey, grey before


def _finish(images: list[_Decoded], rgb: np.ndarray, trim: bool) -> tuple[list[Result], list[_Cut]]:
    """Records of decoded images of one size (their pixels stacked in ``rgb``), the unpadded
    ones as one batch; the padded ones come back cut, to be batched with others cut to the same
    size (``_records_of_cuts``)."""
    gray = _gray(rgb)
    plain = ~_cuts(gray).any(axis=1) if trim else np.ones(len(images), dtype=bool)
    out: list[Result] = []
    cuts: list[_Cut] = []
    for k in np.flatnonzero(~plain):
        digest, data, _, width, height = images[k]
        try:
            cuts.append((images[k], *_trimmed(data, rgb[k], gray[k], width, height), gray[k]))
        except ImageRejected as exc:  # the finer decode failed
            out.append((digest, exc.reason, exc.detail))
    if not plain.all():
        images = [images[k] for k in np.flatnonzero(plain)]
        rgb, gray = rgb[plain], gray[plain]
    return (out + _records(images, rgb, gray, [None] * len(images)) if images else out), cuts


def _records_of_cuts(cuts: list[_Cut]) -> list[Result]:
    """Records of cut pictures, those of one size as one batch (a catalog padded to one
    format gives many)."""
    same_size: dict[tuple[int, ...], list[_Cut]] = {}
    for cut in cuts:
        same_size.setdefault(cut[1].shape, []).append(cut)
    out: list[Result] = []
    for group in same_size.values():
        out += _records([c[0] for c in group], np.stack([c[1] for c in group]),
                        np.stack([c[2] for c in group]), [c[3] for c in group])
    return out


class _Drafts:
    """The same-size drafts of one ``hash_chunk`` call, each size's pixels in one (n, h, w, 3)
    array that libjpeg decodes into: no array per image and no ``np.stack`` (~30 µs of
    allocating and copying per photo). A size's array is never reused: cut pictures are views."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.pixels: dict[tuple[int, int], np.ndarray] = {}
        self.images: dict[tuple[int, int], list[_Decoded]] = {}

    def row(self, size: tuple[int, int]) -> np.ndarray | None:
        """Where the next draft of this (height, width) goes; None for a big image (alone)."""
        if max(size) > FAST_SIDE:
            return None
        if size not in self.pixels:
            self.pixels[size] = np.empty((self.capacity, *size, 3), dtype=np.uint8)
            self.images[size] = []
        return self.pixels[size][len(self.images[size])]

    def add(self, image: _Decoded) -> tuple[list[_Decoded], np.ndarray] | None:
        """Keep a decoded draft; its size's batch comes back once it is full."""
        size = image[2].shape[:2]
        row = self.row(size)
        assert row is not None, "big images are not batched"
        if not np.may_share_memory(row, image[2]):  # decoded by Pillow, or to another size
            row[...] = image[2]
        self.images[size].append(image)
        return self.pop(size) if len(self.images[size]) == self.capacity else None

    def pop(self, size: tuple[int, int]) -> tuple[list[_Decoded], np.ndarray]:
        images = self.images.pop(size)
        return images, self.pixels.pop(size)[:len(images)]

    def batches(self) -> Iterator[tuple[list[_Decoded], np.ndarray]]:
        while self.images:
            images, pixels = self.pop(next(iter(self.images)))
            if images:  # a size is opened when libjpeg is asked for it, even if it then fails
                yield images, pixels


def hash_chunk(items: Iterable[tuple[str, ImageSource]], *, trim: bool = True,
               draft: bool = True) -> list[Result]:
    """Hash (digest, bytes-or-path) pairs in this process: each image is read and decoded,
    then images of one size go through the array work as one batch (per-call overhead is most
    of the cost on a draft). Returns a record or a (digest, reason, detail) reject per item.
    """
    items = list(items)
    out: list[Result] = []
    cuts: list[_Cut] = []
    drafts = _Drafts(min(len(items), BATCH))

    def finish(images: list[_Decoded], rgb: np.ndarray) -> None:
        done, cut = _finish(images, rgb, trim)
        out.extend(done)
        cuts.extend(cut)

    for slot, (digest, source) in enumerate(items):
        try:
            data = _read(source, slot)
            decoded = (digest, data, *_decode(data, DRAFT_SIDE if draft else 0, drafts.row))
        except ImageRejected as exc:
            out.append((digest, exc.reason, exc.detail))
            continue
        if max(decoded[2].shape[:2]) > FAST_SIDE:  # a big image (not a draft) is not kept waiting
            done, cut = _finish([decoded], decoded[2][None], trim)
            out.extend(done + _records_of_cuts(cut))
        elif (full := drafts.add(decoded)) is not None:
            finish(*full)
    for batch in drafts.batches():
        finish(*batch)
    return out + _records_of_cuts(cuts)


def hash_image(source: ImageSource, digest: str = "", *, trim: bool = True,
               draft: bool = True) -> HashRecord:
    """Decode one image (bytes or path) and compute its HashRecord.

    Raises ImageRejected("corrupt" | "pixel_bomb" | "not_an_image") when it cannot be hashed.
    """
    (result,) = hash_chunk([(digest, source)], trim=trim, draft=draft)
    if isinstance(result, tuple):
        raise ImageRejected(result[1], result[2])
    return result


def phash_bytes(data: bytes, *, trim: bool = True, draft: bool = True) -> int:
    """The 64-bit pHash of an encoded image (unsigned int). Raises ImageRejected."""
    return hash_image(data, trim=trim, draft=draft).phash


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    """The loaded BLAS libraries, found once (a few ms) and inherited by forked workers."""
    return ThreadpoolController()


def _one_blas_thread() -> None:
    """Initializer of workers that are not forked: the matrices here are small, BLAS threads
    would only fight the pool."""
    _blas().limit(limits=1, user_api="blas")


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _pool_context() -> BaseContext:
    """fork while this process has one thread (fast: nothing re-imported); else forkserver.

    Forking a threaded process (Prefect, httpx pools) can copy a held lock into the child;
    forkserver avoids that at the price of importing the caller's main module per worker.
    """
    if os.name != "posix":
        return get_context("spawn")
    if threading.active_count() == 1:
        return get_context("fork")
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(["snapprice.dedupe.hashing"])
    return ctx


def hash_many(
    images: Iterable[tuple[str, ImageSource]],
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
    on_error: Callable[[str, ImageRejected], None] | None = None,
) -> dict[str, HashRecord]:
    """Hash (digest, bytes-or-path) pairs on a process pool; ``workers`` 0 means every core.

    Images that cannot be hashed are left out of the result and passed to ``on_error``.
    ``progress`` is called with the number of images finished since its last call.
    """
    n_workers = workers or default_workers()
    out: dict[str, HashRecord] = {}

    def collect(results: Iterable[Result]) -> None:
        for res in results:
            if isinstance(res, HashRecord):
                out[res.digest] = res
            elif on_error is not None:
                on_error(res[0], ImageRejected(res[1], res[2]))
            if progress is not None:
                progress(1)

    # One BLAS thread here too while the pool runs, so that forked workers inherit it: setting
    # it in a forked worker starts BLAS threads there that spin for ~0.1 s on the pool's cores.
    with _blas().limit(limits=1, user_api="blas"):
        if n_workers == 1:
            for chunk in _chunks(images, BATCH):
                collect(hash_chunk(chunk))
            return out
        ctx = _pool_context()
        init = None if ctx.get_start_method() == "fork" else _one_blas_thread
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=init) as pool:
            for results in pool.map(hash_chunk, _chunks(images, BATCH)):
                collect(results)
    return out


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def hash_with_cache(
    images: Iterable[tuple[str, ImageSource]],
    cache: HashCache,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
    on_error: Callable[[str, ImageRejected], None] | None = None,
) -> tuple[dict[str, HashRecord], int]:
    """Records for every image, hashing only digests the cache lacks; (records, n_computed)."""
    todo = dict(images)
    records = cache.get_many(list(todo))
    missing = [(d, src) for d, src in todo.items() if d not in records]
    if progress is not None and records:
        progress(len(records))
    computed = 0
    # Saved chunk by chunk: a run killed while hashing keeps what it had hashed.
    for start in range(0, len(missing), CACHE_CHUNK):
        fresh = hash_many(missing[start:start + CACHE_CHUNK], workers, progress, on_error)
        if fresh:
            cache.put_many(list(fresh.values()))
        records.update(fresh)
        computed += len(fresh)
    return records, computed
