"""The HTTP round trip of every protocol, and the redaction that keeps credentials out of
everything kept: transport failures become the error taxonomy (``snapprice.errors``)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from snapprice.errors import (
    PlatformFatal,
    RequestRejected,
    TransientError,
)
from snapprice.models import QueryImage
from snapprice.search.platforms import jsonbody

REDACTED = "***"
MAX_BODY_BYTES = 8_000_000  # PlatformSettings.max_body_bytes; a page of 200 results is ~0.3 MB
PARSE_IN_THREAD_BYTES = 1_000_000


# Parameter names whose values are credentials or signatures; replaced wherever kept.
SECRET_PARAMS = frozenset(
    {"key", "secret", "sign", "session", "app_key", "app_secret", "access_token", "appkey"}
)


# Bulky, non-secret parameters (Base64 image bytes) kept as a size note only.
BULKY_PARAMS = frozenset({"imgcode", "image", "img_base64", "imgBase64"})


def redact_url(url: Any) -> str:
    """``url`` as text with credential query parameters masked."""
    u = httpx.URL(str(url))
    if not u.query:
        return str(u)
    params = [(k, REDACTED if k in SECRET_PARAMS else v) for k, v in u.params.multi_items()]
    return str(u.copy_with(query=urlencode(params, safe="*").encode("ascii")))


class RedactingFilter(logging.Filter):
    """Masks credentials in URLs that a library logs (httpx logs every request URL at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, httpx.URL) or (
                isinstance(a, str) and "://" in a and "?" in a) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    """Attach the RedactingFilter to httpx's logger once (idempotent)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


@functools.lru_cache(maxsize=256)
def _without_query(url: str) -> str:
    """``url`` without its query, as httpx writes it; cached: a platform calls a few URLs
    thousands of times, and parsing one is a tenth of a millisecond."""
    return str(httpx.URL(url).copy_with(query=None))


@functools.lru_cache(maxsize=256)
def _parsed(url: str) -> httpx.URL:
    """``url`` parsed once: httpx parses a URL given as text on every request."""
    return httpx.URL(url)


@functools.lru_cache(maxsize=64)
def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


def _retry_after(header: str | None) -> float | None:
    """Seconds of a numeric Retry-After header (HTTP dates are not worth honouring here)."""
    try:
        return max(float(header), 0.0) if header else None
    except ValueError:
        return None


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every literal credential value replaced by ``***``."""
    for s in secrets:
        if s:
            text = text.replace(s, REDACTED)
    return text


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A deep copy of a JSON-like value with credential keys and values masked.

    >>> redact({"key": "k1", "note": "echo s3cr3t", "imgcode": "A" * 300}, ["s3cr3t"])
    {'key': '***', 'note': 'echo ***', 'imgcode': '<300 chars>'}
    """
    secrets = tuple(s for s in secrets if s)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in SECRET_PARAMS:
                out[k] = REDACTED
            elif k in BULKY_PARAMS and isinstance(v, str | bytes) and len(v) > 256:
                out[k] = f"<{len(v)} chars>"
            else:
                out[k] = redact(v, secrets)
        return out
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        return scrub(value, secrets)
    return value


def request_record(method: str, url: str, params: Mapping[str, Any],
                   form: Mapping[str, Any] | None, secrets: Iterable[str],
                   files: Mapping[str, QueryImage] | None = None) -> dict[str, Any]:
    """Redacted request metadata for the archive: no credential anywhere, URL without query."""
    rec: dict[str, Any] = {
        "method": method,
        "url": scrub(_without_query(url), secrets),
        "params": redact(dict(params), secrets),
    }
    if form:
        rec["form"] = redact(dict(form), secrets)
    if files:
        rec["files"] = {k: f"<{len(img.data)} bytes {img.mime} sha={img.digest}>"
                        for k, img in files.items()}
    return rec


async def _exchange(http: httpx.AsyncClient, label: str, where: str, method: str, url: str, *,
                    timeout: float, max_bytes: int, **kwargs: Any) -> tuple[int, httpx.Headers, bytes]:
    """One request and its whole body, in ``timeout`` seconds IN ALL (connect, headers and
    body: httpx's own timeouts bound each read, so a server that trickles would hold the
    call forever) and at most ``max_bytes`` bytes. Failures become the error taxonomy."""
    try:
        async with asyncio.timeout(timeout):
            async with http.stream(method, _parsed(url), timeout=_timeout(timeout),
                                   **kwargs) as resp:
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise _TooLarge(f"declares {declared} bytes")
                buf = bytearray()
                async for chunk in resp.aiter_bytes():
                    buf += chunk
                    if len(buf) > max_bytes:
                        raise _TooLarge(f"sent more than {max_bytes} bytes")
                return resp.status_code, resp.headers, bytes(buf)
    except _TooLarge as exc:
        raise RequestRejected(label, f"{where}: the answer {exc} (limit max_body_bytes = "
                                     f"{max_bytes})", code="body_too_large") from None
    except TimeoutError:
        raise TransientError(label, f"{where}: no complete answer within {timeout:g} s; "
                                    "will retry") from None
    except httpx.TimeoutException as exc:
        raise TransientError(label, f"{where}: timed out ({type(exc).__name__})") from None
    except httpx.RequestError as exc:
        raise TransientError(label, f"{where}: connection failed ({type(exc).__name__})") \
            from None


class _TooLarge(Exception):
    pass


async def _parse(content: bytes) -> Any:
    """The body's JSON value (``jsonbody.loads``); a big one is parsed off the event loop,
    which keeps serving the other platforms meanwhile. ValueError when it is no JSON."""
    if len(content) > PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(jsonbody.loads, content)
    return jsonbody.loads(content)


async def fetch_json(
    http: httpx.AsyncClient,
    platform: str,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any],
    timeout: float,
    secrets: Iterable[str],
    data: Mapping[str, Any] | None = None,
    files: Any = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> tuple[int, dict[str, Any]]:
    """One HTTP round trip → (status, JSON object); every failure becomes a PlatformError.

    ``timeout`` bounds the whole call and ``max_bytes`` the body (see ``_exchange``); the
    body is read by ``jsonbody.loads`` (no NaN as a number, bounded depth). Exceptions are
    raised ``from None`` so no httpx error (whose text holds the full URL, credentials
    included) ever travels in a traceback.
    """
    secrets = tuple(secrets)
    where = f"{method} {scrub(_without_query(url), secrets)}"
    status, headers, content = await _exchange(
        http, platform, where, method, url, timeout=timeout, max_bytes=max_bytes,
        params=dict(params), data=data, files=files)
    if status == 429 or status == 408 or status >= 500:
        raise TransientError(platform, f"{where}: HTTP {status}; will retry",
                             retry_after=_retry_after(headers.get("retry-after")))
    if status in (401, 403, 404):
        raise PlatformFatal(platform, f"{where}: HTTP {status}; check base_url and credentials")
    if status >= 400:
        raise RequestRejected(platform, f"{where}: HTTP {status}")
    try:
        body = await _parse(content)
    except ValueError:
        raise TransientError(
            platform, f"{where}: malformed JSON body ({len(content)} bytes); will retry"
        ) from None
    if not isinstance(body, dict):
        raise TransientError(platform, f"{where}: JSON body is a {type(body).__name__}, "
                                       "not an object; will retry")
    return status, body


async def fetch_any_status(
    http: httpx.AsyncClient, label: str, url: str, *, form: Mapping[str, Any] | None = None,
    timeout: float, secrets: Iterable[str], max_bytes: int = MAX_BODY_BYTES,
    content: bytes | None = None, headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, Any] | None]:
    """POST a form → (status, JSON object or None): error statuses keep their JSON body,
    because these protocols say what went wrong in it (POP ``Code``, AOP ``error_code``).

    ``content`` is sent as it is instead of ``form``, with ``headers``: a signature over the
    body's digest (Aliyun V3) must cover the very bytes that travel.
    Bounded and parsed as ``fetch_json``. A body that is not a JSON object is judged by its
    status alone; transport failures become ``TransientError``. Raised ``from None``: no
    httpx text (full URL) travels on.
    """
    where = f"POST {scrub(_without_query(url), secrets)}"
    body_args: dict[str, Any] = {"data": dict(form or {})} if content is None else {"content": content}
    status, _, answer = await _exchange(http, label, where, "POST", url, timeout=timeout,
                                        max_bytes=max_bytes, headers=headers, **body_args)
    try:
        body = await _parse(answer)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return status, body
    if status == 429 or status == 408 or status >= 500:
        raise TransientError(label, f"{where}: HTTP {status}; will retry")
    if status in (401, 403, 404):
        text = scrub(answer[:120].decode("utf-8", "replace"), secrets).strip()
        raise PlatformFatal(label, f"{where}: HTTP {status} {text!r}; check base_url and credentials")
    if status >= 400:
        raise RequestRejected(label, f"{where}: HTTP {status}")
    raise TransientError(label, f"{where}: malformed JSON body ({len(answer)} bytes); will retry")
