"""The protocol table (protocol name → client class) and the factories that wire clients,
gates and HTTP from settings.

Adding a protocol = one client module implementing ``base.SearchClient`` + one line in
``PROTOCOLS``. Everything else (config checks, credentials, searchers, the backfill's
replay of archived bodies) reads this table.

>>> client_class("top").credential_fields
('app_key', 'app_secret')
>>> try:
...     client_class("smtp", where="platforms.mail.protocol")
... except ConfigError as exc:
...     print(exc)
platforms.mail.protocol: 'smtp' is not a known protocol (known: 1688-aop, aliyun-imagesearch, gateway, top)
"""

from __future__ import annotations

import httpx

from snapprice.errors import ConfigError
from snapprice.search.platforms.accounts import AccountPool
from snapprice.search.platforms.aliyun import AliyunImageSearchClient
from snapprice.search.platforms.aop1688 import Aop1688Client
from snapprice.search.platforms.base import SearchClient
from snapprice.search.platforms.gate import Gate
from snapprice.search.platforms.gateway import GatewayClient
from snapprice.search.platforms.limiter import PostgresLimiter, ProcessLimiter, RateLimiter
from snapprice.search.platforms.searcher import Backoff, PlatformSearcher
from snapprice.search.platforms.top import TopClient
from snapprice.settings import PlatformSettings, Settings

# What runs one platform's searches: one account's searcher, or a pool of accounts.
Searcher = PlatformSearcher | AccountPool

# The key of each line is its class's ``protocol`` (a test holds them equal).
PROTOCOLS: dict[str, type[SearchClient]] = {
    "gateway": GatewayClient,
    "top": TopClient,
    "aliyun-imagesearch": AliyunImageSearchClient,
    "1688-aop": Aop1688Client,
}


def client_class(protocol: str, *, where: str = "protocol") -> type[SearchClient]:
    """The client class of ``protocol``; a ConfigError prefixed with ``where`` if none."""
    cls = PROTOCOLS.get(protocol)
    if cls is None:
        raise ConfigError(f"{where}: {protocol!r} is not a known protocol "
                          f"(known: {', '.join(sorted(PROTOCOLS))})")
    return cls


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The one pooled HTTP client every platform shares (explicit timeouts, no redirects)."""
    plats = settings.enabled_platforms().values()
    slowest = max((p.timeout for p in plats), default=10.0)
    per_platform = settings.search.concurrency + 2
    limits = httpx.Limits(max_connections=per_platform * max(len(plats), 1),
                          max_keepalive_connections=per_platform * max(len(plats), 1),
                          keepalive_expiry=30.0)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(slowest, connect=min(slowest, 5.0)),
        limits=limits,
        headers={"User-Agent": "snapprice/0.1 (+image price monitor)"},
        follow_redirects=False,
    )


def make_client(name: str, plat: PlatformSettings, settings: Settings,
                http: httpx.AsyncClient, gate: Gate | None = None, account: str = "") -> SearchClient:
    """The client of one configured platform section and account (no call is made)."""
    cls = client_class(plat.protocol, where=f"platforms.{name}.protocol")
    return cls(name, plat, settings.credentials(name, account), http, gate=gate)


class _NoCalls(httpx.AsyncBaseTransport):
    """The transport of the clients ``check_platforms`` builds: they are never called."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError("check_platforms builds clients to check them; they send nothing")


def check_platforms(settings: Settings) -> None:
    """Fail fast on a bad enabled ``[platforms.NAME]`` section, before any work starts.

    Builds each section's client without calling it, so everything its constructor checks
    is checked: a known protocol, every credential field it signs with, its own options
    (TOP ``sign_method``, Aliyun ``pid``, page sizes). One ConfigError names every bad
    section (``platforms.NAME…``), separated by "; ".
    """
    problems: list[str] = []
    http = httpx.AsyncClient(transport=_NoCalls(), trust_env=False)
    for name, plat in settings.enabled_platforms().items():
        for account in plat.credential_sets():
            try:
                make_client(name, plat, settings, http, account=account.name)
            except ConfigError as exc:
                problems.append(str(exc) + (f" (account {account.name})" if account.name else ""))
    if problems:
        raise ConfigError("; ".join(problems))


def limiter_mode(settings: Settings, dsn: str | None) -> str:
    """``search.limiter`` with ``auto`` resolved: ``postgres`` when the run has a database
    (every run does: the budget is then shared by every run and worker on it), else
    ``process`` (a client used without one)."""
    mode = settings.search.limiter
    if mode == "auto":
        return "postgres" if dsn or settings.database.url else "process"
    return mode


def make_limiter(key: str, qps: float, settings: Settings, dsn: str | None) -> RateLimiter:
    """The limiter of one budget ``key`` (a route's account) in the configured mode
    (``search.limiter``)."""
    if limiter_mode(settings, dsn) == "process":
        return ProcessLimiter(qps)
    url = dsn or settings.database.url
    if not url:
        raise ConfigError("search.limiter: 'postgres' needs a database: set DATABASE_URL "
                          "(or pass the embedded server's DSN)")
    return PostgresLimiter(url, key, qps)


def build_searchers(settings: Settings, http: httpx.AsyncClient, *,
                    dsn: str | None = None,
                    backoff: Backoff | None = None) -> dict[str, Searcher]:
    """One ``PlatformSearcher`` per enabled platform, keyed by section name.

    Build them once per process (and event loop) and share them between tasks: each
    platform's gate (limiter, ban pause, stop switch) is built first and handed to both
    its client and its searcher.
    """
    out: dict[str, Searcher] = {}
    shared: dict[str, RateLimiter] = {}
    per_process = limiter_mode(settings, dsn) == "process"
    for name, plat in settings.enabled_platforms().items():
        accounts: list[tuple[PlatformSearcher, float]] = []
        for account in plat.credential_sets():
            qps = account.qps or plat.qps
            # One budget per account and route: sections naming the same options.limit_key
            # (one account on several routes) share it, in process mode as in postgres mode.
            key = str(plat.options.get("limit_key") or name) + (f"@{account.name}" if account.name else "")
            if key not in shared or not per_process:
                shared[key] = make_limiter(key, min(qps, _slowest(settings, key)), settings, dsn)
            gate = Gate(shared[key])
            accounts.append((PlatformSearcher(
                make_client(name, plat, settings, http, gate, account=account.name), gate,
                max_attempts=settings.search.max_attempts,
                max_retry_seconds=settings.search.max_retry_seconds, backoff=backoff,
                stop_after=settings.search.stop_after_same_errors), qps))
        out[name] = accounts[0][0] if len(accounts) == 1 else AccountPool(name, accounts)
    return out


def _slowest(settings: Settings, key: str) -> float:
    """The lowest QPS any section gives the budget ``key`` (sections may share an account)."""
    return min((a.qps or p.qps) for n, p in settings.enabled_platforms().items() for a in p.credential_sets()
               if str(p.options.get("limit_key") or n) + (f"@{a.name}" if a.name else "") == key)


async def close_searchers(searchers: dict[str, PlatformSearcher]) -> None:
    """Release limiter connections (postgres mode)."""
    for s in searchers.values():
        await s.aclose()
