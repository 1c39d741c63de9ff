"""Hashing a chunk of images: each is decoded, then same-size drafts get the array work as one batch.

On a ~100 px draft, per-call overhead was most of the array work, so a worker decodes BATCH
images and hashes all drafts of one size at once; padded images leave the batch to be cut
(``trim``) and are batched again by their cut size. The bits are those of ``imagehash.phash``
on the same decoded image: ``convert("L")``, LANCZOS to 32×32, 2-D DCT-II, the 8×8 low
frequencies compared with their median, row-major, first bit most significant. Draft
decoding moves a few bits at most (measured in docs/dedupe.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image

from snapprice.dedupe.colour import GRID, pack_colours_many
from snapprice.dedupe.features import DCT_LOW, THUMB, describe_many, median_bits, thumbnails
from snapprice.dedupe.hashing.decode import Encoded, ImageSource, decode, read_encoded, to_gray
from snapprice.dedupe.hashing.records import HashRecord, Rejected, Result
from snapprice.dedupe.hashing.resize import shrink
from snapprice.dedupe.hashing.trim import pad_depths, trim_box
from snapprice.errors import ImageRejected

BATCH = 32  # images a worker decodes, then hashes as one batch (same-size drafts)
HASH_SIDE = 32  # imagehash: hash_size 8 × highfreq_factor 4
DRAFT_SIDE = 64  # smallest side asked of libjpeg; 800 px JPEGs decode at 1/8 (100 px)
REFINE_SIDE = 256  # a pad found on a draft is cut again on a decode this fine (1/2 for 800 px)
FAST_SIDE = 128  # images up to this side are resized by matrix products (drafts), larger by Pillow
DESCRIBE_SIDE = 128  # the descriptor is computed on images reduced to about this side


class _Image(NamedTuple):
    """One decoded image of a chunk: its digest, encoded bytes, RGB pixels (a draft of it, for
    a JPEG) and its upright size."""

    digest: str
    data: Encoded
    pixels: np.ndarray
    width: int
    height: int


class _Batch(NamedTuple):
    """Decoded images of one size and their pixels stacked (n, h, w, 3)."""

    images: list[_Image]
    pixels: np.ndarray


class _Cut(NamedTuple):
    """A padded image cut to its picture: the cut RGB (h, w, 3) and grey pixels, and its grey
    pixels before the cut."""

    image: _Image
    rgb: np.ndarray
    gray: np.ndarray
    untrimmed: np.ndarray


def _cut_pads(image: _Image, rgb: np.ndarray, gray: np.ndarray) -> _Cut:
    """One decoded image on whose border ``pad_depths`` found a pad, without its pads; ``rgb``
    and ``gray`` are its pixels in the batch."""
    if max(gray.shape) < max(image.width, image.height):
        # A pad was found on a draft: at 1/8 scale one pixel is ~1.5 % of the picture and
        # its edge line blends pad and picture. Cut it on a finer decode (the draft's own box
        # is not needed), then bring the cut picture back to about the draft's scale.
        fine = decode(image.data, REFINE_SIDE).pixels
        left, top, right, bottom = trim_box(to_gray(fine))
        cut = fine[top:bottom, left:right]
        factor = max(1, round(fine.shape[1] / rgb.shape[1]))
        cut = np.asarray(Image.fromarray(np.ascontiguousarray(cut)).reduce(factor)) if factor > 1 else cut
    else:
        left, top, right, bottom = trim_box(gray)
        cut = rgb[top:bottom, left:right]
    return _Cut(image, cut, to_gray(cut), gray)


def _features(rgb: np.ndarray, gray: np.ndarray,
              untrimmed: Sequence[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """(pHashes, colour signals, descriptors) of b trimmed images of one size: ``rgb``
    (b, h, w, 3), ``gray`` (b, h, w), ``untrimmed`` each one's grey pixels before its cut."""
    b, h, w = gray.shape
    if max(h, w) <= FAST_SIDE:  # drafts: two matrix products for the whole batch
        small = shrink(gray, (0, 0, w, h), HASH_SIDE)
    else:  # big images (not JPEG): Pillow's sparse kernel is cheaper than dense products
        small = np.stack([np.asarray(Image.fromarray(g).resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS))
                          for g in gray]).astype(np.float64)
    phashes = median_bits((DCT_LOW @ small @ DCT_LOW.T).reshape(b, 64))
    factor = -(-max(h, w) // DESCRIBE_SIDE)  # the descriptor is computed on ~DESCRIBE_SIDE px
    if factor > 1:
        rgb = np.stack([np.asarray(Image.fromarray(x).reduce(factor)) for x in rgb])
        gray = to_gray(rgb)
        untrimmed = [None if u is None else np.asarray(Image.fromarray(u).reduce(factor)) for u in untrimmed]
    thumbs = thumbnails(rgb)
    part = THUMB // GRID
    cells = thumbs.reshape(b, GRID, part, GRID, part, 3).mean(axis=(2, 4)).reshape(b, GRID * GRID, 3)
    return phashes, pack_colours_many(cells), describe_many(gray, thumbs, untrimmed)


def _records(images: Sequence[_Image], rgb: np.ndarray, gray: np.ndarray,
             untrimmed: Sequence[np.ndarray | None]) -> list[Result]:
    phashes, colours, dups = _features(rgb, gray, untrimmed)
    return [HashRecord(image.digest, int(p), image.width, image.height, len(image.data), int(c), dup)
            for image, p, c, dup in zip(images, phashes, colours, dups, strict=True)]


def _finish(batch: _Batch, trim: bool) -> tuple[list[Result], list[_Cut]]:
    """Records of a batch, its unpadded images hashed together; the padded ones come back cut,
    to be batched with others cut to the same size (``_records_of_cuts``)."""
    images, rgb = batch.images, batch.pixels
    gray = to_gray(rgb)
    plain = ~pad_depths(gray).any(axis=1) if trim else np.ones(len(images), dtype=bool)
    out: list[Result] = []
    cuts: list[_Cut] = []
    for k in np.flatnonzero(~plain):
        try:
            cuts.append(_cut_pads(images[k], rgb[k], gray[k]))
        except ImageRejected as exc:  # the finer decode failed
            out.append(Rejected(images[k].digest, exc.reason, exc.detail))
    if not plain.all():
        images = [images[k] for k in np.flatnonzero(plain)]
        rgb, gray = rgb[plain], gray[plain]
    return (out + _records(images, rgb, gray, [None] * len(images)) if images else out), cuts


def _records_of_cuts(cuts: list[_Cut]) -> list[Result]:
    """Records of cut pictures, those of one size as one batch (a catalog padded to one
    format gives many)."""
    same_size: dict[tuple[int, ...], list[_Cut]] = {}
    for cut in cuts:
        same_size.setdefault(cut.rgb.shape, []).append(cut)
    out: list[Result] = []
    for group in same_size.values():
        out += _records([c.image for c in group], np.stack([c.rgb for c in group]),
                        np.stack([c.gray for c in group]), [c.untrimmed for c in group])
    return out


class _Drafts:
    """The same-size drafts of one ``hash_chunk`` call, each size's pixels in one (n, h, w, 3)
    array that libjpeg decodes into: no array per image and no ``np.stack`` (~30 µs of
    allocating and copying per photo). A size's array is never reused: cut pictures are views."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.pixels: dict[tuple[int, int], np.ndarray] = {}
        self.images: dict[tuple[int, int], list[_Image]] = {}

    def row(self, size: tuple[int, int]) -> np.ndarray | None:
        """Where the next draft of this (height, width) goes; None for a big image (alone)."""
        if max(size) > FAST_SIDE:
            return None
        if size not in self.pixels:
            self.pixels[size] = np.empty((self.capacity, *size, 3), dtype=np.uint8)
            self.images[size] = []
        return self.pixels[size][len(self.images[size])]

    def add(self, image: _Image) -> _Batch | None:
        """Keep a decoded draft; its size's batch comes back once it is full."""
        size = image.pixels.shape[:2]
        row = self.row(size)
        assert row is not None, "big images are not batched"
        if not np.may_share_memory(row, image.pixels):  # decoded by Pillow, or to another size
            row[...] = image.pixels
        self.images[size].append(image)
        return self.pop(size) if len(self.images[size]) == self.capacity else None

    def pop(self, size: tuple[int, int]) -> _Batch:
        images = self.images.pop(size)
        return _Batch(images, self.pixels.pop(size)[:len(images)])

    def batches(self) -> Iterator[_Batch]:
        while self.images:
            batch = self.pop(next(iter(self.images)))
            if batch.images:  # a size is opened when libjpeg is asked for it, even if it then fails
                yield batch


def hash_chunk(items: Iterable[tuple[str, ImageSource]], *, trim: bool = True,
               draft: bool = True) -> list[Result]:
    """Hash (digest, bytes-or-path) pairs in this process: each image is read and decoded,
    then images of one size go through the array work as one batch (per-call overhead is most
    of the cost on a draft). Returns a HashRecord or a Rejected per item, not in item order.

    >>> import io
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (64, 64), "teal").save(buf, "PNG")
    >>> results = hash_chunk([("a", buf.getvalue()), ("b", b"not an image")])
    >>> sorted((r.digest, type(r).__name__) for r in results)
    [('a', 'HashRecord'), ('b', 'Rejected')]
    >>> [r for r in results if isinstance(r, Rejected)]
    [Rejected(digest='b', reason='not_an_image', detail='no image format Pillow can read')]
    """
    items = list(items)
    out: list[Result] = []
    cuts: list[_Cut] = []
    drafts = _Drafts(min(len(items), BATCH))

    def finish(batch: _Batch) -> None:
        done, cut = _finish(batch, trim)
        out.extend(done)
        cuts.extend(cut)

    for slot, (digest, source) in enumerate(items):
        try:
            # The first BATCH files go to reused buffers, views of which the drafts keep.
            data = read_encoded(source, slot if slot < BATCH else None)
            decoded = decode(data, DRAFT_SIDE if draft else 0, drafts.row)
        except ImageRejected as exc:
            out.append(Rejected(digest, exc.reason, exc.detail))
            continue
        image = _Image(digest, data, decoded.pixels, decoded.width, decoded.height)
        if max(image.pixels.shape[:2]) > FAST_SIDE:  # a big image (not a draft) is not kept waiting
            done, cut = _finish(_Batch([image], image.pixels[None]), trim)
            out.extend(done + _records_of_cuts(cut))
        elif (full := drafts.add(image)) is not None:
            finish(full)
    for batch in drafts.batches():
        finish(batch)
    return out + _records_of_cuts(cuts)


def hash_image(source: ImageSource, digest: str = "", *, trim: bool = True,
               draft: bool = True) -> HashRecord:
    """Decode one image (bytes or path) and compute its HashRecord.

    Raises ImageRejected("corrupt" | "pixel_bomb" | "not_an_image") when it cannot be hashed.
    """
    (result,) = hash_chunk([(digest, source)], trim=trim, draft=draft)
    if isinstance(result, Rejected):
        raise ImageRejected(result.reason, result.detail)
    return result


def phash_bytes(data: bytes, *, trim: bool = True, draft: bool = True) -> int:
    """The 64-bit pHash of an encoded image (unsigned int). Raises ImageRejected."""
    return hash_image(data, trim=trim, draft=draft).phash
