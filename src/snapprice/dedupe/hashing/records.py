"""What hashing produces and keeps: hash records, the cache protocol, 64-bit hash helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

# Bump when the bits of phash or colour change for the same image (trimming, colour
# packing): cached records of another version must be recomputed, not compared.
HASH_VERSION = 6


@dataclass(frozen=True, slots=True)
class HashRecord:
    """The hashes of one image, keyed by the sha256 hex digest of its bytes.

    ``phash`` is unsigned (0 .. 2**64-1); store it with ``to_signed64`` in a BIGINT column.
    ``colour`` is the colour signal (``colour.pack_colours``: chromaticity of a 2×2 grid
    over the trimmed image, 60 bits, non-negative), or None. ``dup`` is the near-duplicate
    descriptor (``features.describe_many``: crop-window hashes and a colour thumbnail), or None.
    """

    digest: str
    phash: int
    width: int
    height: int
    nbytes: int
    colour: int | None = None
    dup: bytes | None = None


class Rejected(NamedTuple):
    """An image that could not be hashed: its digest and ``ImageRejected``'s reason and detail."""

    digest: str
    reason: str
    detail: str


Result = HashRecord | Rejected  # what hashing one image gives


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
    """Unsigned 64-bit hash → the signed value a PostgreSQL BIGINT holds (same bits).

    >>> to_signed64(2**63 - 1), to_signed64(2**63), to_signed64(2**64 - 1)
    (9223372036854775807, -9223372036854775808, -1)
    """
    return value - (1 << 64) if value >= 1 << 63 else value


def from_signed64(value: int) -> int:
    """Signed BIGINT from the database → the unsigned 64-bit hash.

    >>> from_signed64(-1) == 2**64 - 1, from_signed64(to_signed64(2**63)) == 2**63
    (True, True)
    """
    return value + (1 << 64) if value < 0 else value


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes.

    >>> hamming(0b1011, 0b0001), hamming(0, 2**64 - 1)
    (2, 64)
    """
    return (a ^ b).bit_count()
