"""Explicit protocol → client registry and the factories that wire clients, limiters and HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from snapprice.errors import ConfigError
from snapprice.search.platforms.aliyun import AliyunImageSearchClient
from snapprice.search.platforms.aop1688 import Aop1688Client
from snapprice.search.platforms.base import SearchClient
from snapprice.search.platforms.gateway import GatewayClient
from snapprice.search.platforms.limiter import PostgresLimiter, ProcessLimiter, RateLimiter
from snapprice.search.platforms.searcher import Backoff, PlatformSearcher
from snapprice.search.platforms.top import TopClient
from snapprice.settings import PlatformSettings, Settings

# protocol -> client class; each is called as cls(name, settings, credentials, http).
# Credentials (``settings.credentials(name)``, env var names in [platforms.NAME].credentials):
#   gateway: key, secret · top: app_key, app_secret ·
#   aliyun-imagesearch: access_key_id, access_key_secret (options.pid = Alimama PID) ·
#   1688-aop: app_key, app_secret, access_token.
PROTOCOLS: dict[str, Callable[..., SearchClient]] = {
    "gateway": GatewayClient,
    "top": TopClient,
    "aliyun-imagesearch": AliyunImageSearchClient,
    "1688-aop": Aop1688Client,
}


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one pooled HTTP client every platform shares (explicit timeouts, no redirects)."""
    plats = settings.enabled_platforms().values()
    slowest = max((p.timeout for p in plats), default=10.0)
    per_platform = settings.search.concurrency + 2
    return httpx.AsyncClient(
        timeout=httpx.Timeout(slowest, connect=min(slowest, 5.0)),
        limits=httpx.Limits(max_connections=per_platform * max(len(plats), 1),
                            max_keepalive_connections=per_platform * max(len(plats), 1),
                            keepalive_expiry=30.0),
        headers={"User-Agent": "snapprice/0.1 (+image price monitor)"},
        follow_redirects=False,
    )


def make_client(name: str, plat: PlatformSettings, settings: Settings,
                http: httpx.AsyncClient) -> SearchClient:
    """The client of one configured platform section."""
    cls = PROTOCOLS.get(plat.protocol)
    if cls is None:
        raise ConfigError(f"platforms.{name}.protocol: {plat.protocol!r} has no client yet "
                          f"(available: {', '.join(sorted(PROTOCOLS))}); disable the platform "
                          "with enabled = false")
    return cls(name, plat, settings.credentials(name), http)


def make_limiter(name: str, plat: PlatformSettings, settings: Settings,
                 dsn: str | None) -> RateLimiter:
    """The limiter of one platform in the configured mode (``search.limiter``)."""
    if settings.search.limiter == "process":
        return ProcessLimiter(plat.qps)
    url = dsn or settings.database.url
    if not url:
        raise ConfigError("search.limiter: 'postgres' needs a database: set DATABASE_URL "
                          "(or pass the embedded server's DSN)")
    # One budget per account and route: sections sharing a key share it via options.limit_key.
    key = str(plat.options.get("limit_key") or name)
    return PostgresLimiter(url, key, plat.qps)


def build_searchers(settings: Settings, http: httpx.AsyncClient, *,
                    dsn: str | None = None,
                    backoff: Backoff | None = None) -> dict[str, PlatformSearcher]:
    """One ``PlatformSearcher`` per enabled platform, keyed by section name.

    Build them once per process (and event loop) and share them between tasks: the
    limiter, ban pause and stop switch live in the searcher.
    """
    out: dict[str, PlatformSearcher] = {}
    shared: dict[str, RateLimiter] = {}
    for name, plat in settings.enabled_platforms().items():
        # Sections naming the same options.limit_key (one account on several routes) share
        # one limiter in process mode, as they share one row in postgres mode.
        key = str(plat.options.get("limit_key") or name)
        if key not in shared or settings.search.limiter != "process":
            slowest = min(p.qps for n, p in settings.enabled_platforms().items()
                          if str(p.options.get("limit_key") or n) == key)
            shared[key] = make_limiter(name, plat.model_copy(update={"qps": slowest}), settings, dsn)
        out[name] = PlatformSearcher(
            make_client(name, plat, settings, http), shared[key],
            max_attempts=settings.search.max_attempts,
            max_retry_seconds=settings.search.max_retry_seconds, backoff=backoff)
    return out


async def close_searchers(searchers: dict[str, PlatformSearcher]) -> None:
    """Release limiter connections (postgres mode)."""
    for s in searchers.values():
        await s.aclose()
