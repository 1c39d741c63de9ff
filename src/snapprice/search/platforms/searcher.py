"""The execution layer: the only place that retries, honours bans and stops platforms (each through its Gate)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import stamina

from snapprice.errors import (
    PlatformFatal,
    QuotaExhausted,
    RateLimited,
    RequestRejected,
    TransientError,
)
from snapprice.models import QueryImage, SearchPage
from snapprice.search.platforms.base import SearchClient
from snapprice.search.platforms.gate import CallCounters, Gate
from snapprice.search.platforms.limiter import RateLimiter

log = logging.getLogger(__name__)

# A rate-limit answer without a stated ban (gateway 4008) still pauses the platform briefly.
DEFAULT_BAN_SECONDS = 1.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter between retries (seconds)."""

    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 1.0


class PlatformSearcher:
    """One platform's client behind its gate (limiter, stop switch), with retries.

    ``gate`` must be the one the client was built with: every HTTP request of the client
    (uploads included) passes it. ``await searcher.search(image, page)`` returns a
    ``SearchPage`` or raises: ``RequestRejected`` (this request only; not retried),
    ``TransientError`` (retries spent), ``PlatformFatal`` (this platform is stopped for
    the run; every later call raises it at once, without a request).
    """

    def __init__(self, client: SearchClient, gate: Gate, *, max_attempts: int = 6,
                 max_retry_seconds: float = 300.0, backoff: Backoff | None = None) -> None:
        if client.gate is not gate:
            raise ValueError(f"{client.name}: the client was built with another gate than the "
                             "searcher's; its calls would bypass the limiter")
        self.client = client
        self.gate = gate
        self.name = client.name
        self.platform = client.platform
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.backoff = backoff or Backoff()

    @property
    def calls(self) -> CallCounters:
        return self.gate.calls

    @property
    def limiter(self) -> RateLimiter | None:
        return self.gate.limiter

    @property
    def stopped(self) -> PlatformFatal | None:
        return self.gate.stopped

    def _retry_hook(self, exc: Exception) -> bool | float:
        if isinstance(exc, RateLimited):
            return 0.0  # the limiter itself holds every caller until the ban is over
        if isinstance(exc, TransientError):
            return exc.retry_after if exc.retry_after else True
        return False

    async def _attempt(self, image: QueryImage, page: int) -> SearchPage:
        try:
            return await self.client.search(image, page)
        except RateLimited as exc:
            self.calls.bans += 1
            ban = exc.retry_after if exc.retry_after is not None else DEFAULT_BAN_SECONDS
            if ban > self.max_retry_seconds:
                raise QuotaExhausted(
                    exc.platform,
                    f"banned for {ban:.0f} s, longer than search.max_retry_seconds="
                    f"{self.max_retry_seconds:.0f} ({exc.message}); the call quota is spent",
                    code=exc.code, sub_code=exc.sub_code) from None
            log.warning("%s: rate limited, pausing the platform for %.1f s", self.name, ban)
            await self.gate.pause(ban)
            raise

    async def search(self, image: QueryImage, page: int = 1) -> SearchPage:
        """One page of results for ``image``, throttled and retried."""
        if self.gate.stopped is not None:
            raise self.gate.stopped_error()
        try:
            async for attempt in stamina.retry_context(
                on=self._retry_hook, attempts=self.max_attempts, timeout=self.max_retry_seconds,
                wait_initial=self.backoff.initial, wait_max=self.backoff.maximum,
                wait_jitter=self.backoff.jitter,
            ):
                with attempt:
                    if attempt.num > 1:
                        self.calls.retries += 1
                    result = await self._attempt(image, page)
        except PlatformFatal as exc:
            self.calls.failed += 1
            if self.gate.stop(exc):
                log.error("%s: platform stopped for this run: %s", self.name, exc)
            raise self.gate.stopped_error() from None
        except RequestRejected:
            self.calls.rejected += 1
            raise
        except TransientError:
            self.calls.failed += 1
            raise
        self.calls.ok += 1
        return result

    async def aclose(self) -> None:
        await self.gate.aclose()


async def search_pages(searcher: PlatformSearcher, image: QueryImage,
                       pages: int) -> list[SearchPage]:
    """Pages 1..``pages`` of one search, stopping early when the results end."""
    out: list[SearchPage] = []
    for page in range(1, pages + 1):
        result = await searcher.search(image, page)
        out.append(result)
        if not result.has_more or not result.items:
            break
    return out
