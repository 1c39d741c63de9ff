"""Counters of what the sandbox served and refused, for tests and benchmarks."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

# Refusal codes that mean "too fast" on each protocol (TOP, gateway, Aliyun, 1688).
BAN_CODES = ("7", "4008", "Throttling.User", "gw.QpsOverrun")


def _group() -> dict[str, Any]:
    return {"calls": 0, "served": 0, "no_result": 0, "refused": Counter(), "faults": Counter(), "bans": 0}


class Stats:
    """Thread-safe counters per platform, per protocol and per caller key."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._platforms: dict[str, dict[str, Any]] = {}
            self._protocols: dict[str, dict[str, Any]] = {}
            self._keys: Counter[str] = Counter()
            self._times: deque[float] = deque(maxlen=200_000)
            self._started = self._clock()

    def record(self, protocol: str, platform: str, outcome: str, *, code: str | None = None,
               key: str | None = None) -> None:
        """Count one call. ``outcome``: served, no_result, refused (with ``code``), fault (``code`` = kind)."""
        with self._lock:
            self._times.append(self._clock())
            if key:
                self._keys[f"{protocol}:{key}"] += 1
            for table, name in ((self._platforms, platform), (self._protocols, protocol)):
                g = table.setdefault(name, _group())
                g["calls"] += 1
                if outcome in ("served", "no_result"):
                    g["served"] += 1
                    if outcome == "no_result":
                        g["no_result"] += 1
                elif outcome == "refused":
                    g["refused"][str(code)] += 1
                    if code in BAN_CODES:
                        g["bans"] += 1
                elif outcome == "fault":
                    g["faults"][str(code)] += 1

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        with self._lock:
            times = list(self._times)
            per_second = [0] * 60
            for t in times:
                age = int(now - t)
                if 0 <= age < 60:
                    per_second[59 - age] += 1

            def plain(table: dict[str, dict[str, Any]]) -> dict[str, Any]:
                return {n: {k: dict(v) if isinstance(v, Counter) else v for k, v in g.items()}
                        for n, g in table.items()}

            return {
                "uptime_seconds": round(now - self._started, 3),
                "platforms": plain(self._platforms),
                "protocols": plain(self._protocols),
                "calls_by_key": dict(self._keys),
                "requests_last_1s": sum(1 for t in times if now - t < 1),
                "requests_last_10s": sum(1 for t in times if now - t < 10),
                "per_second_last_60s": per_second,
            }
