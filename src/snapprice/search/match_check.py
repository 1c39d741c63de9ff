"""Per-SKU match checks: does a result's picture show the product in a SKU's own picture?

A marketplace re-shoots, crops, borders, watermarks, rescales and recompresses the
merchant's photo, and its visual search also returns other products that merely look
alike (same shape, other colour; same layout, other label). A picture is reduced once to
its *features* (``picture_features``: ORB keypoints of the object, cut from its backdrop,
on a small greyscale copy, and the colour in CIE Lab around each keypoint), kept by content
digest; two pictures are compared with ``compare``: the keypoints must agree under one
similarity transform (RANSAC) and the colours at the agreeing keypoints must be close.
Both tests are needed: keypoints alone accept a colour variant of the same shape, colour
alone accepts another product of that colour.

Example::

    >>> import io
    >>> from PIL import Image, ImageDraw
    >>> def picture(colour):
    ...     im = Image.new("RGB", (320, 320), "white")
    ...     d = ImageDraw.Draw(im)
    ...     d.ellipse((40, 60, 280, 260), fill=colour)
    ...     for i in range(12):
    ...         x, y = 70 + 15 * i, 90 + (37 * i) % 130
    ...         d.rectangle((x, y, x + 9, y + 9), fill="black" if i % 3 else "white")
    ...     buf = io.BytesIO()
    ...     im.save(buf, "JPEG", quality=90)
    ...     return buf.getvalue()
    >>> red = picture_features(picture("red"))
    >>> compare(red, red), compare(red, picture_features(picture("blue")))
    (1.0, 0.0)
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from snapprice.errors import ImageRejected

# Bump when features or their comparison change: cached features of another version are
# computed anew, and stored verdicts stay as they were until the listing is seen again.
FEATURE_VERSION = 1
SIDE = 192  # the object is scaled to fit this square before keypoints are sought
N_KEYPOINTS = 250
_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
_LOCAL = threading.local()  # OpenCV's detector and matcher objects are not shared by threads


def _orb() -> cv2.ORB:
    if not hasattr(_LOCAL, "orb"):
        _LOCAL.orb = cv2.ORB_create(nfeatures=N_KEYPOINTS, fastThreshold=10)
    return _LOCAL.orb


def _matcher() -> cv2.BFMatcher:
    if not hasattr(_LOCAL, "matcher"):
        _LOCAL.matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    return _LOCAL.matcher


@dataclass(frozen=True, slots=True)
class Features:
    """What a picture is compared by; ``to_bytes``/``from_bytes`` for the cache."""

    points: np.ndarray  # (n, 2) float32, keypoint positions in the SIDE square
    descriptors: np.ndarray  # (n, 32) uint8, ORB
    colours: np.ndarray  # (n, 2) uint8, a* and b* (OpenCV's 8-bit Lab) around each keypoint

    def to_bytes(self) -> bytes:
        return (np.uint16(len(self.points)).tobytes() + self.points.astype(np.float32).tobytes()
                + self.descriptors.astype(np.uint8).tobytes() + self.colours.astype(np.uint8).tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Features:
        """The inverse of ``to_bytes``; ValueError when ``data`` is no such record."""
        n = int(np.frombuffer(data[:2], np.uint16)[0]) if len(data) >= 2 else -1
        if n < 0 or len(data) != 2 + n * (8 + 32 + 2):
            raise ValueError("not a match_check feature record")
        points = np.frombuffer(data, np.float32, 2 * n, 2).reshape(n, 2)
        desc = np.frombuffer(data, np.uint8, 32 * n, 2 + 8 * n).reshape(n, 32)
        colours = np.frombuffer(data, np.uint8, 2 * n, 2 + 40 * n).reshape(n, 2)
        return cls(points, desc, colours)


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_FORMATS)
            if im.width * im.height > max_pixels:
                raise ImageRejected("pixel_bomb", f"{im.width}×{im.height} pixels, limit {max_pixels}")
            if getattr(im, "n_frames", 1) > 1:
                raise ImageRejected("animated", f"{im.n_frames} frames")
            im.draft("RGB", (SIDE, SIDE))
            return im.convert("RGB")
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("pixel_bomb", str(exc)) from None
    except Image.UnidentifiedImageError:
        raise ImageRejected("not_an_image", "no JPEG/PNG/GIF/WebP/BMP/TIFF") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("corrupt", str(exc)) from None


def _object_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """The box of what differs from the backdrop (the colour of the picture's rim), found on
    a 64-pixel copy: a letterbox, a border or an empty margin is not part of the product."""
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA)
    rim = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    backdrop = np.median(rim, axis=0).astype(np.uint8)
    differs = cv2.absdiff(small, np.full_like(small, backdrop)).max(axis=2) > 24
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    if len(rows) < 6 or len(cols) < 6:
        return 0, 0, w, h  # blank or nearly so: the whole picture
    return (int(cols[0]) * w // 64, int(rows[0]) * h // 64,
            -(-(int(cols[-1]) + 1) * w // 64), -(-(int(rows[-1]) + 1) * h // 64))


def picture_features(data: bytes, *, max_pixels: int = 16_000_000) -> Features:
    """Features of encoded picture bytes; ImageRejected when they cannot be decoded."""
    try:
        return _features(np.asarray(_decode(data, max_pixels)))
    except cv2.error as exc:
        raise ImageRejected("corrupt", f"OpenCV: {str(exc).strip().splitlines()[-1][:200]}") from None


def _features(obj: np.ndarray) -> Features:
    for _ in range(2):  # a border around a backdrop: both go
        x0, y0, x1, y1 = _object_box(obj)
        obj = np.ascontiguousarray(obj[y0:y1, x0:x1])
    scale = SIDE / max(obj.shape[:2])
    size = (max(8, round(obj.shape[1] * scale)), max(8, round(obj.shape[0] * scale)))
    obj = cv2.resize(obj, size, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(obj, cv2.COLOR_RGB2GRAY)
    keypoints, desc = _orb().detectAndCompute(grey, None)
    if desc is None or not keypoints:
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8),
                        np.zeros((0, 2), np.uint8))
    points = np.array([k.pt for k in keypoints], np.float32)
    radius = np.array([k.size for k in keypoints], np.float32) / 2
    # The mean colour (a*, b* in Lab) over each keypoint's own patch, whose size follows the
    # scale it was found at: compared only where the two pictures' keypoints agree, so a
    # backdrop or a border never counts, and a picture shot larger samples the same area.
    ii = cv2.integral(cv2.cvtColor(obj, cv2.COLOR_RGB2LAB))[:, :, 1:]
    x0 = np.clip(points[:, 0] - radius, 0, size[0] - 1).astype(np.int32)
    y0 = np.clip(points[:, 1] - radius, 0, size[1] - 1).astype(np.int32)
    x1 = np.clip(points[:, 0] + radius + 1, x0 + 1, size[0]).astype(np.int32)
    y1 = np.clip(points[:, 1] + radius + 1, y0 + 1, size[1]).astype(np.int32)
    sums = ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]
    area = ((x1 - x0) * (y1 - y0)).astype(np.float64)[:, None]
    return Features(points, desc, np.clip(np.rint(sums / area), 0, 255).astype(np.uint8))


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where the score is 0.5 (``[match_check]`` min_inliers, max_colour_shift)."""

    min_inliers: int = 15
    max_colour: float = 20.0  # median |Δa*| + |Δb*| over the inliers, in OpenCV's 8-bit Lab


def _inliers(a: Features, b: Features) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (into ``a``, into ``b``) of the keypoint matches one similarity transform
    explains (RANSAC): the same object, moved, scaled, cropped or bordered."""
    none = np.zeros(0, np.int64)
    if len(a.descriptors) < 8 or len(b.descriptors) < 8:
        return none, none
    matches = _matcher().match(a.descriptors, b.descriptors)
    if len(matches) < 8:
        return none, none
    ia = np.array([m.queryIdx for m in matches])
    ib = np.array([m.trainIdx for m in matches])
    _, mask = cv2.estimateAffinePartial2D(a.points[ia], b.points[ib], method=cv2.RANSAC,
                                          ransacReprojThreshold=4.0, maxIters=500, confidence=0.99)
    if mask is None:
        return none, none
    keep = mask.ravel().astype(bool)
    return ia[keep], ib[keep]


def compare(a: Features, b: Features, t: Thresholds | None = None) -> float:
    """How surely ``a`` and ``b`` show one product, in [0, 1]: the lesser of the keypoint
    agreement (inliers over twice ``t.min_inliers``, at most 1) and the colour agreement at
    those keypoints (1 for equal colours, 0 at twice ``t.max_colour``). 0.5 is exactly
    ``t.min_inliers`` keypoints with colours ``t.max_colour`` apart.
    """
    t = t or Thresholds()
    ia, ib = _inliers(a, b)
    if len(ia) == 0:
        return 0.0
    shift = np.abs(a.colours[ia].astype(np.int16) - b.colours[ib].astype(np.int16)).sum(axis=1)
    geo = min(1.0, len(ia) / (2 * t.min_inliers))
    tint = max(0.0, 1.0 - float(np.median(shift)) / (2 * t.max_colour))
    return round(min(geo, tint), 4)
