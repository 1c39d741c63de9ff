"""The image_hash table as the hash cache: content digest -> perceptual hash record."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.engine import Engine

from snapprice.dedupe.hashing import HASH_VERSION, HashRecord, from_signed64, to_signed64


class PgHashCache:
    """The `image_hash` table as a hash cache: content digest -> perceptual hashes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_many(self, digests: Sequence[str]) -> dict[str, HashRecord]:
        if not digests:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT content_digest, phash, colour, width, height, nbytes, dup FROM image_hash "
                    "WHERE content_digest = ANY(CAST(:d AS text[])) AND hash_version = :v"
                ),
                {"d": list(digests), "v": HASH_VERSION},
            ).all()
        return {
            d: HashRecord(
                digest=d, phash=from_signed64(p), width=w, height=h, nbytes=n,
                colour=from_signed64(c) if c is not None else None,
                dup=bytes(x) if x is not None else None,
            )
            for d, p, c, w, h, n, x in rows
        }

    def put_many(self, records: Sequence[HashRecord]) -> None:
        if not records:
            return
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO image_hash (content_digest, hash_version, phash, colour, width,"
                    " height, nbytes, dup) VALUES (:d, :v, :p, :c, :w, :h, :n, :x) ON CONFLICT DO NOTHING"
                ),
                [
                    {"d": r.digest, "v": HASH_VERSION, "p": to_signed64(r.phash),
                     "c": to_signed64(r.colour) if getattr(r, "colour", None) is not None else None,
                     "w": r.width, "h": r.height, "n": r.nbytes, "x": getattr(r, "dup", None)}
                    for r in records
                ],
            )
