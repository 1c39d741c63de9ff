"""Several accounts of one route searched as one: each call goes to the account whose budget
frees first, so k accounts give k × QPS; an account that is banned for longer than a run
can wait, out of quota or refused (bad key) is set aside while the others go on.

An ``AccountPool`` answers like a ``PlatformSearcher`` (``search``, ``stopped``, ``calls``,
``aclose``), so the executor does not know whether a platform has one account or ten.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from snapprice.errors import PlatformFatal
from snapprice.models import QueryImage, SearchPage
from snapprice.search.platforms.gate import CallCounters
from snapprice.search.platforms.searcher import PlatformSearcher

log = logging.getLogger(__name__)


class AccountPool:
    """``searchers`` (one per account, each behind its own gate and limiter) as one platform.

    Which account takes a call: the one whose next slot comes first on a local schedule of
    ``1/qps`` per call (the account's own limiter still decides when the call goes out, so
    other processes sharing the budget only make the local guess pessimistic).

    >>> import asyncio
    >>> from snapprice.models import SearchPage
    >>> class Fake:
    ...     def __init__(self, name): self.name, self.platform, self.stopped = name, "taobao", None
    ...     calls = CallCounters()
    ...     async def search(self, image, page): return self.name
    >>> pool = AccountPool("taobao", [(Fake("a"), 2.0), (Fake("b"), 1.0)])
    >>> async def take(n): return [await pool.search(None, 1) for _ in range(n)]
    >>> asyncio.run(take(6))  # a has twice b's budget: two calls in three
    ['a', 'b', 'a', 'a', 'b', 'a']
    """

    def __init__(self, name: str, searchers: list[tuple[PlatformSearcher, float]]) -> None:
        if not searchers:
            raise ValueError(f"{name}: an account pool needs at least one account")
        self.name = name
        self.platform = searchers[0][0].platform
        self.searchers = [s for s, _ in searchers]
        self._step = [1.0 / qps for _, qps in searchers]
        self._next = [0.0] * len(searchers)
        self._last_error: PlatformFatal | None = None

    def _live(self) -> list[int]:
        return [i for i, s in enumerate(self.searchers) if s.stopped is None]

    def _choose(self) -> int | None:
        live = self._live()
        if not live:
            return None
        now = time.monotonic()
        chosen = min(live, key=lambda i: (max(self._next[i], now), i))
        self._next[chosen] = max(self._next[chosen], now) + self._step[chosen]
        return chosen

    @property
    def stopped(self) -> PlatformFatal | None:
        """Set when every account is set aside: the error of the last one."""
        return None if self._live() else self._last_error

    @property
    def calls(self) -> CallCounters:
        """The accounts' counters, summed."""
        total = CallCounters()
        for searcher in self.searchers:
            for field in dataclasses.fields(CallCounters):
                setattr(total, field.name, getattr(total, field.name) + getattr(searcher.calls, field.name))
        return total

    async def search(self, image: QueryImage, page: int = 1) -> SearchPage:
        """One page of results through the account whose turn it is; an account that stops
        hands the call to the next, until none is left (then ``PlatformFatal``)."""
        while (i := self._choose()) is not None:
            searcher = self.searchers[i]
            try:
                return await searcher.search(image, page)
            except PlatformFatal as exc:
                self._last_error = exc
                left = len(self._live())
                log.error("%s: account %d of %d set aside for this run (%s); %d left",
                          self.name, i + 1, len(self.searchers), exc, left)
        assert self._last_error is not None
        raise self._last_error.with_traceback(None)

    async def aclose(self) -> None:
        for searcher in self.searchers:
            await searcher.aclose()

