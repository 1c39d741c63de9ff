"""The one interface every image-search protocol implements, and what they share.

Shared here: the HTTP round trip that turns transport failures into the error taxonomy
(``snapprice.errors``), and the redaction that keeps credentials out of everything kept.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from snapprice.errors import ConfigError, PlatformFatal, RequestRejected, TransientError
from snapprice.models import QueryImage, SearchPage

REDACTED = "***"
# Parameter names whose values are credentials or signatures; replaced wherever kept.
SECRET_PARAMS = frozenset(
    {"key", "secret", "sign", "session", "app_key", "app_secret", "access_token", "appkey"}
)
# Bulky, non-secret parameters (Base64 image bytes) kept as a size note only.
BULKY_PARAMS = frozenset({"imgcode", "image", "img_base64", "imgBase64"})
# "This ban will last for 31062 more seconds" (TOP), "retry in 5 s" (gateway-style reasons).
_BAN_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:more\s+)?(?:s|secs?|seconds?)\b", re.IGNORECASE)


class SearchClient(Protocol):
    """One marketplace route: one call = one page of image-search results."""

    name: str  # config section name ([platforms.NAME])
    platform: str  # marketplace of the listings (taobao, 1688, jd, pinduoduo)
    # Awaited before every HTTP request (uploads too); the execution layer sets it to its
    # limiter, so a client never calls without a QPS slot.
    gate: Callable[[], Awaitable[None]]

    async def search(self, image: QueryImage, page: int) -> SearchPage:
        """Search one page; raises a ``PlatformError`` subclass on failure."""
        ...


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


def ban_seconds(text: Any) -> float | None:
    """Seconds from "This ban will last for 31062 more seconds" (None when absent)."""
    if not isinstance(text, str):
        return None
    m = _BAN_RE.search(text)
    return float(m.group(1)) if m else None


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
    """A deep copy of a JSON-like value with credential keys and values masked."""
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
        "url": scrub(str(httpx.URL(url).copy_with(query=None)), secrets),
        "params": redact(dict(params), secrets),
    }
    if form:
        rec["form"] = redact(dict(form), secrets)
    if files:
        rec["files"] = {k: f"<{len(img.data)} bytes {img.mime} sha={img.digest}>"
                        for k, img in files.items()}
    return rec


def as_int(value: Any) -> int | None:
    """Lenient int for counters the platforms send as int or string ("800000")."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


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
) -> tuple[int, dict[str, Any]]:
    """One HTTP round trip → (status, JSON object); every failure becomes a PlatformError.

    Exceptions are raised ``from None`` so no httpx error (whose text holds the full URL,
    credentials included) ever travels in a traceback.
    """
    secrets = tuple(secrets)
    where = f"{method} {scrub(str(httpx.URL(url).copy_with(query=None)), secrets)}"
    try:
        resp = await http.request(method, url, params=dict(params), data=data, files=files,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
    except httpx.TimeoutException as exc:
        raise TransientError(platform, f"{where}: timed out ({type(exc).__name__})") from None
    except httpx.RequestError as exc:
        raise TransientError(platform, f"{where}: connection failed ({type(exc).__name__})") \
            from None
    status = resp.status_code
    if status == 429 or status == 408 or status >= 500:
        raise TransientError(platform, f"{where}: HTTP {status}; will retry",
                             retry_after=_retry_after(resp.headers.get("retry-after")))
    if status in (401, 403, 404):
        raise PlatformFatal(platform, f"{where}: HTTP {status}; check base_url and credentials")
    if status >= 400:
        raise RequestRejected(platform, f"{where}: HTTP {status}")
    try:
        body = json.loads(resp.content)
    except (ValueError, UnicodeDecodeError):
        raise TransientError(
            platform, f"{where}: malformed JSON body ({len(resp.content)} bytes); will retry"
        ) from None
    if not isinstance(body, dict):
        raise TransientError(platform, f"{where}: JSON body is a {type(body).__name__}, "
                                       "not an object; will retry")
    return status, body


async def no_gate() -> None:
    """The gate of a client used on its own (no PlatformSearcher): calls go straight out."""


def require_credentials(name: str, protocol: str, credentials: Mapping[str, str],
                        fields: tuple[str, ...]) -> None:
    """ConfigError naming the credential fields of ``name`` that have no value."""
    missing = [k for k in fields if not credentials.get(k)]
    if missing:
        raise ConfigError(f"platforms.{name}.credentials: no value for {', '.join(missing)} "
                          f"(protocol {protocol} needs {', '.join(f'`{f}`' for f in fields)})")
