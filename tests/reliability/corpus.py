"""A generated corpus of bad input: broken images, hostile URLs, malformed catalogs, and a
hostile marketplace (gateway and TOP answers no real one should send, pictures that attack)."""

from __future__ import annotations

import io
import json
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit

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


# ---------------------------------------------------------------- the hostile marketplace

# Placeholders in a body's JSON that become raw text no json.dumps writes.
_RAW = {
    '"@@NAN@@"': "NaN",
    '"@@NEGINF@@"': "-Infinity",
    '"@@BIG@@"': "1e309",
    '"@@DEEP@@"': "[" * 1500 + "]" * 1500,
    '"@@DEEPER@@"': "[" * 100_000 + "]" * 100_000,
}
TRICKLE_SECONDS = 10.0  # how long a trickle would last if nobody hung up


def _good_item(n: str, pic: str | None = None) -> dict[str, object]:
    return {"num_iid": n, "title": f"good {n}", "price": "39.90", "promotion_price": "29.90",
            "orginal_price": "59.00", "sales": "1200人付款", "seller_nick": "good shop",
            "pic_url": pic, "detail_url": f"//item.example/{n}.htm"}


# Scenario → what its page holds besides one or two good items: (bad items, top-level fields).
# Each bad item's `num_iid` ends in its expected reject reason (see EXPECTED_REJECTS).
def _scenario_items(scenario: str, tag: str) -> tuple[list[dict[str, object]], dict[str, object]]:
    if scenario == "nul":
        return [{"num_iid": f"{tag}-bad_text", "title": "围巾\u0000", "price": "9.90"}], \
            {"reason": "ok\u0000", "note\u0000": "a NUL in a key"}
    if scenario == "surrogate":
        return [{"num_iid": f"{tag}-bad_text", "title": "half \ud800 pair", "price": "9.90"}], \
            {"reason": "\udfff"}
    if scenario == "inf":
        return [{"num_iid": f"{tag}-unusable_price", "title": "t", "price": "@@BIG@@"}], {}
    if scenario == "nan":
        return [{"num_iid": f"{tag}-unusable_price", "title": "t", "price": "@@NAN@@"},
                {**_good_item(f"{tag}-kept"), "orginal_price": "@@NEGINF@@"}], {}
    if scenario == "apiinfo":
        return [], {"api_info": {"today": 1, "max": 100}, "cache": {"x": 1}}
    if scenario == "deep":
        return [{"num_iid": f"{tag}-not_text", "title": "@@DEEP@@", "price": "9.90"}], \
            {"trace": "@@DEEPER@@"}
    if scenario == "types":
        return [{"num_iid": f"{tag}-not_text-1", "title": ["list"], "price": "9.90"},
                {"num_iid": f"{tag}-not_text-2", "title": "t", "seller_nick": {"x": 1}, "price": "1"},
                {"num_iid": f"{tag}-not_text-3", "title": "t", "sales": {"x": 1}, "price": "1"},
                {"num_iid": ["list"], "title": "t", "price": "1"}], {}
    if scenario == "big":
        return [], {"padding": "x" * 300_000}
    return [], {}


class _Market(BaseHTTPRequestHandler):
    """The gateway (``/{scenario}/upload_img/``, ``/{scenario}/item_search_img/``), the TOP
    router (``POST /top/{scenario}``) and pictures (``/pic/…``), each answer hostile its own way."""

    market: HostileMarket

    def log_message(self, *args: object) -> None:
        return None

    def _json(self, body: dict[str, object], status: int = 200) -> None:
        text = json.dumps(body, ensure_ascii=True)
        for placeholder, raw in _RAW.items():
            text = text.replace(placeholder, raw)
        self._bytes(text.encode("ascii"), "application/json;charset=UTF-8", status)

    def _bytes(self, data: bytes, ctype: str = "image/jpeg", status: int = 200,
               **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _trickle(self, what: str, key: str) -> None:
        """Send a 200 whose headers or body come a byte every 0.1 s; record how long the
        client stayed (it hangs up at its deadline)."""
        started = time.monotonic()
        try:
            if what == "headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            else:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b'{"items": ')
            for _ in range(int(TRICKLE_SECONDS * 10)):
                self.wfile.flush()
                time.sleep(0.1)
                self.wfile.write(b"X" if what == "headers" else b" ")
        except OSError:
            pass
        self.market.record_trickle(key, time.monotonic() - started)
        self.close_connection = True

    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_POST(self) -> None:
        self._read_body()
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[0] == "top":
            self.market.count(parts[1])
            self._top(parts[1])
        elif parts[-1] == "upload_img":
            self.market.count(parts[0] + "/upload")
            self._json({"items": {"item": {"name": f"img-{self.market.next_id()}"}},
                        "error_code": "0000", "reason": "ok"})
        else:
            self._bytes(b"", status=404)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if parts[0] == "pic":
            self._picture(parts[1])
            return
        scenario = parts[0]
        self.market.count(scenario)
        imgid = dict(parse_qsl(url.query)).get("imgid", "")
        tag = f"{scenario}-{self.market.next_id()}"
        if scenario == "gw4003":
            self._json({"error_code": "4003", "error": "param",
                        "reason": f"Param error: imgid {imgid[-12:]} cannot be read"})
            return
        if scenario in ("trickle", "headers") and self.market.first_time(scenario, imgid):
            self._trickle("headers" if scenario == "headers" else "body", scenario)
            return
        bad, extra = _scenario_items(scenario, tag)
        good = [_good_item(f"{tag}-ok")]
        if scenario == "pics":
            good = [_good_item(f"{tag}-pic{k}", pic) for k, pic in enumerate(self.market.pictures())]
        items = good + bad
        self._json({"items": {"page": "1", "page_size": 20, "pagecount": "1", "item": items},
                    "error_code": "0000", "reason": "ok", "api_info": "today:1 max:1000",
                    "cache": 0, **extra})

    def _top(self, scenario: str) -> None:
        if scenario == "top40":
            self._json({"error_response": {
                "code": 40, "msg": "Missing Required Arguments",
                "sub_code": "isv.missing-parameter:image", "sub_msg": "image is required",
                "request_id": f"r{self.market.next_id()}"}})
            return
        tag = f"{scenario}-{self.market.next_id()}"
        bad, _ = _scenario_items("nul", tag)
        bad += _scenario_items("nan", tag)[0]
        items = [_good_item(f"{tag}-ok"), *bad]
        self._json({"item_search_img_response": {"items": {"item": items},
                                                 "total_results": len(items), "has_more": False}})

    def _picture(self, name: str) -> None:
        m = self.market
        if name.startswith("good-"):
            self._bytes(jpeg(int(name[5:].split(".")[0]) + 1000))
        elif name.startswith("huge-"):
            self._bytes(m.huge, "image/png")
        elif name == "fat.jpg":
            self._bytes(jpeg(1) + bytes(m.fat_bytes))
        elif name in ("trickle-headers.jpg", "trickle-body.jpg"):
            self._trickle(name[8:-4], "pic-" + name[8:-4])
        elif name == "cat-trickle.jpg":  # a catalog image URL
            self._trickle("headers", "catalog")
        elif name == "to-loopback.jpg":
            self._bytes(b"", status=302, Location=f"{m.other_url}/good.jpg")
        elif name == "to-localhost.jpg":
            self._bytes(b"", status=302, Location=f"http://localhost:{m.port}/pic/good-1.jpg")
        else:
            self._bytes(b"", status=404)


class _Other(BaseHTTPRequestHandler):
    """A server on loopback that is no platform's (the database, an admin page): result
    pictures must never reach it."""

    hits: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        self.hits.append(self.path)
        data = jpeg(4242)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return None  # clients hanging up at their deadline is the point


@dataclass
class HostileMarket:
    """What the hostile marketplace saw: calls per scenario, trickle durations."""

    url: str = ""
    port: int = 0
    other_url: str = ""
    huge: bytes = b""
    fat_bytes: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    other_hits: list[str] = field(default_factory=list)  # requests the other server got
    trickles: dict[str, list[float]] = field(default_factory=dict)
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _ids: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, scenario: str) -> None:
        with self._lock:
            self.calls[scenario] = self.calls.get(scenario, 0) + 1

    def next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def first_time(self, scenario: str, imgid: str) -> bool:
        with self._lock:
            new = (scenario, imgid) not in self._seen
            self._seen.add((scenario, imgid))
            return new

    def record_trickle(self, key: str, seconds: float) -> None:
        with self._lock:
            self.trickles.setdefault(key, []).append(seconds)

    def pictures(self) -> list[str]:
        """The ``pic_url`` of each result of the ``pics`` page (20 of them)."""
        own, port = self.url, self.port
        return [
            f"{own}/pic/good-1.jpg",
            f"HTTP://127.0.0.1:{port}/pic/good-2.jpg",  # an upper-case scheme is a URL
            f"//127.0.0.1:{port}/pic/good-3.jpg",  # scheme-relative: https, then plain http
            *[f"{own}/pic/huge-{k}.png" for k in range(10)],  # 9000 × 9000 each
            f"{own}/pic/fat.jpg",
            f"{own}/pic/trickle-headers.jpg",
            f"{own}/pic/trickle-body.jpg",
            f"{own}/pic/to-loopback.jpg",  # same host, another port: not the platform's
            f"{own}/pic/to-localhost.jpg",  # another host name
            f"{self.other_url}/good.jpg",  # a loopback server that is no platform's
            "http://127.0.0.1:5432/",  # the database's port (reviewer's example)
        ]


@contextmanager
def hostile_market(*, fat_bytes: int = 4_000_000) -> Iterator[HostileMarket]:
    """The hostile marketplace on loopback, and a second server no picture may reach."""
    market = HostileMarket(huge=huge_png(9000), fat_bytes=fat_bytes)
    other = _QuietServer(("127.0.0.1", 0), type("Other", (_Other,), {"hits": market.other_hits}))
    server = _QuietServer(("127.0.0.1", 0), type("Market", (_Market,), {"market": market}))
    market.port = server.server_address[1]
    market.url = f"http://127.0.0.1:{market.port}"
    market.other_url = f"http://127.0.0.1:{other.server_address[1]}"
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (server, other)]
    for t in threads:
        t.start()
    try:
        yield market
    finally:
        for s in (server, other):
            s.shutdown()
            s.server_close()
