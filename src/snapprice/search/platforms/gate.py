"""The gate every HTTP request of one platform passes: its QPS limiter, its stop switch and
the record of what was sent.

Built first and handed both to the client (which awaits ``gate.admit()`` before each
request, uploads included) and to the ``PlatformSearcher`` (which pauses it on a ban and
stops it on a fatal error). A client built without one gets an open gate of its own:
calls go straight out, still counted.

>>> import asyncio
>>> gate = Gate()
>>> asyncio.run(gate.admit()); gate.calls.attempts
1
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from snapprice.errors import PlatformFatal

if TYPE_CHECKING:
    from snapprice.search.platforms.limiter import RateLimiter


# Awaited by ``Gate.admit`` once a request of the current task is let through: set with
# ``on_admit`` around a search, so a caller learns of each request really sent (retries and
# uploads included) and of none that a stopped platform or a ban kept back.
_ON_ADMIT: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("snapprice_on_admit",
                                                                          default=None)


@contextmanager
def on_admit(hook: Callable[[], Awaitable[None]]) -> Iterator[None]:
    """Within this block (this asyncio task), await ``hook`` before each request that the
    gate admits, right before it is sent.

    >>> import asyncio
    >>> async def search_once(gate, sent):
    ...     async def count(): sent.append(1)
    ...     with on_admit(count):
    ...         await gate.admit()
    >>> sent = []; asyncio.run(search_once(Gate(), sent)); sent
    [1]
    """
    token = _ON_ADMIT.set(hook)
    try:
        yield
    finally:
        _ON_ADMIT.reset(token)


@dataclass
class CallCounters:
    """What one platform did: HTTP attempts (counted by the gate), retries, bans, outcomes."""

    attempts: int = 0
    retries: int = 0
    bans: int = 0
    ok: int = 0
    rejected: int = 0
    failed: int = 0


class Gate:
    """One platform's limiter (``None``: open), stop switch and call counters."""

    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter
        self.calls = CallCounters()
        self.stopped: PlatformFatal | None = None

    async def admit(self) -> None:
        """Return when one more request may go out (a QPS slot, no ban); count it, and
        await the ``on_admit`` hook of the caller's context, if any.

        Raises the stopping error at once when the platform is stopped, also when it was
        stopped while this caller waited for its slot.
        """
        self._raise_if_stopped()
        if self.limiter is not None:
            await self.limiter.acquire()
            self._raise_if_stopped()
        hook = _ON_ADMIT.get()
        if hook is not None:
            await hook()
        self.calls.attempts += 1

    def stop(self, exc: PlatformFatal) -> bool:
        """Stop the platform for the run with ``exc``; False when it was already stopped."""
        if self.stopped is not None:
            return False
        self.stopped = exc
        return True

    def stopped_error(self) -> PlatformFatal:
        """The error that stopped the platform, without the traceback of its first raise."""
        assert self.stopped is not None
        return self.stopped.with_traceback(None)

    def _raise_if_stopped(self) -> None:
        if self.stopped is not None:
            raise self.stopped_error()

    async def pause(self, seconds: float) -> None:
        """Hold every caller of the platform back for ``seconds`` (a ban it announced)."""
        if self.limiter is not None:
            await self.limiter.pause(seconds)

    async def aclose(self) -> None:
        """Release the limiter's resources (its database connection in postgres mode)."""
        if self.limiter is not None:
            await self.limiter.aclose()
