"""Perceptual hashes of images, fast: pHash bits, a colour signal and the near-duplicate descriptor.

Speed comes from JPEG draft decoding (``decode``: libjpeg scales by 1/8 while decoding, so an
800×800 JPEG is decoded at 100×100), from batches (``batch``: the array work for all same-size
drafts of a chunk at once, on a draft per-call overhead was most of it), from resizing drafts
with matrix products that reproduce Pillow's fixed-point LANCZOS (``resize``) and from a
process pool with one BLAS thread per worker (``pool``). Uniform pads are cut before hashing
(``trim``); ``records`` holds what comes out and the cache protocol.
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
