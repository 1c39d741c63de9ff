"""The platforms' HTTP transport (aiohttp under httpx) against a real loopback server: answers
arrive whole, broken exchanges are transient errors, no redirect is followed, cookies stay
httpx's business."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from snapprice.errors import TransientError
from snapprice.search.platforms.http import fetch_json
from snapprice.search.platforms.transport import ApiTransport

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


def _answer(status: str, body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{head}\r\n").encode() + body


async def _serve(handler: Handler) -> tuple[asyncio.Server, str, list[bytes]]:
    seen: list[bytes] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                seen.append(head)
                await handler(head, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/taobao/item_search_img/", seen


async def _call(handler: Handler, calls: int = 1) -> tuple[list[object], list[bytes]]:
    server, url, seen = await _serve(handler)
    limits = httpx.Limits(max_connections=4)
    out: list[object] = []
    try:
        async with httpx.AsyncClient(transport=ApiTransport(limits), limits=limits) as http:
            for _ in range(calls):
                try:
                    out.append(await fetch_json(http, "taobao", "GET", url, params={"key": "k", "page": 1},
                                                timeout=2.0, secrets=("k",), max_bytes=10_000))
                except TransientError as exc:
                    out.append(exc)
    finally:
        server.close()
        await server.wait_closed()
    return out, seen


def test_an_answer_arrives_whole_and_cookies_are_httpx_s_alone():
    async def handler(_head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(_answer("200 OK", b'{"error_code": "0000", "n": 1}', "Set-Cookie: sid=abc; Path=/"))
        await writer.drain()

    out, seen = asyncio.run(_call(handler, calls=2))
    assert out == [(200, {"error_code": "0000", "n": 1})] * 2
    assert b"page=1" in seen[0] and b"key=k" in seen[0]
    # httpx's client keeps its cookie jar as before; aiohttp adds no jar of its own
    assert b"sid=abc" not in seen[0] and seen[1].count(b"sid=abc") == 1, seen


@pytest.mark.parametrize("broken", ["reset", "garbage", "short body"])
def test_a_broken_exchange_is_a_transient_error(broken):
    async def handler(_head: bytes, writer: asyncio.StreamWriter) -> None:
        if broken == "garbage":
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        elif broken == "short body":
            writer.write(_answer("200 OK", b'{"error_code": "0000"}')[:-5])
        await writer.drain()
        writer.close()

    out, _ = asyncio.run(_call(handler))
    assert isinstance(out[0], TransientError), out
    assert "k" not in str(out[0]).replace("taobao", "").replace("ask", ""), out[0]


def test_a_redirect_is_not_followed():
    async def handler(head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(_answer("302 Found", b"{}", "Location: http://127.0.0.1:1/elsewhere"))
        await writer.drain()

    out, seen = asyncio.run(_call(handler))
    assert len(seen) == 1  # one request: the redirect's target was never asked
    assert out == [(302, {})]
