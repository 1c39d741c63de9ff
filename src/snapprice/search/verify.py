"""Visual match confidence: compare each result's picture with the query image by pHash.

A result's ``pic_url`` comes from the marketplace, so it is fetched within bounds: one
deadline, a byte cap, the pixel count read from the header before anything is decoded,
only a few decodes at once, and only public addresses or a configured platform's own
host (``ingest.fetch.picture_client``). A picture that breaks a bound leaves the result
unscored; it never holds the task or the process's memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from snapprice.dedupe.hashing import hamming, phash_bytes
from snapprice.errors import ImageRejected
from snapprice.ingest.fetch import FetchLimits, afetch_bytes
from snapprice.ingest.images import check_image
from snapprice.models import ListingSnapshot

SCORE_SPAN = 32  # bits: distance 0 scores 1.0, 32 or more (unrelated pictures) scores 0.0
# Pictures decoded at once by one process: what a decode may take in memory is bounded by
# the pixel cap, and this bounds how many such decodes run together.
DECODES_AT_ONCE = 2


@dataclass(frozen=True, slots=True)
class PictureLimits:
    """Bounds of one result picture (search.picture_*)."""

    max_bytes: int = 5_000_000
    max_pixels: int = 16_000_000  # 4000 × 4000; marketplace pictures are ~800 × 800
    timeout: float = 5.0  # seconds for the whole fetch, redirects included


def score_from_distance(distance: int) -> float:
    """1.0 for the same picture, falling linearly to 0.0 at half the hash's bits.

    >>> score_from_distance(0), score_from_distance(8), score_from_distance(40)
    (1.0, 0.75, 0.0)
    """
    return max(0.0, 1.0 - distance / SCORE_SPAN)


class PictureScorer:
    """Scores results by their pictures over ``http`` (a ``picture_client``), shared by every
    task of a run: its decode slots bound the whole process."""

    def __init__(self, http: httpx.AsyncClient, limits: PictureLimits = PictureLimits()) -> None:
        self.http = http
        self.limits = limits
        self._fetch = FetchLimits(limits.max_bytes, limits.timeout, max_redirects=3)
        self._decodes = asyncio.Semaphore(DECODES_AT_ONCE)

    def _hash(self, data: bytes, url: str) -> int:
        # The header first: a 9000 × 9000 picture is refused before a pixel is decoded.
        check_image(data, url, max_pixels=self.limits.max_pixels, verify=False)
        return phash_bytes(data)

    async def picture_hash(self, url: str) -> int | None:
        """pHash of a result picture, or None when it cannot be had within the bounds.

        Scheme-relative picture URLs were made https by normalize; a host that does not
        speak TLS gets one plain-http try.
        """
        try:
            data = await afetch_bytes(self.http, url, self._fetch)
        except ImageRejected as exc:
            if exc.reason != "connect_failed" or url[:8].lower() != "https://":
                return None
            try:
                data = await afetch_bytes(self.http, "http://" + url[8:], self._fetch)
            except ImageRejected:
                return None
        async with self._decodes:
            try:
                return await asyncio.to_thread(self._hash, data, url)
            except ImageRejected:
                return None

    async def score(self, snaps: Sequence[ListingSnapshot], query_hash: int) -> list[ListingSnapshot]:
        """The snapshots with ``score`` set where their picture could be fetched and hashed."""
        async def one(s: ListingSnapshot) -> ListingSnapshot:
            if not s.pic_url:
                return s
            h = await self.picture_hash(s.pic_url)
            return s if h is None else dataclasses.replace(s, score=score_from_distance(hamming(h, query_hash)))

        return list(await asyncio.gather(*(one(s) for s in snaps)))

    async def aclose(self) -> None:
        await self.http.aclose()
