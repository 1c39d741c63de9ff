"""The sandbox's shared state (world, limits, faults, counters) and the search both protocols serve."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from snapprice.sandbox.config import SandboxConfig
from snapprice.sandbox.faults import FaultPlan
from snapprice.sandbox.features import Features
from snapprice.sandbox.intake import Intake
from snapprice.sandbox.limits import Limiter
from snapprice.sandbox.stats import Stats
from snapprice.sandbox.world import World

# sort value -> (field, descending); "" keeps the relevance order.
SORTS: dict[str, tuple[str, bool]] = {
    "": ("", False), "default": ("", False), "_credit": ("", False), "credit": ("", False),
    "bid": ("price", False), "_bid": ("price", True), "bid2": ("price", False), "_bid2": ("price", True),
    "price_asc": ("price", False), "price_desc": ("price", True),
    "sale": ("sales", False), "_sale": ("sales", True),
    "sales_asc": ("sales", False), "sales_desc": ("sales", True),
}
TOP_SORTS = ("", "default", "price_asc", "price_desc", "sales_asc", "sales_desc")


@dataclass(frozen=True, slots=True)
class Results:
    items: list[dict[str, object]]
    total: int
    pagecount: int


class Market:
    """Everything a request handler needs; one per running sandbox."""

    def __init__(self, world: World, config: SandboxConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        cfg = config or world.config
        self.world = world
        self.config = cfg
        self.clock = clock
        self.limiter = Limiter(cfg.qps, cfg.ban_seconds, cfg.daily_quota, cfg.day_seconds, wall=clock)
        self.faults = FaultPlan(cfg.faults, cfg.fault_seed)
        self.stats = Stats(clock)
        self.intake = Intake(max_bytes=cfg.max_image_bytes, own_image=self._own_image)
        self._cache: dict[tuple[object, ...], tuple[int, Results]] = {}
        self._request_no = 0

    def _own_image(self, platform: str, item: str) -> bytes:
        if platform == "product":
            return self.world.product_image_bytes(item)
        return self.world.listing_image_bytes(platform, item)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def request_id(self) -> str:
        self._request_no += 1
        return f"sbx{self._request_no:x}{int(self.clock() * 1000) % 10**6:06d}"

    def reset(self) -> None:
        self.limiter.reset()
        self.faults.reset()
        self.stats.reset()
        self.intake.reset()
        self._cache.clear()

    def cached(self, key: tuple[object, ...]) -> Results | None:
        """A response stored earlier in the same sandbox day (the gateway's ``cache`` flag)."""
        hit = self._cache.get(key)
        if hit and hit[0] == self.world.day(self.now()):
            return hit[1]
        return None

    def store(self, key: tuple[object, ...], value: Results) -> None:
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = (self.world.day(self.now()), value)

    def search(self, q: Features, platform: str, *, cat: str, sort: str, page: int, page_size: int,
               host: str) -> Results:
        """Ranked listings on ``platform`` like ``q``, listed now, one page of them."""
        at = self.now()
        rows, _scores = self.world.index.search(q, platform, min_score=self.config.min_score, cat=cat)
        hits = [self.world.listings[r] for r in rows]
        hits = [x for x in hits if self.world.is_listed(x.item_id, x.platform, at)]
        field, desc = SORTS[sort]
        if field == "price":
            hits.sort(key=lambda x: self.world.served_price(x.item_id, x.platform, at)[0], reverse=desc)
        elif field == "sales":
            hits.sort(key=lambda x: self.world.served_sales(x.item_id, x.platform, at)[1], reverse=desc)
        total = len(hits)
        pagecount = math.ceil(total / page_size) if total else 0
        chunk = hits[(page - 1) * page_size: page * page_size]
        return Results([self.world.served_item(x, at, host) for x in chunk], total, pagecount)
