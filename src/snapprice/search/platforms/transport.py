"""The platforms' HTTP transport: httpx's interface on aiohttp's connection pool.

httpx's own async transport (httpcore over anyio) costs ~1.3 ms of CPU per request on a
loopback API, aiohttp's ~0.35 ms (bench/bench_http.py): at 100-200 searches a second that
is a quarter of the search stage's CPU. The clients keep talking httpx (``AsyncClient``,
``MockTransport`` in tests); only the transport under the shared client changes. Every
aiohttp failure reaches the clients as an ``httpx.TransportError`` (a ``RequestError``),
so ``http._exchange`` turns it into a ``TransientError`` as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


class _Stream(httpx.AsyncByteStream):
    """The response body; a failure while reading it is an ``httpx.ReadError``."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(type(exc).__name__) from None

    async def aclose(self) -> None:
        with contextlib.suppress(aiohttp.ClientError):  # the connection is dropped either way
            await self._inner.aclose()


class ApiTransport(AiohttpTransport):
    """aiohttp under httpx for the marketplace APIs: no cookie jar of aiohttp's own (httpx's
    client keeps its jar as before), no proxy or netrc read from the environment by aiohttp
    itself (httpx mounts its own transport for an environment proxy), redirects never
    followed."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, client=self._session)

    def _session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self.limits.max_connections or 0,
                                         keepalive_timeout=self.limits.keepalive_expiry or 15.0,
                                         ssl=self.ssl_context)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                     trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except aiohttp.ClientError as exc:  # one the library does not map
            raise httpx.TransportError(type(exc).__name__) from None
        response.stream = _Stream(response.stream)  # type: ignore[arg-type]
        return response
