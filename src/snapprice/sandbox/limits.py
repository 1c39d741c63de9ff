"""Per-caller QPS token buckets with bans on excess, and daily call quotas."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    banned_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a call was refused (``None`` fields mean it was admitted)."""

    reason: str | None = None  # "ban" (QPS exceeded or still banned) or "quota"
    wait_seconds: int = 0  # whole seconds until calls are admitted again
    used_today: int = 0

    @property
    def admitted(self) -> bool:
        return self.reason is None


@dataclass
class Limiter:
    """A token bucket per caller key: ``qps`` tokens a second, a burst of one second's worth.

    A call that finds the bucket empty starts a ban of ``ban_seconds``; calls during a ban
    are refused with the seconds left. A daily quota counts admitted calls per sandbox day.
    """

    qps: float
    ban_seconds: int
    daily_quota: int
    day_seconds: float
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _used: dict[tuple[str, int], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    bans: int = 0

    def check(self, key: str) -> Verdict:
        now = self.clock()
        day = math.floor(self.wall() / self.day_seconds)
        with self._lock:
            used = self._used.get((key, day), 0)
            if used >= self.daily_quota:
                left = (day + 1) * self.day_seconds - self.wall()
                return Verdict("quota", max(1, math.ceil(left)), used)
            capacity = max(1.0, self.qps)
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = _Bucket(tokens=capacity, stamp=now)
            if now < b.banned_until:
                return Verdict("ban", max(1, math.ceil(b.banned_until - now)), used)
            b.tokens = min(capacity, b.tokens + (now - b.stamp) * self.qps)
            b.stamp = now
            if b.tokens < 1.0:
                return self._ban(b, now, used)
            b.tokens -= 1.0
            self._used[(key, day)] = used + 1
            return Verdict(None, 0, used + 1)

    def ban(self, key: str) -> Verdict:
        """Ban ``key`` now for ``ban_seconds`` whatever its pace (a marketplace's risk control)."""
        now = self.clock()
        day = math.floor(self.wall() / self.day_seconds)
        with self._lock:
            b = self._buckets.setdefault(key, _Bucket(tokens=0.0, stamp=now))
            return self._ban(b, now, self._used.get((key, day), 0))

    def _ban(self, b: _Bucket, now: float, used: int) -> Verdict:
        """Start ``b``'s ban (the lock held)."""
        b.banned_until, b.tokens = now + self.ban_seconds, 0.0
        self.bans += 1
        return Verdict("ban", self.ban_seconds, used)

    def used_today(self, key: str) -> int:
        day = math.floor(self.wall() / self.day_seconds)
        with self._lock:
            return self._used.get((key, day), 0)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._used.clear()
            self.bans = 0
