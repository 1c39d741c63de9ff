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
from snapprice.units import parse_pack

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
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
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


def parse_amount(value: Any, *, fen: bool = False) -> Decimal | None:
    """One amount of money beside the price (a shipping fee, a coupon): a single value, not
    a range; None when absent or unusable (the archived response keeps what was sent).

    >>> [parse_amount(v) for v in ("10.00", 0, "¥5", "5-8", "free", None)]
    [Decimal('10.00'), Decimal('0'), Decimal('5'), None, None, None]
    """
    r = parse_price(value, fen=fen)
    return r.low if r is not None and r.low == r.high else None


def parse_shop_type(value: Any) -> str | None:
    """Tmall or Taobao shop from a route's user type (Aliyun/TOP ``UserType``: 1 is Tmall,
    0 Taobao; "B"/"C" in some gateways); anything else None.

    >>> [parse_shop_type(v) for v in (1, "0", "B", "tmall", 7, None)]
    ['tmall', 'taobao', 'tmall', 'tmall', None, None]
    """
    if isinstance(value, bool):
        return None
    key = str(value).strip().lower() if isinstance(value, int | str) else ""
    return {"1": "tmall", "b": "tmall", "tmall": "tmall", "天猫": "tmall",
            "0": "taobao", "c": "taobao", "taobao": "taobao", "淘宝": "taobao"}.get(key)


def parse_rate(value: Any) -> float | None:
    """A share as 0..1 from "12%", "12.5%", 0.12; None when it is not one.

    >>> [parse_rate(v) for v in ("12%", "12.5 %", 0.12, "1.5", "x", None)]
    [0.12, 0.125, 0.12, None, None, None]
    """
    num = _number(value)
    if num is None:
        s = _text(value)
        m = re.fullmatch(r"(\d+(?:\.\d+)?)%", s) if s else None
        if m is None:
            return None
        num = Decimal(m.group(1)) / 100
    return float(num) if 0 <= num <= 1 else None


def _absolute_url(url: str | None) -> str | None:
    """Protocol-relative "//img…" → "https://img…"; blanks → None."""
    if url is None or not url.strip():
        return None
    url = url.strip()
    return "https:" + url if url.startswith("//") else url


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    return text.strip() or None


def unstorable(text: str) -> str | None:
    """What in ``text`` PostgreSQL cannot store in text or jsonb, or None when it can.

    NUL, and UTF-16 surrogates: a JSON ``"\\ud800"`` escape puts one in a Python str (the
    parser joins a valid pair into one character, so any surrogate left is a lone one, with
    no UTF-8 form).

    >>> unstorable("ok"), unstorable("a\\x00b"), unstorable("\\ud800")
    (None, 'U+0000 at 1', 'a lone surrogate U+D800 at 0')
    """
    m = _UNSTORABLE.search(text)
    if m is None:
        return None
    ch = m.group()
    what = "U+0000" if ch == "\x00" else f"a lone surrogate U+{ord(ch):04X}"
    return f"{what} at {m.start()}"


def storable(text: str) -> str:
    """``text`` with every character PostgreSQL cannot store replaced by U+FFFD.

    >>> storable("a\\x00b\\udc80")
    'a�b�'
    """
    return _UNSTORABLE.sub("\ufffd", text)


class _Unusable(Exception):
    """A field of a result that cannot be stored; the item becomes a Reject."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _kind(value: Any) -> str:
    """The JSON type of a parsed value, as a message names it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float | Decimal):
        return "a number"
    return f"a {type(value).__name__}"


def _field(name: str, value: Any, *, ints: bool = True) -> str | None:
    """A text field as the platform sent it: a string PostgreSQL can store (or an integer,
    when ``ints``), or None. Anything else (a list, an object) raises _Unusable: its repr
    is no title, shop or id."""
    if value is None:
        return None
    if isinstance(value, str):
        problem = unstorable(value)
        if problem:
            raise _Unusable("bad_text", f"{name} holds {problem}")
        return value
    if ints and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _Unusable("not_text", f"{name} is {_kind(value)}, not text: {_short(value)}")


def _sales_text(value: Any) -> str | None:
    """The sales figure as sent, as text (numbers too); booleans mean nothing here."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float | Decimal):
        return _clean(str(value)) if _number(value) is not None else None
    return _clean(_field("sales", value))


def _short(value: Any, limit: int = 120) -> str:
    """A value's repr for a reject's detail: escaped (no NUL reaches the table), bounded."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _source(platform: str, item_id: Any) -> str:
    """The reject's ``source``: platform and item id, storable whatever the id was."""
    if isinstance(item_id, str):
        return f"{platform}:{storable(item_id.strip())[:200]}"
    if isinstance(item_id, int) and not isinstance(item_id, bool):
        return f"{platform}:{item_id}"
    return f"{platform}:"


def _pack(title: str | None) -> dict[str, Any]:
    pack = parse_pack(title)
    return {"pack_unit": pack.unit, "pack_count": pack.count} if pack else {}


def normalize_item(platform: str, item: SearchItem) -> ListingSnapshot | Reject:
    """One search result → a typed snapshot, or a Reject saying why it cannot be one.

    Text fields must be strings PostgreSQL can store: a title that is a list or an object
    (``not_text``), or that holds NUL or a lone surrogate (``bad_text``), rejects the
    item rather than storing a Python repr or breaking the page's transaction.
    """
    source = _source(platform, item.item_id)
    try:
        item_id = _clean(_field("item id", item.item_id))
        if item_id is None:
            return Reject("normalize", source, "missing_item_id",
                          f"result at rank {item.rank} has no item id")
        if item.price_unit not in ("yuan", "fen"):
            return Reject("normalize", source, "unknown_price_unit",
                          f"price_unit {item.price_unit!r}; expected 'yuan' or 'fen'")
        fen = item.price_unit == "fen"
        price = parse_price(item.price, fen=fen)
        if price is None:
            return Reject("normalize", source, "unusable_price", f"price {_short(item.price)}")
        promo = parse_price(item.promo_price, fen=fen)
        if promo is not None and promo.low >= price.low:
            # Gateways repeat the price as promotion_price when there is no promotion.
            promo = None
        original = parse_price(item.original_price, fen=fen)
        title = _clean(_field("title", item.title))
        return ListingSnapshot(
            platform=platform,
            item_id=item_id,
            title=title,
            shop=_clean(_field("shop", item.shop)),
            url=_absolute_url(_field("detail_url", item.detail_url, ints=False)),
            pic_url=_absolute_url(_field("pic_url", item.pic_url, ints=False)),
            price_low=price.low,
            price_high=price.high,
            promo_price=promo.low if promo else None,
            original_price=original.low if original else None,
            currency=item.currency,
            sales_lower_bound=parse_sales(item.sales),
            sales_text=_sales_text(item.sales),
            rank=item.rank,
            shipping_fee=parse_amount(item.shipping_fee, fen=fen),
            coupon_amount=parse_amount(item.coupon_amount, fen=fen),
            price_after_coupon=parse_amount(item.price_after_coupon, fen=fen),
            location=_clean(_field("area", item.area)),
            shop_type=parse_shop_type(item.shop_type),
            repurchase_rate=parse_rate(item.repurchase_rate),
            **_pack(title),
        )
    except _Unusable as exc:
        return Reject("normalize", source, exc.reason, f"result at rank {item.rank}: {exc.detail}")


def normalize_page(marketplace: str, items: list[Any]) -> tuple[list[ListingSnapshot], list[Reject]]:
    snaps: list[ListingSnapshot] = []
    rejects: list[Reject] = []
    for item in items:
        out = normalize_item(marketplace, item)
        (snaps if isinstance(out, ListingSnapshot) else rejects).append(out)  # type: ignore[arg-type]
    return snaps, rejects
