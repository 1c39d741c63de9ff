"""Typed records that cross stage boundaries (search results, rejects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class QueryImage:
    """The image one search is made for: its bytes, and a public URL when it has one."""

    digest: str
    data: bytes
    url: str | None = None
    mime: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class SearchItem:
    """One result of an image search, as the platform gave it (values not yet normalized).

    Values keep the JSON types the platform sent (ids as text when they were a string or
    an integer): a title that came as a list stays a list, and ``normalize`` rejects it.
    """

    item_id: Any
    title: Any
    pic_url: Any
    price: Any
    promo_price: Any = None
    original_price: Any = None
    sales: Any = None
    shop: Any = None
    shop_id: Any = None
    detail_url: Any = None
    area: Any = None
    shipping_fee: Any = None
    coupon_amount: Any = None
    price_after_coupon: Any = None
    shop_type: Any = None  # "tmall" / "taobao", as the route says it (Aliyun/TOP UserType 1/0)
    repurchase_rate: Any = None  # 1688: "12%"
    currency: str = "CNY"
    price_unit: str = "yuan"  # "fen" for platforms that send prices in cents (Pinduoduo)
    rank: int = 0  # 1-based position over all pages of one search


@dataclass(slots=True)
class SearchPage:
    """One page of results plus what the archive needs (redacted request, exact body)."""

    platform: str
    page: int
    items: list[SearchItem]
    has_more: bool
    total: int | None = None
    cached: bool = False
    quota: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    http_status: int = 200


@dataclass(frozen=True, slots=True)
class Reject:
    """Something refused, with the stage that refused it and why."""

    stage: str
    source: str
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ListingSnapshot:
    """One normalized search result: a listing and its price/sales at capture time.

    Produced by ``snapprice.normalize`` from a ``SearchItem``; consumed by the loader.
    Prices are exact decimals in major units of ``currency`` (yuan, not fen).
    """

    platform: str  # marketplace: taobao, 1688, jd, pinduoduo, ...
    item_id: str
    title: str | None
    shop: str | None
    url: str | None
    pic_url: str | None
    price_low: Decimal | None
    price_high: Decimal | None
    promo_price: Decimal | None
    original_price: Decimal | None
    currency: str
    sales_lower_bound: int | None
    sales_text: str | None
    rank: int
    score: float | None = None
    shipping_fee: Decimal | None = None
    coupon_amount: Decimal | None = None
    price_after_coupon: Decimal | None = None
    location: str | None = None
    shop_type: str | None = None  # "tmall" or "taobao"
    repurchase_rate: float | None = None  # 0..1
    pack_unit: str | None = None  # from the title (snapprice.units): "piece", "ml" or "g"
    pack_count: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SearchTask:
    """One search of a run: a group's picture on one platform, one page (``search_task``)."""

    run_id: int
    group_id: int
    platform: str
    page: int
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class MatchCheck:
    """The verdict on one SKU for one result: its picture against the SKU's own.

    ``status`` is ``match`` (score passed), ``rejected`` (score under the floor) or
    ``unverified`` (a picture could not be had within its limits: ``reason`` says why;
    never a match).
    """

    sku: str
    platform: str
    item_id: str
    status: str
    score: float | None
    reason: str | None = None
    picture_digest: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedResults:
    """A page's match checks, and what they learnt for the picture cache: URL → content
    digest, and digest → encoded features (of ``feature_version``)."""

    checks: list[MatchCheck]
    feature_version: int
    urls: dict[str, str] = field(default_factory=dict)
    features: dict[str, bytes] = field(default_factory=dict)
