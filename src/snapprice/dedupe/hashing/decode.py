"""Encoded images to 8-bit RGB pixels: files read into reused buffers, JPEGs decoded as drafts.

libjpeg scales by 1/2, 1/4 or 1/8 while decoding, so an 800×800 JPEG asked for 64 px is
decoded at 100×100. Plain JPEGs (no EXIF, YCbCr or grey) go straight to libjpeg-turbo; the
rest through Pillow, with EXIF orientation applied, alpha flattened onto white and CMYK,
palette or 16-bit images brought to 8-bit RGB.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import simplejpeg
from PIL import Image, ImageOps

from snapprice.errors import ImageRejected

READ_REUSE = 1 << 20  # files below this size are read into reusable buffers (``read_encoded``)
GRAY_SLAB = 1 << 22  # values of a big image made grey at once (16 MB of float32)
_EXIF = b"Exif\x00\x00"  # an APP1 EXIF block: orientation may turn the picture (Pillow's path)
_LUMA = np.array([19595.0, 38470.0, 7471.0], dtype=np.float32)  # Pillow's RGB → L, 16-bit fixed point

ImageSource = bytes | str | os.PathLike[str]
Encoded = bytes | memoryview  # an encoded image, or a view of a thread's read buffer (``read_encoded``)
Into = Callable[[tuple[int, int]], np.ndarray | None]  # a draft's (height, width) → where to decode it
_buffers = threading.local()  # per thread: the reusable read buffers, one per slot


class Decoded(NamedTuple):
    """8-bit RGB pixels (h, w, 3) of an image, a draft for a JPEG, and the image's upright size."""

    pixels: np.ndarray
    width: int
    height: int


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


def _decode_plain_jpeg(data: Encoded, side: int, into: Into | None = None) -> Decoded | None:
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
    return Decoded(pixels, width, height)


def read_encoded(source: ImageSource, slot: int | None = None) -> Encoded:
    """The encoded bytes of an image. With a ``slot``, a file of up to READ_REUSE bytes is read
    into this thread's reusable buffer number ``slot`` and comes back as a view of it, valid
    until that slot is read into again: a fresh 55 kB bytes object cost ~40 µs of page faults
    and copying per photo here, reading into a warm buffer ~10 µs. A buffer keeps up to 1.25 ×
    READ_REUSE bytes for the life of the thread (``hash_chunk`` uses BATCH slots: ≤ 40 MB)."""
    if isinstance(source, bytes):
        return source
    try:
        with open(source, "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size
            if slot is None or size >= READ_REUSE:
                return fh.read()
            slots: list[bytearray] | None = getattr(_buffers, "slots", None)
            if slots is None:
                slots = _buffers.slots = []
            slots.extend(bytearray() for _ in range(slot + 1 - len(slots)))
            if len(slots[slot]) <= size:  # one byte more than the file: a file that grew shows
                slots[slot] = bytearray(size + size // 4 + 1)
            view = memoryview(slots[slot])
            n = 0
            while n < len(view) and (got := fh.readinto(view[n:])):
                n += got
            return view[:n] if n < len(view) else bytes(view) + fh.read()
    except OSError as exc:
        raise ImageRejected("corrupt", str(exc)) from exc


def decode(data: Encoded, side: int, into: Into | None = None) -> Decoded:
    """An image's pixels and size; JPEGs drafted to ≥ side px (0: whole), plain ones into the
    array ``into`` gives for their draft's size, if any. Raises ImageRejected.

    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (800, 600), "navy").save(buf, "JPEG")
    >>> image = decode(buf.getvalue(), 64)  # libjpeg decodes it at 1/8
    >>> image.pixels.shape, image.width, image.height
    ((75, 100, 3), 800, 600)
    """
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
            return Decoded(np.asarray(_to_rgb(im)), width, height)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("pixel_bomb", str(exc)) from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageRejected("not_an_image", "no image format Pillow can read") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("corrupt", str(exc)) from exc
    except Exception as exc:  # Pillow's parsers raise more (struct.error on a broken EXIF block)
        raise ImageRejected("corrupt", f"{type(exc).__name__}: {exc}") from exc


def to_gray(rgb: np.ndarray) -> np.ndarray:
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
