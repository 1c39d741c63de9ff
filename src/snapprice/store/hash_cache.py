"""The image_hash and image_feature tables as caches: content digest -> hash record, local features."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.engine import Engine

from snapprice.dedupe.hashing import HASH_VERSION, HashRecord, from_signed64, to_signed64
from snapprice.dedupe.local import LOCAL_VERSION
from snapprice.store.sql import statement


class PgHashCache:
    """The `image_hash` table as a hash cache: content digest -> perceptual hashes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_many(self, digests: Sequence[str]) -> dict[str, HashRecord]:
        if not digests:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                statement("store/get_hashes"), {"digests": list(digests), "version": HASH_VERSION}
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
                statement("store/put_hashes"),
                [
                    {"digest": r.digest, "version": HASH_VERSION, "phash": to_signed64(r.phash),
                     "colour": to_signed64(r.colour) if getattr(r, "colour", None) is not None else None,
                     "width": r.width, "height": r.height, "nbytes": r.nbytes, "dup": getattr(r, "dup", None)}
                    for r in records
                ],
            )


class PgFeatureCache:
    """The `image_feature` table as the cache of local features (``dedupe.local``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_many(self, digests: Sequence[str]) -> dict[str, bytes]:
        if not digests:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                statement("store/get_features"), {"digests": list(digests), "version": LOCAL_VERSION}
            ).all()
        return {d: bytes(x) for d, x in rows}

    def put_many(self, features: Mapping[str, bytes]) -> None:
        if not features:
            return
        with self.engine.begin() as conn:
            conn.execute(statement("store/put_features"),
                         [{"digest": d, "version": LOCAL_VERSION, "data": x} for d, x in features.items()])
