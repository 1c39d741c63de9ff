"""A generated corpus of bad catalog input: broken images, hostile URLs, malformed catalogs."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image


def jpeg(seed: int, side: int = 256) -> bytes:
    """A small picture with structure (pHash needs more than flat colour)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    im = Image.fromarray(base).resize((side, side), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def png16(seed: int) -> bytes:
    ramp = (np.add.outer(np.arange(96), np.arange(96) * (seed + 2)) * 97 % 65535).astype(np.uint16)
    return _png(Image.fromarray(ramp))


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    return buf.getvalue()


def pixel_bomb() -> bytes:
    return _png(Image.new("1", (10_000, 10_000)))  # 10^8 pixels in a few kB


def huge_png(side: int, *, rgb: bool = True) -> bytes:
    """A valid side × side PNG of one colour, written row by row: a few hundred kB that
    decode to side² × 3 bytes (243 MB at 9000), made without holding them."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    comp = zlib.compressobj(9)
    row = b"\x00" + bytes(side * (3 if rgb else 1))  # filter byte, then the pixels
    idat = b"".join([comp.compress(row) for _ in range(side)] + [comp.flush()])
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2 if rgb else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def corrupt_jpeg() -> bytes:
    data = bytearray(jpeg(99))
    sos = data.index(b"\xff\xda")  # keep the headers, garble the entropy-coded data
    data[sos + 20:] = bytes(range(256)) * ((len(data) - sos - 20) // 256 + 1)
    return bytes(data[: len(data)])


# What the generated folder holds: file name -> (bytes, reject reason or None when usable).
def image_files() -> dict[str, tuple[bytes, str | None]]:
    good = {f"good{i}.jpg": (jpeg(i), None) for i in range(4)}
    return {
        **good,
        "deep16.png": (png16(1), None),  # 16-bit PNG: accepted and hashed
        "corrupt.jpg": (corrupt_jpeg(), "corrupt"),
        "truncated.jpg": (jpeg(7)[:900], "corrupt"),
        "zero.jpg": (b"", "empty_file"),
        "text.jpg": (b"this is a text file named like a picture\n" * 4, "not_an_image"),
        "bomb.png": (pixel_bomb(), "pixel_bomb"),
        "animated.gif": (animated_gif(), "animated"),
    }


class _Hostile(BaseHTTPRequestHandler):
    good = b""
    stall_seconds = 3.0

    def do_GET(self) -> None:
        if self.path == "/ok.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(self.good)))
            self.end_headers()
            self.wfile.write(self.good)
        elif self.path == "/loop.jpg":
            self.send_response(302)
            self.send_header("Location", "/loop.jpg")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/stall.jpg":
            time.sleep(self.stall_seconds)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        return None


@contextmanager
def hostile_server() -> Iterator[str]:
    """An HTTP server on loopback: /ok.jpg, /missing.jpg (404), /stall.jpg, /loop.jpg."""
    handler = type("Handler", (_Hostile,), {"good": jpeg(42)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Corpus:
    root: Path
    csv: Path  # the catalog with every bad row kind
    folder: Path  # a folder catalog of good and bad files
    expected: dict[str, str] = field(default_factory=dict)  # reject source -> reason (csv)
    expected_folder: dict[str, str] = field(default_factory=dict)
    good_rows: int = 0
    malformed: dict[str, tuple[Path, str]] = field(default_factory=dict)  # name -> (file, message part)


def build_corpus(root: Path, url: str) -> Corpus:
    """Write the folder, the catalog CSV and the malformed catalogs under ``root``."""
    folder = root / "folder"
    (folder / "shoes").mkdir(parents=True)
    files = image_files()
    for name, (data, _) in files.items():
        (folder / "shoes" / name).write_bytes(data)
    # Folder rows are the files in sorted order, numbered from 1.
    order = sorted(files)
    expected_folder = {f"folder:row {n}": files[name][1] for n, name in enumerate(order, 1)
                       if files[name][1]}

    csv_dir = root / "catalog"
    (csv_dir / "img").mkdir(parents=True)
    (root / "outside.jpg").write_bytes(jpeg(5))
    rows: list[tuple[str, str, str | None]] = []  # sku, image, expected reason
    for name, (data, reason) in files.items():
        (csv_dir / "img" / name).write_bytes(data)
        rows.append((f"SKU-{name.split('.')[0]}", f"img/{name}", reason))
    rows += [
        ("SKU-url-ok", f"{url}/ok.jpg", None),
        ("SKU-url-404", f"{url}/missing.jpg", "http_404"),
        ("SKU-url-stall", f"{url}/stall.jpg", "timeout"),
        ("SKU-url-loop", f"{url}/loop.jpg", "redirect_loop"),
        ("SKU-escape", "../outside.jpg", "path_escapes_root"),
        ("SKU-absent", "img/absent.jpg", "not_found"),
        ("SKU-ftp", "ftp://127.0.0.1/x.jpg", "unsupported_scheme"),
        ("", "img/good0.jpg", "missing_sku"),
        ("SKU-noimage", "", "empty_image"),
        ("SKU-good0", "img/good0.jpg", "duplicate_row"),  # the same row again
    ]
    lines = ["sku,image,title"] + [f"{s},{i},title of {s or 'nobody'}" for s, i, _ in rows]
    csv = csv_dir / "catalog.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = {f"catalog.csv:row {n}": reason for n, (_, _, reason) in enumerate(rows, 1) if reason}

    bad = root / "malformed"
    bad.mkdir()
    gbk = bad / "gbk.csv"
    gbk.write_bytes("sku,image,title\nSKU-1,img/a.jpg,运动鞋\n".encode("gbk"))
    nocol = bad / "nocol.csv"
    nocol.write_text("sku,title\nSKU-1,shoe\n", encoding="utf-8")
    ragged = bad / "ragged.csv"
    ragged.write_text("sku,image\nSKU-1,a.jpg,extra,cells\n", encoding="utf-8")
    empty = bad / "empty.csv"
    empty.write_text("", encoding="utf-8")
    malformed = {
        "non-UTF-8 CSV": (gbk, "is not UTF-8"),
        "CSV without `image`": (nocol, "required column(s) `image` missing"),
        "ragged CSV": (ragged, "is not valid CSV"),
        "empty CSV": (empty, "is empty"),
        "missing file": (bad / "absent.csv", "does not exist"),
    }
    return Corpus(root, csv, folder, expected, expected_folder,
                  sum(1 for *_, r in rows if r is None), malformed)
