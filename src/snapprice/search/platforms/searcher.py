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
# Calls refused in a row the same way, none succeeding between, that stop a platform: a
# route that refuses every call (a missing argument, a parameter it never accepts) would
# otherwise spend one call per task on it (search.stop_after_same_errors).
STOP_AFTER_SAME_ERRORS = 5
# What a refusal repeated on every call most likely means, by code (TOP, gateway, ours).
_LIKELY_CAUSES = {
    "40": "a parameter the method requires is not sent: check options.method and "
          "options.image_param (the route may want the picture as image_url or another part)",
    "41": "a parameter value is invalid on every call: check cat, sort, page_size and "
          "options against the method's documentation",
    "4003": "the gateway refuses the parameters of every call: check cat, sort and page_size, "
            "and that the route takes the pictures sent (format, size, a public URL)",
    "4014": "a required parameter of the URL is missing: check base_url and the protocol",
    "body_too_large": "every answer is larger than max_body_bytes: lower page_size or raise "
                      "max_body_bytes",
}
_PARAMETER_CODES = ("InvalidParameter", "MissingParameter", "gw.")  # Aliyun POP, 1688 AOP


def likely_cause(exc: RequestRejected) -> str:
    """What a refusal answered to every call most likely means.

    >>> likely_cause(RequestRejected("t", "Missing Required Arguments", code="40"))[:34]
    'a parameter the method requires is'
    """
    code = exc.code or ""
    if code in _LIKELY_CAUSES:
        return _LIKELY_CAUSES[code]
    if code.startswith(_PARAMETER_CODES):
        return _LIKELY_CAUSES["41"]
    if not code:
        return "the endpoint refuses every request as sent: check base_url and protocol"
    return ("every call is refused the same way: check the section (cat, sort, page_size, "
            "options) against the API's documentation")


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
    the run; every later call raises it at once, without a request). ``stop_after`` calls
    in a row refused with the same code, none succeeding between, stop the platform too
    (0: never): the refusal is the route's, not the picture's.
    """

    def __init__(self, client: SearchClient, gate: Gate, *, max_attempts: int = 6,
                 max_retry_seconds: float = 300.0, backoff: Backoff | None = None,
                 stop_after: int = STOP_AFTER_SAME_ERRORS) -> None:
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
        self.stop_after = stop_after
        self._same: tuple[tuple[str, ...], int] = ((), 0)  # the last refusal's key, times in a row

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
            self._stop(exc)
            raise self.gate.stopped_error() from None
        except RequestRejected as exc:
            self.calls.rejected += 1
            repeated = self._repeated(exc)
            if repeated is None:
                raise
            self._stop(repeated)
            raise self.gate.stopped_error() from None
        except TransientError:
            self.calls.failed += 1
            raise
        self.calls.ok += 1
        self._same = ((), 0)
        return result

    def _stop(self, exc: PlatformFatal) -> None:
        if self.gate.stop(exc):
            log.error("%s: platform stopped for this run: %s", self.name, exc)

    def _repeated(self, exc: RequestRejected) -> PlatformFatal | None:
        """The error that stops the platform when ``exc`` is the same refusal for the
        ``stop_after``-th call in a row (same code; same text when there is no code)."""
        key = (exc.code or "", exc.sub_code or "") if exc.code else ("", exc.message)
        n = self._same[1] + 1 if self._same[0] == key else 1
        self._same = (key, n)
        if not self.stop_after or n < self.stop_after:
            return None
        what = f"code {exc.code}" + (f" [{exc.sub_code}]" if exc.sub_code else "") \
            if exc.code else "the same error"
        return PlatformFatal(
            exc.platform, f"{n} calls in a row refused with {what} and none succeeded "
            f"({exc.message}); likely cause: {likely_cause(exc)}; no more calls this run "
            f"(search.stop_after_same_errors = {self.stop_after})",
            code=exc.code, sub_code=exc.sub_code)

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
