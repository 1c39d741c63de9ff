"""Visual match confidence: compare each result's picture with the query image by pHash."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import httpx

from snapprice.dedupe.hashing import hamming, phash_bytes
from snapprice.errors import ImageRejected
from snapprice.models import ListingSnapshot

MAX_PICTURE_BYTES = 10_000_000
SCORE_SPAN = 32  # bits: distance 0 scores 1.0, 32 or more (unrelated pictures) scores 0.0


def score_from_distance(distance: int) -> float:
    """1.0 for the same picture, falling linearly to 0.0 at half the hash's bits.

    >>> score_from_distance(0), score_from_distance(8), score_from_distance(40)
    (1.0, 0.75, 0.0)
    """
    return max(0.0, 1.0 - distance / SCORE_SPAN)


async def _fetch_hash(http: httpx.AsyncClient, url: str) -> int | None:
    async with http.stream("GET", url) as resp:
        if resp.status_code != 200:
            return None
        data = b""
        async for chunk in resp.aiter_bytes():
            data += chunk
            if len(data) > MAX_PICTURE_BYTES:
                return None
    try:
        return await asyncio.to_thread(phash_bytes, data)
    except ImageRejected:
        return None


async def _picture_hash(http: httpx.AsyncClient, url: str) -> int | None:
    """pHash of a result picture, or None when it cannot be had. Scheme-relative picture
    URLs were made https by normalize; a host that does not speak TLS gets a plain-http try."""
    try:
        return await _fetch_hash(http, url)
    except httpx.ConnectError:
        if not url.startswith("https://"):
            return None
    except httpx.HTTPError:
        return None
    try:
        return await _fetch_hash(http, "http://" + url[len("https://"):])
    except httpx.HTTPError:
        return None


async def score_snapshots(snaps: Sequence[ListingSnapshot], query_hash: int,
                          http: httpx.AsyncClient) -> list[ListingSnapshot]:
    """The snapshots with ``score`` set where their picture could be fetched and hashed."""
    async def one(s: ListingSnapshot) -> ListingSnapshot:
        if not s.pic_url:
            return s
        h = await _picture_hash(http, s.pic_url)
        return s if h is None else dataclasses.replace(s, score=score_from_distance(hamming(h, query_hash)))

    return list(await asyncio.gather(*(one(s) for s in snaps)))
