"""Safe image loading: every bad input is a reject with a reason, local or over http."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from snapprice.errors import ImageRejected
from snapprice.ingest.images import load_image, sniff_mime

LIMITS = {"max_bytes": 2_000_000, "max_pixels": 20_000_000, "timeout": 1.0}


def _jpeg(size: tuple[int, int] = (320, 240), quality: int = 85) -> bytes:
    rng = np.random.default_rng(0)
    arr = (rng.random((size[1] // 8, size[0] // 8, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).resize(size).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()


def _pixel_bomb() -> bytes:
    # 10 000 × 10 000 one-bit pixels: a few kB on disk, 100 M pixels once decoded.
    return _png(Image.new("1", (10_000, 10_000)))


GOOD = _jpeg()
BAD_FILES = [
    ("truncated.jpg", GOOD[: len(GOOD) // 2], "corrupt"),
    ("garbled.jpg", GOOD[:600] + b"\x00" * 40 + b"\xff\xd9", "corrupt"),
    ("empty.jpg", b"", "empty_file"),
    ("text.jpg", b"this is not an image, just text\n", "not_an_image"),
    ("bomb.png", _pixel_bomb(), "pixel_bomb"),
    ("anim.gif", _animated_gif(), "animated"),
    ("big.jpg", GOOD + b"\x00" * 2_000_001, "too_large"),
]


@pytest.mark.parametrize(("name", "data", "reason"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_local_files_are_rejected(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageRejected) as info:
        load_image(str(path), **LIMITS)
    assert info.value.reason == reason


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageRejected) as info:
        load_image(str(tmp_path / "nope.jpg"), **LIMITS)
    assert info.value.reason == "not_found"


def test_good_local_jpeg_and_16bit_png(tmp_path: Path) -> None:
    path = tmp_path / "ok.jpg"
    path.write_bytes(GOOD)
    img = load_image(str(path), **LIMITS)
    assert (img.mime, img.width, img.height, img.data) == ("image/jpeg", 320, 240, GOOD)
    assert len(img.digest) == 64
    # 16-bit grayscale PNG is an image like any other (hashing rescales it, see test_hashing)
    sixteen = Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16))
    p16 = tmp_path / "deep.png"
    p16.write_bytes(_png(sixteen))
    assert load_image(str(p16), **LIMITS).mime == "image/png"


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "image/png"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"<html><body>", None),
        (b"", None),
    ],
)
def test_sniff_mime(head: bytes, mime: str | None) -> None:
    assert sniff_mime(head) == mime


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/ok.jpg":
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD)
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[:100])
            self.wfile.flush()
            time.sleep(3)
        elif self.path == "/trickle":
            self.send_response(200)
            self.end_headers()
            for _ in range(30):
                self.wfile.write(b"\xff")
                self.wfile.flush()
                time.sleep(0.1)
        elif self.path == "/html.jpg":
            body = b"<html>sorry</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing.jpg", "http_404"),
        ("/loop", "redirect_loop"),
        ("/stall", "timeout"),
        ("/trickle", "timeout"),
        ("/html.jpg", "not_an_image"),
    ],
)
def test_bad_urls_are_rejected(server: str, path: str, reason: str) -> None:
    started = time.monotonic()
    with pytest.raises(ImageRejected) as info:
        load_image(server + path, **LIMITS)
    assert info.value.reason == reason
    assert time.monotonic() - started < 2.5


def test_good_url_with_shared_client(server: str) -> None:
    with httpx.Client() as http:
        img = load_image(server + "/ok.jpg", **LIMITS, http=http)
    assert img.data == GOOD and img.mime == "image/jpeg"
