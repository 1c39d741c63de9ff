"""Perceptual hashes of images, fast: pHash bits, a colour signal and the near-duplicate descriptor."""

from snapprice.dedupe.hashing.batch import (
    HASH_VERSION,
    HashCache,
    HashRecord,
    ImageSource,
    MemoryHashCache,
    from_signed64,
    hamming,
    hash_image,
    hash_many,
    hash_with_cache,
    phash_bytes,
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
