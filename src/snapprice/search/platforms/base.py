"""The one interface every image-search protocol implements, and what they share.

Shared here: the HTTP round trip that turns transport failures into the error taxonomy
(``snapprice.errors``), and the redaction that keeps credentials out of everything kept.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from snapprice.errors import ConfigError
from snapprice.models import QueryImage, SearchPage

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


def ban_seconds(text: Any) -> float | None:
    """Seconds from "This ban will last for 31062 more seconds" (None when absent)."""
    if not isinstance(text, str):
        return None
    m = _BAN_RE.search(text)
    return float(m.group(1)) if m else None


def as_int(value: Any) -> int | None:
    """Lenient int for counters the platforms send as int or string ("800000")."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


async def no_gate() -> None:
    """The gate of a client used on its own (no PlatformSearcher): calls go straight out."""


def require_credentials(name: str, protocol: str, credentials: Mapping[str, str],
                        fields: tuple[str, ...]) -> None:
    """ConfigError naming the credential fields of ``name`` that have no value."""
    missing = [k for k in fields if not credentials.get(k)]
    if missing:
        raise ConfigError(f"platforms.{name}.credentials: no value for {', '.join(missing)} "
                          f"(protocol {protocol} needs {', '.join(f'`{f}`' for f in fields)})")
