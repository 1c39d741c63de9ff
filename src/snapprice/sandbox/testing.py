"""Helpers for tests that talk to the sandbox: signed TOP parameters, a shared small world."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache

from snapprice.sandbox.config import SandboxConfig
from snapprice.sandbox.top import top_sign
from snapprice.sandbox.world import World, build_world

_CHINA = timezone(timedelta(hours=8))


def top_params(config: SandboxConfig, method: str = "taobao.item.search.img", *,
               sign_method: str = "hmac-sha256", at: datetime | None = None,
               **business: str) -> dict[str, str]:
    """System plus business parameters for one TOP call, signed with the config's secret."""
    ts = (at or datetime.now(_CHINA)).astimezone(_CHINA).strftime("%Y-%m-%d %H:%M:%S")
    p = {"method": method, "app_key": config.top_app_key, "timestamp": ts, "format": "json",
         "v": "2.0", "sign_method": sign_method, **business}
    p["sign"] = top_sign(p, config.top_app_secret, sign_method)
    return p


@lru_cache(maxsize=4)
def shared_world(n_products: int = 60, seed: int = 7) -> World:
    """A small world built once per process (worlds are read-only once built)."""
    return build_world(SandboxConfig(n_products=n_products, seed=seed))
