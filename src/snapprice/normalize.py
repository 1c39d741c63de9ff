"""Pure normalization of marketplace values: prices to exact decimals, sales text to ints.

Nothing here does I/O or raises on bad input: an unusable value becomes ``None`` and an
unusable row becomes a ``Reject`` with its reason, so one odd listing never stops a run.

>>> parse_price("￥1,299.00起")
PriceRange(low=Decimal('1299.00'), high=Decimal('1299.00'))
>>> parse_sales("1.2万+人付款")
12000
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from snapprice.models import ListingSnapshot, Reject, SearchItem

# Above this a "price" is a parse accident (an id, a phone number), not money.
MAX_PRICE = Decimal("10000000")
# More sales than people on earth many times over: a garbled value, not a count.
MAX_SALES = 10**12
# Longer strings are not a price or a sales figure; don't spend regex time on them.
_MAX_TEXT = 64

_CUR = r"(?:¥|RMB|CNY)?"
_NUM = r"(\d+(?:\.\d+)?)"
_PRICE_RE = re.compile(
    rf"{_CUR}{_NUM}元?(?:[-~–—至到]{_CUR}{_NUM}元?)?(?:起步?|以上)?",
    re.IGNORECASE,
)
_SALES_RE = re.compile(r"(\d+(?:\.\d+)?)([万wW千kK亿])?")
# "近30天", "30日": a period, not a count; dropped before the count is looked for.
_PERIOD_RE = re.compile(r"(?:近|最近)?\d+(?:天|日|小时)")
_SALES_UNIT = {"万": 10_000, "w": 10_000, "W": 10_000, "千": 1_000, "k": 1_000, "K": 1_000,
               "亿": 100_000_000}


@dataclass(frozen=True, slots=True)
class PriceRange:
    """A price or price range in major units (yuan); ``low == high`` for a single price."""

    low: Decimal
    high: Decimal


def _number(value: Any) -> Decimal | None:
    """A finite Decimal from an int/float/Decimal, or None (bools are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


def _text(value: Any) -> str | None:
    """NFKC-folded text without blanks or thousands separators (full-width forms included)."""
    if not isinstance(value, str):
        return None
    s = unicodedata.normalize("NFKC", value)
    s = re.sub(r"[\s,]", "", s)
    return s if 0 < len(s) <= _MAX_TEXT else None


def parse_price(value: Any, *, fen: bool = False) -> PriceRange | None:
    """Parse a price or range ("¥39.90", "39.00-59.00", "39~59", "99起", 480) exactly.

    ``fen=True`` reads the value in hundredths (Pinduoduo sends 2599 for ¥25.99).
    None, "", garbage, NaN, negative, inverted ranges and absurd values give None.
    """
    num = _number(value)
    if num is not None:
        low = high = num
    else:
        s = _text(value)
        m = _PRICE_RE.fullmatch(s) if s else None
        if m is None:
            return None
        low = Decimal(m.group(1))
        high = Decimal(m.group(2)) if m.group(2) else low
    if fen:
        low, high = low / 100, high / 100
    if low < 0 or high < low or high > MAX_PRICE:
        return None
    return PriceRange(low, high)


def parse_sales(value: Any) -> int | None:
    """Lower bound of a sales figure: "7318人付款" → 7318, "1.2万+" → 12000, 10000 → 10000.

    Ints (Onebound's buckets 100/1000/10000) pass through; garbage, NaN and negatives give None.
    """
    num = _number(value)
    if num is not None:
        n = int(num)
    else:
        s = _text(value)
        if s is None:
            return None
        s = _PERIOD_RE.sub("", s)
        m = _SALES_RE.search(s)
        if m is None:
            return None
        rest = s[: m.start()] + s[m.end():]
        if re.search(r"[A-Za-z]", rest):  # "abc123", "v2.0": not a sales text
            return None
        n = int(Decimal(m.group(1)) * _SALES_UNIT.get(m.group(2) or "", 1))
    return n if 0 <= n <= MAX_SALES else None


def _absolute_url(url: Any) -> str | None:
    """Protocol-relative "//img…" → "https://img…"; blanks → None."""
    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    return "https:" + url if url.startswith("//") else url


def _clean(text: Any) -> str | None:
    if text is None:
        return None
    s = str(text).strip()
    return s or None


def _sales_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return _clean(value)


def normalize_item(platform: str, item: SearchItem) -> ListingSnapshot | Reject:
    """One search result → a typed snapshot, or a Reject saying why it cannot be one."""
    item_id = _clean(item.item_id)
    source = f"{platform}:{item_id or ''}"
    if item_id is None:
        return Reject("normalize", source, "missing_item_id",
                      f"result at rank {item.rank} has no item id")
    if item.price_unit not in ("yuan", "fen"):
        return Reject("normalize", source, "unknown_price_unit",
                      f"price_unit {item.price_unit!r}; expected 'yuan' or 'fen'")
    fen = item.price_unit == "fen"
    price = parse_price(item.price, fen=fen)
    if price is None:
        return Reject("normalize", source, "unusable_price", f"price {item.price!r}")
    promo = parse_price(item.promo_price, fen=fen)
    if promo is not None and promo.low >= price.low:
        # Gateways repeat the price as promotion_price when there is no promotion.
        promo = None
    original = parse_price(item.original_price, fen=fen)
    return ListingSnapshot(
        platform=platform,
        item_id=item_id,
        title=_clean(item.title),
        shop=_clean(item.shop),
        url=_absolute_url(item.detail_url),
        pic_url=_absolute_url(item.pic_url),
        price_low=price.low,
        price_high=price.high,
        promo_price=promo.low if promo else None,
        original_price=original.low if original else None,
        currency=item.currency,
        sales_lower_bound=parse_sales(item.sales),
        sales_text=_sales_text(item.sales),
        rank=item.rank,
    )


def normalize_page(marketplace: str, items: list[Any]) -> tuple[list[ListingSnapshot], list[Reject]]:
    snaps: list[ListingSnapshot] = []
    rejects: list[Reject] = []
    for item in items:
        out = normalize_item(marketplace, item)
        (snaps if isinstance(out, ListingSnapshot) else rejects).append(out)  # type: ignore[arg-type]
    return snaps, rejects
