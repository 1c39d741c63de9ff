"""Per-SKU match checks of search results: each result's picture against each SKU's own.

A result's ``pic_url`` comes from the marketplace, so it is fetched within the bounds of
catalog images: one deadline for the whole fetch, a byte cap, the pixel count read from
the header before anything is decoded, redirects only on the URL's own host, and only
public addresses or a configured platform's own host (``ingest.fetch.picture_client``).
Fetches run ``max_concurrency`` at once on their own client: they never take a token of a
platform's QPS budget. A picture is reduced to features once (``match_check``), kept by
content digest; a URL is remembered with the digest it served, so a picture seen in an
earlier run is neither fetched nor decoded again.

A picture that cannot be had or decoded within the bounds, or a SKU whose own picture is
unusable, gives an ``unverified`` verdict: recorded with its reason, never a match.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import cv2
import httpx

from snapprice.errors import ImageRejected
from snapprice.ingest.fetch import FetchLimits, afetch_bytes, image_client
from snapprice.ingest.images import load_image
from snapprice.models import CheckedResults, ListingSnapshot, MatchCheck, QueryImage
from snapprice.search.match_check import FEATURE_VERSION, Features, Thresholds, compare, picture_features
from snapprice.store.match_checks import cached_features, cached_urls

log = logging.getLogger("snapprice.search")
T = TypeVar("T")
# The executor's way to run ``fn(conn, *args)`` in a transaction, off the event loop.
DbCall = Callable[..., Awaitable[Any]]
FEATURES_IN_MEMORY = 20_000  # ~10 kB each


@dataclass(frozen=True, slots=True)
class SkuImage:
    """One catalog picture of a SKU in a searched group."""

    sku: str
    image_ref: str
    digest: str | None  # catalog_item.content_digest


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """``[match_check]`` and the catalog image limits (``[dedupe]``), unpacked."""

    min_score: float = 0.5
    thresholds: Thresholds = field(default_factory=Thresholds)
    max_bytes: int = 5_000_000
    max_pixels: int = 16_000_000
    timeout: float = 5.0
    max_concurrency: int = 16
    workers: int = 0  # 0: every core
    cache_days: float = 30.0
    sku_max_bytes: int = 25_000_000
    sku_max_pixels: int = 60_000_000
    sku_timeout: float = 15.0


@dataclass
class CheckStats:
    """What the checker did in this process (the bench and the tests read it)."""

    fetched: int = 0  # result pictures downloaded
    computed: int = 0  # pictures reduced to features
    compared: int = 0  # (result, SKU picture) comparisons
    unverified: dict[str, int] = field(default_factory=dict)  # reason → verdicts


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PictureChecker:
    """Checks results against SKUs' own pictures; one per run, shared by every task.

    ``http`` is a ``picture_client`` (result pictures); ``db`` runs store reads.
    """

    def __init__(self, http: httpx.AsyncClient, db: DbCall, config: CheckConfig | None = None) -> None:
        self.http = http
        self.db = db
        self.config = config = config or CheckConfig()
        self.stats = CheckStats()
        self._fetch_limits = FetchLimits(config.max_bytes, config.timeout, max_redirects=3)
        self._plain_hosts: set[str] = set()  # hosts whose TLS try failed and plain http answered
        self._fetches = asyncio.Semaphore(config.max_concurrency)
        self._pool = ThreadPoolExecutor(config.workers or os.cpu_count() or 1,
                                        thread_name_prefix="snapprice-check")
        self._features: OrderedDict[str, Features] = OrderedDict()
        self._url_digest: dict[str, str] = {}
        self._pending: dict[str, asyncio.Future[Features]] = {}  # url or digest → in flight
        self._sku_failed: dict[str, str] = {}  # digest or ref → reason
        self._url_failed: dict[str, str] = {}  # URL → reason, for this run (not stored)
        self._sku_digest: dict[str, str] = {}  # image_ref of a SKU picture without one → digest
        self._new_urls: dict[str, str] = {}
        self._new_features: dict[str, bytes] = {}
        self._catalog_http: httpx.Client | None = None

    # ---- features, from memory, the store or the picture itself ------------------------
    def _remember(self, digest: str, feats: Features) -> Features:
        self._features[digest] = feats
        self._features.move_to_end(digest)
        while len(self._features) > FEATURES_IN_MEMORY:
            self._features.popitem(last=False)
        return feats

    async def _cpu(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _compute(self, digest: str, data: bytes, max_pixels: int) -> Features:
        try:
            feats = await self._cpu(lambda: picture_features(data, max_pixels=max_pixels))
        except ImageRejected as exc:
            raise _Failed(exc.reason) from None
        self.stats.computed += 1
        self._new_features[digest] = feats.to_bytes()
        return self._remember(digest, feats)

    async def _load_cached(self, digests: Sequence[str]) -> None:
        """Features of ``digests`` from the store into memory (those it has)."""
        wanted = [d for d in dict.fromkeys(digests) if d not in self._features]
        if wanted:
            for d, blob in (await self.db(cached_features, wanted, FEATURE_VERSION)).items():
                try:
                    self._remember(d, Features.from_bytes(blob))
                except ValueError:
                    continue  # a damaged cache entry: computed again

    async def _shared(self, key: str, make: Callable[[], Awaitable[Features]]) -> Features:
        """``make()`` once for concurrent askers of one ``key``."""
        if key in self._pending:
            return await asyncio.shield(self._pending[key])
        fut: asyncio.Future[Features] = asyncio.ensure_future(make())
        self._pending[key] = fut
        try:
            return await fut
        finally:
            self._pending.pop(key, None)

    async def _result_features(self, url: str) -> Features:
        digest = self._url_digest.get(url)
        if digest is not None and digest in self._features:
            return self._features[digest]
        if url in self._url_failed:
            raise _Failed(self._url_failed[url])
        try:
            return await self._shared(url, lambda: self._fetch_features(url))
        except _Failed as exc:
            self._url_failed[url] = exc.reason
            raise

    async def _fetch_features(self, url: str) -> Features:
        async with self._fetches:
            data = await self._fetch(url)
        self.stats.fetched += 1
        digest = hashlib.sha256(data).hexdigest()
        self._url_digest[url] = digest
        await self._load_cached([digest])
        feats = self._features.get(digest) or await self._compute(digest, data, self.config.max_pixels)
        self._new_urls[url] = digest  # only a picture that could be read is remembered
        return feats

    async def _fetch(self, url: str) -> bytes:
        """Scheme-relative picture URLs were made https by normalize; a host that does not
        speak TLS gets one plain-http try, and is asked in plain http from then on (each
        refused handshake costs a round trip, and the host logs it as a bad request)."""
        tls = url[:8].lower() == "https://"
        host = url[8:].split("/", 1)[0].lower() if tls else ""
        if not tls or host not in self._plain_hosts:
            try:
                return await afetch_bytes(self.http, url, self._fetch_limits)
            except ImageRejected as exc:
                if exc.reason != "connect_failed" or not tls:
                    raise _Failed(exc.reason) from None
        try:
            data = await afetch_bytes(self.http, "http://" + url[8:], self._fetch_limits)
        except ImageRejected as exc:
            raise _Failed(exc.reason) from None
        self._plain_hosts.add(host)
        return data

    async def _sku_features(self, img: SkuImage, query: QueryImage | None) -> tuple[str, Features]:
        feats = await self._sku_features_of(img, query)
        return self._sku_digest.get(img.digest or img.image_ref, img.digest or ""), feats

    async def _sku_features_of(self, img: SkuImage, query: QueryImage | None) -> Features:
        key = img.digest or img.image_ref
        if key in self._sku_failed:
            raise _Failed(self._sku_failed[key])
        if img.digest and img.digest in self._features:
            return self._features[img.digest]
        try:
            return await self._shared("sku:" + key, lambda: self._make_sku_features(img, query))
        except _Failed as exc:
            self._sku_failed[key] = exc.reason
            raise

    async def _make_sku_features(self, img: SkuImage, query: QueryImage | None) -> Features:
        if img.digest:
            await self._load_cached([img.digest])
            if img.digest in self._features:
                return self._features[img.digest]
        if query is not None and query.data and query.digest == img.digest:  # bytes read for the search
            data, digest = query.data, query.digest
        else:
            c = self.config
            if self._catalog_http is None:
                self._catalog_http = image_client()
            http = self._catalog_http
            try:
                loaded = await asyncio.to_thread(
                    load_image, img.image_ref, max_bytes=c.sku_max_bytes, max_pixels=c.sku_max_pixels,
                    timeout=c.sku_timeout, http=http, verify=False)
            except ImageRejected as exc:
                raise _Failed(f"sku_picture_{exc.reason}") from None
            data, digest = loaded.data, loaded.digest
        self._sku_digest[img.digest or img.image_ref] = digest
        try:
            return await self._compute(digest, data, self.config.sku_max_pixels)
        except _Failed as exc:
            raise _Failed(f"sku_picture_{exc.reason}") from None

    # ---- the checks of one page ----------------------------------------------------------
    async def _prefetch_cache(self, urls: Sequence[str]) -> None:
        """What the store knows of ``urls``: their digests, and those digests' features."""
        unknown = [u for u in urls if u not in self._url_digest]
        if unknown and self.config.cache_days > 0:
            self._url_digest.update(await self.db(cached_urls, unknown, self.config.cache_days))
        await self._load_cached([self._url_digest[u] for u in urls if u in self._url_digest])

    async def _try(self, coro: Awaitable[T]) -> T | str:
        try:
            return await coro
        except _Failed as exc:
            return exc.reason
        except Exception:  # a picture that breaks the decoder or OpenCV: recorded, not fatal
            log.exception("match check: a picture could not be reduced to features")
            return "check_error"

    def _scores(self, pairs: list[tuple[str | None, Features, list[tuple[str, Features]]]]
                ) -> list[float | None]:
        """Each result's best score over one SKU's pictures (the very same bytes score 1);
        None where the comparison itself failed."""
        t = self.config.thresholds
        out: list[float | None] = []
        for digest, res, owns in pairs:
            try:
                out.append(max(1.0 if digest == own_digest else compare(own, res, t)
                               for own_digest, own in owns))
            except cv2.error:
                log.exception("match check: a comparison failed")
                out.append(None)
        return out

    async def check(self, snaps: Sequence[ListingSnapshot], skus: Sequence[SkuImage],
                    query: QueryImage | None = None) -> tuple[list[ListingSnapshot], CheckedResults]:
        """Verdicts for every (result, SKU) pair of a page; the results with ``score`` set to
        their best SKU score (None when no picture could be compared)."""
        urls = list(dict.fromkeys(s.pic_url for s in snaps if s.pic_url))
        await self._prefetch_cache(urls)
        own_list = await asyncio.gather(*(self._try(self._sku_features(i, query)) for i in skus))
        got = await asyncio.gather(*(self._try(self._result_features(u)) for u in urls))
        result_of = dict(zip(urls, got, strict=True))
        own: dict[str, list[tuple[str, Features]]] = {}
        sku_reason: dict[str, str] = {}
        for img, f in zip(skus, own_list, strict=True):
            if isinstance(f, str):
                sku_reason.setdefault(img.sku, f)
            else:
                own.setdefault(img.sku, []).append(f)
        sku_names = list(dict.fromkeys(i.sku for i in skus))
        pairs: list[tuple[str | None, Features, list[tuple[str, Features]]]] = []
        where: list[tuple[int, str]] = []
        for n, s in enumerate(snaps):
            res = result_of.get(s.pic_url) if s.pic_url else None
            if isinstance(res, Features):
                for sku in sku_names:
                    if sku in own:
                        pairs.append((self._url_digest.get(s.pic_url or ""), res, own[sku]))
                        where.append((n, sku))
        scores = await self._cpu(self._scores, pairs) if pairs else []
        self.stats.compared += sum(len(o) for _, _, o in pairs)
        score_of = {w: sc for w, sc in zip(where, scores, strict=True)}
        checks: list[MatchCheck] = []
        out: list[ListingSnapshot] = []
        for n, s in enumerate(snaps):
            res = result_of.get(s.pic_url) if s.pic_url else "no_picture"
            digest = self._url_digest.get(s.pic_url) if s.pic_url else None
            best: float | None = None
            for sku in sku_names:
                sc = score_of.get((n, sku))
                if sc is not None:
                    best = sc if best is None else max(best, sc)
                    checks.append(MatchCheck(sku, s.platform, s.item_id,
                                             "match" if sc >= self.config.min_score else "rejected",
                                             sc, None, digest))
                else:
                    reason = (res if isinstance(res, str) else sku_reason.get(sku)
                              or ("check_error" if (n, sku) in score_of else "sku_picture_missing"))
                    self.stats.unverified[reason] = self.stats.unverified.get(reason, 0) + 1
                    checks.append(MatchCheck(sku, s.platform, s.item_id, "unverified", None,
                                             reason[:200], digest))
            out.append(dataclasses.replace(s, score=best))
        learnt = CheckedResults(checks, FEATURE_VERSION, self._new_urls, self._new_features)
        self._new_urls, self._new_features = {}, {}
        return out, learnt

    async def aclose(self) -> None:
        await self.http.aclose()
        if self._catalog_http is not None:
            self._catalog_http.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
