"""Image downloads within bounds: one deadline for a whole fetch, a byte cap, redirects on
the same host only, and (for URLs a marketplace hands out) no loopback or private address.

httpx's timeouts bound each read, not a fetch: a server that sends its headers a byte at a
time keeps a fetch alive as long as it likes. Here the deadline covers connect, headers,
body and redirects: async fetches (result pictures) run under ``asyncio.timeout``; sync
ones (catalog images, fetched from worker threads) go through ``image_client``, whose
sockets cut every read and write at the deadline that ``fetch_bytes`` sets.

Addresses are checked where the socket connects (``picture_client``): a host is resolved,
each address must be public (``public_address``), and the connection goes to the checked
address, so a name that resolves elsewhere on the second lookup gains nothing. Origins given
as trusted (a platform's own configured ``base_url``: the sandbox serves its pictures on
loopback) are exempt.

Every failure is an ``ImageRejected``: ``http_NNN``, ``too_large``, ``timeout``,
``redirect_loop``, ``redirect_elsewhere``, ``private_address``, ``unsupported_scheme``,
``bad_url``, ``connect_failed``, ``fetch_failed``, ``empty_file``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from snapprice.errors import ImageRejected

MAX_REDIRECTS = 5
Resolver = Callable[[str, int], Awaitable[list[str]]]  # (host, port) → IP addresses


def is_url(ref: str) -> bool:
    """Whether ``ref`` is an http(s) URL; schemes are case-insensitive ("HTTP://…" is one).

    >>> is_url("HTTP://cdn.example/a.jpg"), is_url("https://x/y"), is_url("/data/a.jpg")
    (True, True, False)
    """
    return ref[:8].lower().startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """What one fetch may take: bytes, seconds in all (redirects included), redirects."""

    max_bytes: int
    timeout: float
    max_redirects: int = MAX_REDIRECTS


def public_address(ip: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local,
    shared, reserved, multicast or unspecified; IPv4-mapped IPv6 judged as IPv4).

    >>> [public_address(a) for a in ("8.8.8.8", "127.0.0.1", "10.1.2.3", "169.254.169.254",
    ...                              "::1", "::ffff:192.168.0.1", "fe80::1%eth0", "2606:4700::1")]
    [True, False, False, False, False, False, False, True]
    """
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_global and not addr.is_multicast


def origin(url: str | httpx.URL) -> tuple[str, int]:
    """(host, port) of a URL, the scheme's default port filled in.

    >>> origin("HTTP://Sandbox.local/x"), origin("https://127.0.0.1:8765/")
    (('sandbox.local', 80), ('127.0.0.1', 8765))
    """
    u = httpx.URL(str(url))
    return u.host, u.port or (443 if u.scheme == "https" else 80)


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressRefused(httpcore.ConnectError):
    """A connection the guard does not allow; httpx raises it as a ConnectError's cause."""


class AddressGuard:
    """Which addresses a fetch may connect to: public ones, and the ``trusted`` origins
    ((host, port) pairs, connected to as they are). ``resolve`` is the DNS lookup (tests
    hand in their own)."""

    def __init__(self, trusted: Iterable[tuple[str, int]] = (), *,
                 resolve: Resolver | None = None) -> None:
        self.trusted = frozenset((h.lower(), p) for h, p in trusted)
        self._resolve = resolve or _getaddrinfo

    def trusts(self, host: str, port: int) -> bool:
        return (host.lower(), port) in self.trusted

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``; AddressRefused when any is not public
        (a name that also resolves to a private address is refused as a whole)."""
        try:
            found = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                found = await self._resolve(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"{host}: cannot be resolved ({exc})") from None
        private = [a for a in found if not public_address(a)]
        if private or not found:
            raise AddressRefused(f"{host}:{port} is {', '.join(private) or 'no address'}: not "
                                 "a public address, and not a configured platform's host")
        return found


# The deadline of the fetch running in this thread (sync fetches: see image_client).
_DEADLINE: ContextVar[float | None] = ContextVar("snapprice_fetch_deadline", default=None)


def _left(timeout: float | None, late: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the current fetch's deadline; ``late`` when none is."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise late("the fetch's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Sockets whose every connect, read and write ends by the current fetch's deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("image fetches use TCP only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connections only to addresses the guard allows, made to the very address checked."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        if self._guard.trusts(host, port):
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        error: httpcore.ConnectError | None = None
        for address in await self._guard.addresses(host, port):
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address,
                                                     socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("picture fetches use TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _limits(max_connections: int) -> httpx.Limits:
    return httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                        keepalive_expiry=30.0)


class _DeadlineTransport(httpx.HTTPTransport):
    def __init__(self, max_connections: int) -> None:
        limits = _limits(max_connections)
        super().__init__(limits=limits)
        # httpx has no parameter for httpcore's network backend: the pool it built is
        # replaced by one on ours (httpx < 1 is pinned; tests/ingest/test_fetch.py fails
        # if this stops taking effect).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=_DeadlineBackend())


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, guard: AddressGuard, max_connections: int) -> None:
        limits = _limits(max_connections)
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(  # as in _DeadlineTransport
            ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=_GuardedBackend(guard))


def image_client(*, max_connections: int = 16) -> httpx.Client:
    """The client for catalog images: its sockets honour each ``fetch_bytes`` deadline.

    Environment proxies (``HTTPS_PROXY``…) are honoured as httpx does; a proxied fetch is
    bounded per read only (the deadline is checked between the body's chunks).
    """
    return httpx.Client(transport=_DeadlineTransport(max_connections), follow_redirects=False,
                        headers={"User-Agent": "snapprice/0.1 (+image price monitor)"})


def picture_client(guard: AddressGuard, *, max_connections: int = 16) -> httpx.AsyncClient:
    """The client for pictures a marketplace names: connections only where ``guard`` allows.

    No environment proxy: behind one the addresses could not be checked.
    """
    return httpx.AsyncClient(transport=_GuardedTransport(guard, max_connections),
                             follow_redirects=False, trust_env=False,
                             headers={"User-Agent": "snapprice/0.1 (+image price monitor)"})


def _start(url: str) -> httpx.URL:
    if not is_url(url):
        raise ImageRejected("unsupported_scheme", f"{url[:200]}: only http and https URLs are fetched")
    try:
        return httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ImageRejected("bad_url", f"{url[:200]}: {exc}") from None


def _next_hop(first: httpx.URL, current: httpx.URL, resp: httpx.Response) -> httpx.URL | None:
    """Where a redirect leads (None when ``resp`` is no redirect); refused unless it stays
    on the first URL's host, with http or https."""
    if not resp.has_redirect_location:
        return None
    try:
        target = current.join(resp.headers["location"])
    except httpx.InvalidURL as exc:
        raise ImageRejected("bad_url", f"{first}: redirect to a bad URL ({exc})") from None
    if target.scheme not in ("http", "https"):
        raise ImageRejected("unsupported_scheme", f"{first} redirects to a {target.scheme}: URL")
    if target.host != first.host:
        raise ImageRejected("redirect_elsewhere", f"{first} redirects to {target.host}: "
                                                  "only redirects on the same host are followed")
    return target


def _check_response(url: httpx.URL, resp: httpx.Response, max_bytes: int) -> None:
    if resp.status_code != 200:
        raise ImageRejected(f"http_{resp.status_code}", f"GET {url} → {resp.status_code}")
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ImageRejected("too_large", f"{url} declares {declared} bytes, limit {max_bytes}")


def _add(buf: bytearray, chunk: bytes, url: httpx.URL, limits: FetchLimits, deadline: float) -> None:
    buf += chunk
    if len(buf) > limits.max_bytes:
        raise ImageRejected("too_large", f"{url} exceeds {limits.max_bytes} bytes")
    if time.monotonic() > deadline:
        raise ImageRejected("timeout", f"{url} took longer than {limits.timeout:g} s")


def _done(buf: bytearray, url: httpx.URL) -> bytes:
    if not buf:
        raise ImageRejected("empty_file", f"{url} sent 0 bytes")
    return bytes(buf)


def _translate(exc: httpx.HTTPError, url: str, limits: FetchLimits) -> ImageRejected:
    if isinstance(exc, httpx.TimeoutException):
        return ImageRejected("timeout", f"{url}: no complete answer within {limits.timeout:g} s")
    if isinstance(exc.__cause__, AddressRefused):
        return ImageRejected("private_address", f"{url}: {exc.__cause__}")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ImageRejected("unsupported_scheme", f"{url}: {exc}")
    if isinstance(exc, httpx.ConnectError):
        return ImageRejected("connect_failed", f"{url}: {exc}")
    return ImageRejected("fetch_failed", f"{url}: {type(exc).__name__}: {exc}")


def _too_many(url: str, limits: FetchLimits) -> ImageRejected:
    return ImageRejected("redirect_loop", f"{url}: more than {limits.max_redirects} redirects")


def fetch_bytes(http: httpx.Client, url: str, limits: FetchLimits) -> bytes:
    """GET ``url`` → its body, or ImageRejected, within ``limits`` in all.

    With an ``image_client`` the deadline also cuts a server trickling its headers; with
    another client it is checked between the body's chunks only.
    """
    first = current = _start(url)
    deadline = time.monotonic() + limits.timeout
    token = _DEADLINE.set(deadline)
    try:
        for _ in range(limits.max_redirects + 1):
            with http.stream("GET", current, timeout=limits.timeout) as resp:
                hop = _next_hop(first, current, resp)
                if hop is None:
                    _check_response(current, resp, limits.max_bytes)
                    buf = bytearray()
                    for chunk in resp.iter_bytes():
                        _add(buf, chunk, current, limits, deadline)
                    return _done(buf, current)
            current = hop
    except httpx.HTTPError as exc:
        raise _translate(exc, url, limits) from None
    finally:
        _DEADLINE.reset(token)
    raise _too_many(url, limits)


async def afetch_bytes(http: httpx.AsyncClient, url: str, limits: FetchLimits) -> bytes:
    """``fetch_bytes`` for an async client (``picture_client``): the deadline is one
    ``asyncio.timeout`` around the whole fetch."""
    first = current = _start(url)
    deadline = time.monotonic() + limits.timeout
    try:
        async with asyncio.timeout(limits.timeout):
            for _ in range(limits.max_redirects + 1):
                async with http.stream("GET", current) as resp:
                    hop = _next_hop(first, current, resp)
                    if hop is None:
                        _check_response(current, resp, limits.max_bytes)
                        buf = bytearray()
                        async for chunk in resp.aiter_bytes():
                            _add(buf, chunk, current, limits, deadline)
                        return _done(buf, current)
                current = hop
    except TimeoutError:
        raise ImageRejected("timeout", f"{url}: no complete answer within {limits.timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise _translate(exc, url, limits) from None
    raise _too_many(url, limits)
