"""Query pictures: from Base64, from an upload id, or fetched from a loopback URL; features cached."""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from snapprice.errors import ImageRejected
from snapprice.sandbox.features import Features, decode, extract

_OWN_IMG = re.compile(r"^/img/(?P<platform>[0-9a-z]+)/(?P<item>[0-9A-Za-z_-]+)\.jpg$")
_DATA_URI = re.compile(r"^data:image/[a-z+.-]+;base64,", re.IGNORECASE)


class IntakeError(Exception):
    """The query picture cannot be had; ``reason`` is short and machine-friendly."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Lru:
    def __init__(self, size: int) -> None:
        self._d: OrderedDict[str, Features] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str) -> Features | None:
        with self._lock:
            f = self._d.get(key)
            if f is not None:
                self._d.move_to_end(key)
            return f

    def put(self, key: str, f: Features) -> None:
        with self._lock:
            self._d[key] = f
            self._d.move_to_end(key)
            while len(self._d) > self._size:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


def b64_bytes(text: str) -> bytes:
    """Strict Base64 (an optional ``data:image/...;base64,`` prefix and whitespace allowed)."""
    s = _DATA_URI.sub("", text.strip())
    s = "".join(s.split())
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise IntakeError("bad_base64", "the image is not valid Base64") from None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Intake:
    """Turns what a caller sent into ``Features``, caching by upload id and by URL."""

    def __init__(self, *, max_bytes: int, own_image: Callable[[str, str], bytes],
                 fetch_timeout: float = 10.0) -> None:
        self.max_bytes = max_bytes
        self._own_image = own_image  # (platform or "product", id) -> JPEG bytes
        self._uploads = _Lru(20_000)
        self._urls = _Lru(4_096)
        self._timeout = fetch_timeout

    def reset(self) -> None:
        self._uploads.clear()
        self._urls.clear()

    def from_bytes(self, data: bytes) -> Features:
        try:
            return extract(decode(data, max_bytes=self.max_bytes))
        except ImageRejected as exc:
            raise IntakeError(exc.reason, exc.detail) from None

    def upload(self, data: bytes) -> str:
        """Store an uploaded picture; returns the id to search with."""
        features = self.from_bytes(data)
        imgid = str(int(hashlib.sha1(data).hexdigest()[:15], 16))  # numeric, like the real ids
        self._uploads.put(imgid, features)
        return imgid

    def remember(self, imgid: str, features: Features) -> None:
        self._uploads.put(imgid, features)

    def uploaded(self, imgid: str) -> Features | None:
        return self._uploads.get(imgid)

    async def from_url(self, url: str, own_port: int | None) -> Features:
        cached = self._urls.get(url)
        if cached is not None:
            return cached
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise IntakeError("bad_url", f"{url!r} is not an http(s) URL")
        if not is_loopback(parts.hostname):
            raise IntakeError("not_loopback",
                              f"the sandbox only fetches loopback URLs, not {parts.hostname}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        own = _OWN_IMG.match(parts.path)
        if own and port == own_port:
            try:
                data = self._own_image(own["platform"], own["item"])
            except KeyError:
                raise IntakeError("fetch_failed", f"{url}: no such picture (404)") from None
        else:
            data = await self._fetch(url)
        features = self.from_bytes(data)
        self._urls.put(url, features)
        return features

    async def _fetch(self, url: str) -> bytes:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client, \
                    client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise IntakeError("fetch_failed", f"{url}: HTTP {resp.status_code}")
                chunks, size = [], 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise IntakeError("too_large", f"{url}: more than {self.max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException:
            raise IntakeError("fetch_timeout", f"{url}: no answer within {self._timeout} s") from None
        except httpx.HTTPError as exc:
            raise IntakeError("fetch_failed", f"{url}: {type(exc).__name__}") from None
