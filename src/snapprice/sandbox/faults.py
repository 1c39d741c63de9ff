"""Seeded fault injection: which call fails how, and the broken responses themselves."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from snapprice.sandbox.config import FAULT_KINDS, SandboxConfig


class FaultPlan:
    """Decides, for the n-th call to a target, whether and how it fails.

    The decision depends only on (fault_seed, target, n), so a run that makes the same
    calls in the same order meets the same faults; rates are per target and kind.
    """

    def __init__(self, rates: Mapping[str, Mapping[str, float]], seed: int) -> None:
        self._rates = {t: [(k, r[k]) for k in FAULT_KINDS if r.get(k, 0) > 0] for t, r in rates.items()}
        self._seed = seed
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def decide(self, target: str) -> str | None:
        kinds = self._rates.get(target)
        if not kinds:
            return None
        with self._lock:
            n = self._calls.get(target, 0)
            self._calls[target] = n + 1
        digest = hashlib.blake2b(f"{self._seed}:{target}:{n}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        edge = 0.0
        for kind, rate in kinds:
            edge += rate
            if u < edge:
                return kind
        return None

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()


def _transport(receive: Receive) -> Any:
    # uvicorn's receive is a bound method of the request cycle, which holds the transport.
    return getattr(getattr(receive, "__self__", None), "transport", None)


class ResetResponse(Response):
    """Drop the connection with a TCP reset, sending nothing."""

    def __init__(self) -> None:
        super().__init__(b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = _transport(receive)
        if transport is None:  # not under uvicorn: the closest thing is an abrupt error
            raise ConnectionResetError("sandbox fault: reset")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed by the peer: nothing to reset
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await asyncio.sleep(0)  # let the server see the disconnect before we return


class TruncatedResponse(Response):
    """Promise a JSON body of some length, send part of it, then close the connection."""

    def __init__(self, body: bytes) -> None:
        super().__init__(body, media_type="application/json;charset=UTF-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.body
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": body[: max(1, len(body) // 3)], "more_body": True})
        transport = _transport(receive)
        if transport is None:
            raise ConnectionResetError("sandbox fault: truncated body")
        transport.close()
        await asyncio.sleep(0)


def http_error(status: int) -> Response:
    """An upstream-proxy style error page (HTML, not the protocol's JSON)."""
    text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
    return Response(f"<html><body><h1>{status} {text}</h1></body></html>", status_code=status,
                    media_type="text/html")


# A PHP warning ahead of a cut-off JSON body: the classic malformed gateway answer.
_MALFORMED = (b"<br />\n<b>Warning</b>: Too many connections in <b>/www/api/search.php</b>"
              b' on line <b>88</b><br />\n{"items":{"item":[{"num_iid":"1","title":"')


async def _stall(request: Request, seconds: float) -> None:
    """Hold the call for ``seconds``, or until the caller gives up and hangs up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        if await request.is_disconnected():
            return


async def broken_response(kind: str, config: SandboxConfig, request: Request) -> Response | None:
    """The broken response for ``kind``; ``None`` when the call goes on (slow, stall, code15)."""
    if kind in ("http_500", "http_502", "http_503"):
        return http_error(int(kind[-3:]))
    if kind == "reset":
        return ResetResponse()
    if kind == "malformed":
        return Response(_MALFORMED, media_type="application/json;charset=UTF-8")
    if kind == "truncated":
        return TruncatedResponse(b'{"items":{"page":"1","item":[' + b'{"num_iid":"0","title":"x"},' * 40 + b"]}}")
    if kind == "stall":
        await _stall(request, config.stall_seconds)
    elif kind == "slow":
        await asyncio.sleep(config.slow_seconds)
    return None
