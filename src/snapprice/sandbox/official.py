"""What the two official routes (Aliyun ImageSearch, 1688 AOP) share: scored hits, throttles, nonces."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from snapprice.sandbox.features import Features
from snapprice.sandbox.limits import Limiter
from snapprice.sandbox.market import Market
from snapprice.sandbox.world import Listing


@dataclass(frozen=True, slots=True)
class Hits:
    """One page of relevant listings with their similarity, and how many there are in all."""

    listings: list[Listing]
    scores: list[float]
    total: int


def ranked(market: Market, q: Features, platform: str, *, offset: int, limit: int) -> Hits:
    """Listings on ``platform`` like ``q`` and listed now, relevance order, ``limit`` from ``offset``."""
    world = market.world
    at = market.now()
    rows, scores = world.index.search(q, platform, min_score=market.config.min_score)
    pairs = [(world.listings[r], float(s)) for r, s in zip(rows, scores, strict=True)]
    pairs = [(x, s) for x, s in pairs if world.is_listed(x.item_id, x.platform, at)]
    chunk = pairs[offset: offset + limit]
    return Hits([x for x, _ in chunk], [round(s, 4) for _, s in chunk], len(pairs))


class NonceBook:
    """Nonces seen within the timestamp window: a second use of one is a replay."""

    def __init__(self, window: float, clock: Callable[[], float]) -> None:
        self._window = window
        self._clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def first_use(self, caller: str, nonce: str) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._seen) > 100_000:  # forget what the window no longer protects
                self._seen = {k: t for k, t in self._seen.items() if now - t <= self._window}
            key = (caller, nonce)
            seen = self._seen.get(key)
            if seen is not None and now - seen <= self._window:
                return False
            self._seen[key] = now
            return True

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


class RouteState:
    """Per-route throttle (no ban: these routes refuse the excess call only) and nonce memory."""

    def __init__(self, market: Market) -> None:
        cfg = market.config
        self.market = market
        # ban_seconds=0: a refused call does not lock the caller out, unlike TOP and the gateway.
        self.limiter = Limiter(cfg.qps, 0, cfg.daily_quota, cfg.day_seconds, wall=market.clock)
        self.nonces = NonceBook(cfg.timestamp_window * 2, market.clock)

    def reset(self) -> None:
        self.limiter.reset()
        self.nonces.reset()
