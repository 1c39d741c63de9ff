"""Bounded image downloads over real HTTP: one deadline (headers included), byte caps,
same-host redirects, case-insensitive schemes, and no private address for a marketplace's URL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from snapprice.errors import ImageRejected
from snapprice.ingest import fetch
from snapprice.ingest.fetch import (
    AddressGuard,
    FetchLimits,
    afetch_bytes,
    fetch_bytes,
    image_client,
    picture_client,
)
from snapprice.ingest.images import load_image

BODY = b"\xff\xd8\xff" + b"x" * 5000
LIMITS = FetchLimits(max_bytes=100_000, timeout=1.0)
TRICKLE_SECONDS = 8.0  # how long the trickling paths would hold a fetch without the deadline


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        if self.path == "/ok.jpg":
            self._send(200, BODY)
        elif self.path == "/trickle-headers":
            # A status line, then one header byte every 0.1 s: each read is quick.
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            for _ in range(int(TRICKLE_SECONDS * 10)):
                try:
                    self.wfile.write(b"X")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
            self.close_connection = True
        elif self.path == "/trickle-body":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(int(TRICKLE_SECONDS * 10)):
                try:
                    self.wfile.write(b"\xff")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
        elif self.path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Length", "200000")
            self.end_headers()
            self.close_connection = True
        elif self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(30):
                self.wfile.write(b"2710\r\n" + b"x" * 10_000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/to-same":
            self._send(302, Location="/ok.jpg")
        elif self.path == "/to-same-abs":
            self._send(301, Location=f"HTTP://127.0.0.1:{port}/ok.jpg")
        elif self.path == "/to-other-host":
            self._send(302, Location=f"http://localhost:{port}/ok.jpg")
        elif self.path == "/to-metadata":
            self._send(302, Location="http://169.254.169.254/latest/meta-data/")
        elif self.path == "/to-ftp":
            self._send(302, Location="ftp://127.0.0.1/x.jpg")
        elif self.path.startswith("/to-port/"):
            self._send(302, Location=f"http://127.0.0.1:{self.path.rsplit('/', 1)[1]}/ok.jpg")
        elif self.path == "/loop":
            self._send(302, Location="/loop")
        else:
            self._send(404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client giving up mid-answer is what these tests do


def _serve() -> tuple[ThreadingHTTPServer, str]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd, url = _serve()
    yield url
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def other_server() -> Iterator[str]:
    httpd, url = _serve()
    yield url
    httpd.shutdown()
    httpd.server_close()


CASES = [
    ("/ok.jpg", None),
    ("/to-same", None),
    ("/to-same-abs", None),
    ("/trickle-headers", "timeout"),
    ("/trickle-body", "timeout"),
    ("/big-declared", "too_large"),
    ("/big-chunked", "too_large"),
    ("/to-other-host", "redirect_elsewhere"),
    ("/to-metadata", "redirect_elsewhere"),
    ("/to-ftp", "unsupported_scheme"),
    ("/loop", "redirect_loop"),
    ("/missing.jpg", "http_404"),
]


@pytest.mark.parametrize(("path", "reason"), CASES)
def test_sync_fetch_is_bounded(server, path, reason):
    started = time.monotonic()
    with image_client() as http:
        if reason is None:
            assert fetch_bytes(http, server + path, LIMITS) == BODY
        else:
            with pytest.raises(ImageRejected) as info:
                fetch_bytes(http, server + path, LIMITS)
            assert info.value.reason == reason, info.value
    assert time.monotonic() - started < 2.5  # a 1 s deadline, whatever the server does


def test_load_image_deadline_covers_the_headers(server):
    """The reviewer's case: a header trickle held load_image 30 s at fetch_timeout=3, then
    gave `empty_file`. Now the deadline ends it, with the right reason."""
    started = time.monotonic()
    with pytest.raises(ImageRejected) as info:
        load_image(server + "/trickle-headers", max_bytes=1_000_000, max_pixels=10**7, timeout=1.0)
    elapsed = time.monotonic() - started
    assert info.value.reason == "timeout" and elapsed < 2.5
    print(f"\nheader trickle of {TRICKLE_SECONDS:g} s, deadline 1 s: ended after {elapsed:.2f} s")


@pytest.mark.parametrize("scheme", ["HTTP", "Http", "hTTp"])
def test_schemes_are_case_insensitive(server, scheme):
    url = scheme + server[len("http"):] + "/ok.jpg"
    assert fetch.is_url(url)
    with image_client() as http:
        assert fetch_bytes(http, url, LIMITS) == BODY


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x.jpg", "file:///etc/passwd", "/etc/passwd",
                                 "gopher://127.0.0.1:5432/"])
def test_other_schemes_are_refused(url):
    with image_client() as http, pytest.raises(ImageRejected) as info:
        fetch_bytes(http, url, LIMITS)
    assert info.value.reason == "unsupported_scheme"


# ---------------------------------------------------------------- pictures a marketplace names


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _get(url: str, guard: AddressGuard, limits: FetchLimits = LIMITS) -> bytes:
    async with picture_client(guard) as http:
        return await afetch_bytes(http, url, limits)


@pytest.mark.anyio
@pytest.mark.parametrize(("path", "reason"), CASES)
async def test_async_fetch_is_bounded_on_a_trusted_origin(server, path, reason):
    guard = AddressGuard([fetch.origin(server)])
    started = time.monotonic()
    if reason is None:
        assert await _get(server + path, guard) == BODY
    else:
        with pytest.raises(ImageRejected) as info:
            await _get(server + path, guard)
        assert info.value.reason == reason, info.value
    assert time.monotonic() - started < 2.5


@pytest.mark.anyio
@pytest.mark.parametrize("url", [
    "http://127.0.0.1:5432/",  # the reviewer's: the database, from a result's pic_url
    "http://127.0.0.1:{port}/ok.jpg",  # a server on loopback that is no platform's
    "http://[::1]:{port}/ok.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/x.jpg",
    "http://0.0.0.0:{port}/ok.jpg",
])
async def test_private_addresses_are_refused_before_connecting(server, url):
    port = fetch.origin(server)[1]
    started = time.monotonic()
    with pytest.raises(ImageRejected) as info:
        await _get(url.format(port=port), AddressGuard())
    assert info.value.reason == "private_address" and time.monotonic() - started < 1.0


@pytest.mark.anyio
async def test_a_public_looking_name_is_judged_by_its_address(server):
    """pics.example.test resolves (by the test's resolver) to loopback: refused."""
    port = fetch.origin(server)[1]
    asked: list[str] = []

    async def resolve(host: str, p: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34", "127.0.0.1"]  # one public, one private: refused as a whole

    with pytest.raises(ImageRejected) as info:
        await _get(f"http://pics.example.test:{port}/ok.jpg", AddressGuard(resolve=resolve))
    assert info.value.reason == "private_address" and "127.0.0.1" in info.value.detail
    assert asked == ["pics.example.test"]


@pytest.mark.anyio
async def test_the_connection_goes_to_the_address_checked(server, monkeypatch):
    """No second lookup between the check and the connection: the socket is opened on the
    address the guard returned (a name no DNS knows still reaches the server)."""
    port = fetch.origin(server)[1]

    async def resolve(host: str, p: int) -> list[str]:
        return ["127.0.0.1"]

    monkeypatch.setattr(fetch, "public_address", lambda ip: True)  # pretend loopback is public
    assert await _get(f"http://pics.invalid:{port}/ok.jpg", AddressGuard(resolve=resolve)) == BODY


@pytest.mark.anyio
async def test_a_redirect_from_a_trusted_origin_to_another_port_is_checked(server, other_server):
    other = fetch.origin(other_server)[1]
    guard = AddressGuard([fetch.origin(server)])
    with pytest.raises(ImageRejected) as info:
        await _get(f"{server}/to-port/{other}", guard)
    assert info.value.reason == "private_address"


def test_guard_unit():
    guard = AddressGuard([("Sandbox.Local", 8765)])
    assert guard.trusts("sandbox.local", 8765) and not guard.trusts("sandbox.local", 5432)
    assert socket.getaddrinfo  # the default resolver is the system's (asyncio getaddrinfo)
