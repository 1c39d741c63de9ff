"""Pack size and quantity from a listing's title, for prices per unit: ``2件装``, ``500ml×12``,
``1kg``, ``pack of 3``.

A title that does not say clearly is no unit (``None``): a wrong unit price is worse than
none. So only a number bound to a pack word or a measure counts — never a model number
(``iPhone 15``, ``X200``), a year (``2024新款``), a size (``40码``), a spec (``5G``, ``4K``,
``20000mAh``, ``65W``), a promotion (``第2件半价``, ``满2件``) or drop-shipping (``1件代发``).

>>> parse_pack("农夫山泉 天然水 550ml*24瓶 整箱")
Pack(unit='ml', count=Decimal('13200'))
>>> parse_pack("维达抽纸 3层100抽 6包装")
Pack(unit='piece', count=Decimal('6'))
>>> parse_pack("一件代发 ins风保温杯 2024新款") is None
True
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

# Measures → (base unit, factor to it).
_MEASURES = {
    "ml": ("ml", 1), "毫升": ("ml", 1), "l": ("ml", 1000), "升": ("ml", 1000), "cl": ("ml", 10),
    "g": ("g", 1), "克": ("g", 1), "kg": ("g", 1000), "公斤": ("g", 1000), "千克": ("g", 1000),
    "斤": ("g", 500), "两": ("g", 50),
}
# Counters of pieces: 瓶 bottle, 罐 can, 包 pack, 袋 bag, 盒 box, 支 stick, 片 sheet/tablet, …
_PIECES = "件|个|只|瓶|罐|听|包|袋|盒|支|片|条|卷|块|双|套|枚|粒|颗|根|贴|提|桶|箱|台|把|张|本|册"
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_NUM = r"(\d+(?:\.\d+)?|[一二两三四五六七八九十]{1,2})"
_TIMES = r"\s*[x×*Xх]\s*"

# Numbers that are not quantities, removed before anything is read: promotions,
# drop-shipping, years, clothing sizes, specs and model numbers.
_NOT_QUANTITIES = re.compile(
    r"第\s*\d+\s*件|满\s*\d+\s*件|\d+\s*件起|[一\d]\s*件\s*代发|任选\s*\d+|买\s*\d+\s*送\s*\d+"
    r"|(?:19|20)\d\d\s*(?:年|款|新款|秋|冬|春|夏)|\d+\s*码|\d+\s*合\s*1|\d+\s*in\s*1"
    r"|\d+(?:\.\d+)?\s*(?:mah|w|v|gb|tb|mb|hz|p\b|k\b|cm|mm|英寸|寸|岁|层|抽|档|挡|度|°)"
    r"|[a-z]+\d+[a-z\d]*|\d+[a-z]+\d+[a-z\d]*",
    re.IGNORECASE)


# Mobile generations are written in capitals (5G); grams in small letters (5g).
_NETWORK = re.compile(r"(?<![\d.])[2-6]G(?![A-Za-z\d])")
# A Chinese numeral is a count only as a pack size (两只装, 三件套, 十二支装), never in a name
# (三只松鼠 is a brand).
_CN_PACK = re.compile(rf"([一二两三四五六七八九十]{{1,2}})\s*(?:{_PIECES})?\s*(?:装|入|组|套)")


class Pack(NamedTuple):
    """What one listing sells: ``count`` of ``unit`` (``piece``, ``ml`` or ``g``)."""

    unit: str
    count: Decimal


def _number(text: str) -> Decimal | None:
    if text.isdigit() or text.replace(".", "", 1).isdigit():
        value = Decimal(text)
    elif len(text) == 2 and text[0] == "十":  # 十二 = 12
        value = Decimal(10 + _CN_DIGITS.get(text[1], 0))
    elif len(text) == 2 and text[1] == "十":  # 二十 = 20
        value = Decimal(_CN_DIGITS.get(text[0], 0) * 10)
    elif len(text) == 1 and text in _CN_DIGITS:
        value = Decimal(_CN_DIGITS[text])
    else:
        return None
    return value if value > 0 else None


def _measure(text: str) -> tuple[str, Decimal] | None:
    """``500ml`` → ("ml", 500); ``1.5升`` → ("ml", 1500)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ml|毫升|cl|l|升|kg|公斤|千克|g|克|斤)", text, re.IGNORECASE)
    if not m:
        return None
    unit, factor = _MEASURES[m.group(2).lower()]
    return unit, Decimal(m.group(1)) * factor


_MEASURE = r"\d+(?:\.\d+)?\s*(?:ml|毫升|cl|l|升|kg|公斤|千克|g|克|斤)(?![a-z])"
_MEASURE_TIMES_COUNT = re.compile(rf"({_MEASURE}){_TIMES}{_NUM}\s*(?:{_PIECES})?", re.IGNORECASE)
_COUNT_TIMES_MEASURE = re.compile(rf"{_NUM}\s*(?:{_PIECES})?{_TIMES}({_MEASURE})", re.IGNORECASE)
_PACK_WORD = re.compile(rf"{_NUM}\s*(?:{_PIECES})\s*(?:装|入|组)?|{_NUM}\s*(?:装|入)", re.IGNORECASE)
_LATIN_PACK = re.compile(r"(?:pack|set)\s+of\s+(\d+)|(\d+)\s*-?\s*(?:pack|pcs|pieces|ct|count)\b",
                         re.IGNORECASE)
_ALONE_MEASURE = re.compile(rf"(?<![\d.])({_MEASURE})", re.IGNORECASE)


def parse_pack(title: str | None) -> Pack | None:
    """The pack a title sells, or None when it does not say clearly (see the module doc)."""
    if not title:
        return None
    text = _NOT_QUANTITIES.sub(" ", _NETWORK.sub(" ", title))
    for pattern, measure_first in ((_MEASURE_TIMES_COUNT, True), (_COUNT_TIMES_MEASURE, False)):
        m = pattern.search(text)
        if m:
            measure = _measure(re.sub(r"\s+", "", m.group(1 if measure_first else 2)))
            count = _number(m.group(2 if measure_first else 1))
            if measure and count:
                return Pack(measure[0], measure[1] * count)
    measures = {_measure(re.sub(r"\s+", "", m)) for m in _ALONE_MEASURE.findall(text)}
    measures.discard(None)
    counts = {_number(m.group(1)) for m in _CN_PACK.finditer(text)}
    counts |= {_number(n) for m in _PACK_WORD.finditer(text) if (n := next(g for g in m.groups() if g)).isascii()}
    counts |= {_number(next(g for g in m.groups() if g)) for m in _LATIN_PACK.finditer(text)}
    counts.discard(None)
    if len(measures) == 1 and len(counts) <= 1:
        (unit, amount), = measures
        return Pack(unit, amount * (counts.pop() if counts else 1))
    if not measures and len(counts) == 1:
        return Pack("piece", counts.pop())
    return None  # nothing, or several that disagree


def unit_price(price: Decimal | None, pack: Pack | None) -> Decimal | None:
    """Price per piece, per litre or per kilogram (people compare those), to 4 places.

    >>> unit_price(Decimal("59.90"), parse_pack("可口可乐 330ml×24罐"))
    Decimal('7.5631')
    """
    if price is None or pack is None or pack.count <= 0:
        return None
    per = pack.count / 1000 if pack.unit in ("ml", "g") else pack.count
    return (price / per).quantize(Decimal("0.0001"))
