"""The one interface every image-search protocol implements, and the helpers they share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import httpx

from snapprice.errors import ConfigError
from snapprice.models import QueryImage, SearchItem, SearchPage
from snapprice.search.platforms.gate import Gate
from snapprice.settings import PlatformSettings

# "This ban will last for 31062 more seconds" (TOP), "retry in 5 s" (gateway-style reasons).
_BAN_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:more\s+)?(?:s|secs?|seconds?)\b", re.IGNORECASE)


class SearchClient(Protocol):
    """One marketplace route: one call = one page of image-search results.

    The class carries what the rest of snapprice needs to know about its protocol: its
    name (the ``protocol`` of a ``[platforms.NAME]`` section and of an archived response),
    the credential fields it signs with, and ``parse``, which re-reads an archived body.
    The registry (``registry.PROTOCOLS``) maps each name to its class.
    """

    protocol: ClassVar[str]  # e.g. "gateway"; the key of its line in registry.PROTOCOLS
    credential_fields: ClassVar[tuple[str, ...]]  # required keys of settings.credentials(NAME)
    # A picture with a public URL is sent as that URL, never as bytes: the search stage
    # then does not load it (QueryImage.data stays empty).
    sends_url: ClassVar[bool]

    name: str  # config section name ([platforms.NAME])
    platform: str  # marketplace of the listings (taobao, 1688, jd, pinduoduo)
    gate: Gate  # awaited (``gate.admit()``) before every HTTP request, uploads included

    def __init__(self, name: str, settings: PlatformSettings, credentials: Mapping[str, str],
                 http: httpx.AsyncClient, *, gate: Gate | None = None) -> None:
        """Check the section (``ConfigError`` naming ``platforms.NAME…``); no call is made.

        ``gate``: the platform's limiter and stop switch; ``None`` gives an open gate.
        """
        ...

    async def search(self, image: QueryImage, page: int) -> SearchPage:
        """Search one page; raises a ``PlatformError`` subclass on failure."""
        ...

    @staticmethod
    def parse(marketplace: str, body: Any, *, page: int | None, page_size: int | None,
              options: Mapping[str, Any]) -> list[SearchItem]:
        """The items of one body as ``search`` received it (pure; the backfill replays with it).

        ``page``/``page_size`` are the request's (they set each item's rank); ``options``
        are the section's ``options``. Raises the ``PlatformError`` the body stands for.
        """
        ...


def ban_seconds(text: Any) -> float | None:
    """Seconds from "This ban will last for 31062 more seconds" (None when absent).

    >>> ban_seconds("This ban will last for 31062 more seconds"), ban_seconds("busy")
    (31062.0, None)
    """
    if not isinstance(text, str):
        return None
    m = _BAN_RE.search(text)
    return float(m.group(1)) if m else None


def as_int(value: Any) -> int | None:
    """Lenient int for counters the platforms send as int or string ("800000").

    >>> as_int("800000"), as_int(45), as_int("n/a"), as_int(True)
    (800000, 45, None, None)
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def as_id(value: Any) -> Any:
    """An id as text when it is one (a string, or an integer: 1688's ``offerId`` is a Long);
    anything else as it came, for ``normalize`` to reject rather than store its repr.

    >>> as_id(740463295406), as_id("A1"), as_id(None), as_id(["x"]), as_id(True)
    ('740463295406', 'A1', None, ['x'], True)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def require_credentials(name: str, client: type[SearchClient],
                        credentials: Mapping[str, str]) -> None:
    """ConfigError naming the credential fields of section ``name`` that have no value."""
    fields = client.credential_fields
    missing = [k for k in fields if not credentials.get(k)]
    if missing:
        raise ConfigError(f"platforms.{name}.credentials: no value for {', '.join(missing)} "
                          f"(protocol {client.protocol} needs {', '.join(f'`{f}`' for f in fields)})")
