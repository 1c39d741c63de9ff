"""Perceptual hashes of images, fast: pHash bits, a colour signal and the near-duplicate descriptor.

Speed comes from JPEG draft decoding (``decode``: libjpeg scales by 1/8 while decoding, so an
800×800 JPEG is decoded at 100×100), from batches (``batch``: the array work for all same-size
drafts of a chunk at once, on a draft per-call overhead was most of it), from resizing drafts
with matrix products that reproduce Pillow's fixed-point LANCZOS (``resize``) and from a
process pool with one BLAS thread per worker (``pool``). Uniform pads are cut before hashing
(``trim``); ``records`` holds what comes out and the cache protocol.

Example: a picture, and a copy of it framed in white, each saved as a JPEG::

    >>> import io
    >>> import numpy as np
    >>> from PIL import Image
    >>> from snapprice.dedupe.hashing import hamming, hash_image, phash_bytes
    >>> def jpeg(im):
    ...     buf = io.BytesIO()
    ...     im.save(buf, "JPEG")
    ...     return buf.getvalue()
    >>> blobs = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    >>> picture = Image.fromarray(blobs).resize((400, 300), Image.Resampling.BICUBIC)
    >>> framed = Image.new("RGB", (480, 380), "white")
    >>> framed.paste(picture, (40, 40))
    >>> rec = hash_image(jpeg(framed))
    >>> rec.width, rec.height
    (480, 380)
    >>> hamming(rec.phash, phash_bytes(jpeg(picture)))  # the frame is cut before hashing
    0
    >>> hamming(phash_bytes(jpeg(framed), trim=False), phash_bytes(jpeg(picture)))  # uncut: far
    16
"""

from snapprice.dedupe.hashing.batch import hash_image, phash_bytes
from snapprice.dedupe.hashing.decode import ImageSource
from snapprice.dedupe.hashing.pool import hash_many, hash_with_cache
from snapprice.dedupe.hashing.records import (
    HASH_VERSION,
    HashCache,
    HashRecord,
    MemoryHashCache,
    from_signed64,
    hamming,
    to_signed64,
)

__all__ = [
    "HASH_VERSION",
    "HashCache",
    "HashRecord",
    "ImageSource",
    "MemoryHashCache",
    "from_signed64",
    "hamming",
    "hash_image",
    "hash_many",
    "hash_with_cache",
    "phash_bytes",
    "to_signed64",
]
