"""Table-driven tests of the pure normalizers, with forms seen in real marketplace payloads."""

from __future__ import annotations

import doctest
from decimal import Decimal

import pytest

from snapprice import normalize
from snapprice.models import ListingSnapshot, Reject, SearchItem
from snapprice.normalize import PriceRange, normalize_item, parse_price, parse_sales

D = Decimal

PRICES = [
    # Onebound strings, numbers and floats
    ("39.90", D("39.90"), D("39.90")),
    ("29.99", D("29.99"), D("29.99")),
    ("2199", D("2199"), D("2199")),
    (480, D("480"), D("480")),
    (7.0, D("7.0"), D("7.0")),
    (0.1, D("0.1"), D("0.1")),
    (D("12.50"), D("12.50"), D("12.50")),
    ("0", D("0"), D("0")),
    # currency signs, half- and full-width, thousands separators, blanks
    ("¥39.90", D("39.90"), D("39.90")),
    ("￥1,299.00", D("1299.00"), D("1299.00")),
    ("￥１２９９", D("1299"), D("1299")),
    (" 39.90 ", D("39.90"), D("39.90")),
    ("RMB 88", D("88"), D("88")),
    ("39.9元", D("39.9"), D("39.9")),
    ("1，299.00", D("1299.00"), D("1299.00")),
    # ranges
    ("39.00-59.00", D("39.00"), D("59.00")),
    ("39~59", D("39"), D("59")),
    ("39～59", D("39"), D("59")),
    ("39 - 59", D("39"), D("59")),
    ("¥39-¥59", D("39"), D("59")),
    ("39元至59元", D("39"), D("59")),
    ("200-600", D("200"), D("600")),
    ("9.9—19.9", D("9.9"), D("19.9")),
    # "from" suffixes
    ("99起", D("99"), D("99")),
    ("￥1,299起", D("1299"), D("1299")),
    ("99元起", D("99"), D("99")),
    ("1299起步", D("1299"), D("1299")),
    ("50以上", D("50"), D("50")),
    ("39.00-59.00起", D("39.00"), D("59.00")),
]

NOT_PRICES = [
    None, "", "   ", "null", "价格面议", "abc", "39.90abc", "-5", -5, -0.01, "1.2.3",
    float("nan"), float("inf"), D("NaN"), D("-1"), True, False, "59-39", "1e5",
    "123456789012", 10**9, "9" * 100, ["39.90"], {"price": 1}, "¥", "39-", "约39",
]


@pytest.mark.parametrize(("raw", "low", "high"), PRICES)
def test_parse_price(raw, low, high):
    got = parse_price(raw)
    assert got == PriceRange(low, high)
    assert isinstance(got.low, Decimal) and isinstance(got.high, Decimal)


@pytest.mark.parametrize("raw", NOT_PRICES)
def test_parse_price_rejects_garbage(raw):
    assert parse_price(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(2599, PriceRange(D("25.99"), D("25.99"))), ("990-1990", PriceRange(D("9.9"), D("19.9"))),
     (10**9, PriceRange(D("10000000"), D("10000000")))],
)
def test_parse_price_in_fen(raw, expected):
    assert parse_price(raw, fen=True) == expected


SALES = [
    ("7318人付款", 7318),
    ("137017人付款", 137017),
    ("1万+人付款", 10_000),
    ("1.2万+", 12_000),
    ("2.0万+人付款", 20_000),
    ("90万+人付款", 900_000),
    ("已拼: 10万+件", 100_000),
    ("已拼1万件", 10_000),
    ("月销 2000+", 2000),
    ("月销3000+", 3000),
    ("月销 3.5万", 35_000),
    ("3.5w+", 35_000),
    ("3.5W", 35_000),
    ("1.5k", 1500),
    ("2千+", 2000),
    ("1亿+", 100_000_000),
    ("300+人付款", 300),
    ("1000+", 1000),
    ("1000+人收货", 1000),
    ("已售 200", 200),
    ("已售1,234件", 1234),
    ("近30天销量 200", 200),
    ("30日销量1.1万", 11_000),
    ("１０万+", 100_000),
    ("0", 0),
    (10_000, 10_000),
    (100, 100),
    (0, 0),
    (12.0, 12),
    (D("5"), 5),
]

NOT_SALES = [None, "", "暂无销量", "abc", "abc123", "v2.0", -1, float("nan"), float("inf"),
             True, "9" * 100, 10**13, ["7318"]]


@pytest.mark.parametrize(("raw", "expected"), SALES)
def test_parse_sales(raw, expected):
    got = parse_sales(raw)
    assert got == expected and type(got) is int


@pytest.mark.parametrize("raw", NOT_SALES)
def test_parse_sales_rejects_garbage(raw):
    assert parse_sales(raw) is None


def _item(**kw) -> SearchItem:
    base = {"item_id": "740463295406", "title": " 围巾 ", "pic_url": "//img.alicdn.com/a.jpg",
            "price": "79.00", "rank": 3}
    return SearchItem(**{**base, **kw})


def test_normalize_item_full_row():
    row = normalize_item("taobao", _item(
        promo_price="69.00", original_price="99.00", sales="1万+人付款", shop="真蔚旗舰店",
        detail_url="//item.taobao.com/item.htm?id=740463295406"))
    assert row == ListingSnapshot(
        platform="taobao", item_id="740463295406", title="围巾", shop="真蔚旗舰店",
        url="https://item.taobao.com/item.htm?id=740463295406",
        pic_url="https://img.alicdn.com/a.jpg", price_low=D("79.00"), price_high=D("79.00"),
        promo_price=D("69.00"), original_price=D("99.00"), currency="CNY",
        sales_lower_bound=10_000, sales_text="1万+人付款", rank=3)


def test_normalize_item_fen_range_and_blanks():
    row = normalize_item("pinduoduo", _item(
        price="990-1990", promo_price=899, sales=10_000, price_unit="fen", title="",
        pic_url="https://img.pddpic.com/x.jpg", shop=None, detail_url="  "))
    assert isinstance(row, ListingSnapshot)
    assert (row.price_low, row.price_high, row.promo_price) == (D("9.9"), D("19.9"), D("8.99"))
    assert (row.sales_lower_bound, row.sales_text) == (10_000, "10000")
    assert row.title is None and row.shop is None and row.url is None
    assert row.pic_url == "https://img.pddpic.com/x.jpg"
    assert row.original_price is None


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"item_id": ""}, "missing_item_id"),
        ({"item_id": "  "}, "missing_item_id"),
        ({"item_id": None}, "missing_item_id"),
        ({"price": None}, "unusable_price"),
        ({"price": "价格面议"}, "unusable_price"),
        ({"price": float("nan")}, "unusable_price"),
        ({"price": "-3"}, "unusable_price"),
        ({"price": "99999999999"}, "unusable_price"),
        ({"price_unit": "cents"}, "unknown_price_unit"),
    ],
)
def test_normalize_item_rejects(kw, reason):
    got = normalize_item("jd", _item(**kw))
    assert isinstance(got, Reject)
    assert (got.stage, got.reason) == ("normalize", reason)
    expected_id = (kw.get("item_id") or "").strip() if "item_id" in kw else "740463295406"
    assert got.source == f"jd:{expected_id}"
    assert got.detail


def test_normalize_item_keeps_bool_sales_out_and_int_ids():
    row = normalize_item("1688", _item(item_id=123456, sales=True))
    assert isinstance(row, ListingSnapshot)
    assert row.item_id == "123456"
    assert row.sales_lower_bound is None and row.sales_text is None


@pytest.mark.parametrize(
    ("kw", "reason", "source"),
    [
        # Values a hostile or broken marketplace sends: a reject each, never a repr in a table.
        ({"title": ["list"]}, "not_text", "jd:740463295406"),
        ({"title": {"x": 1}}, "not_text", "jd:740463295406"),
        ({"title": True}, "not_text", "jd:740463295406"),
        ({"shop": ["a", "b"]}, "not_text", "jd:740463295406"),
        ({"shop": 1.5}, "not_text", "jd:740463295406"),
        ({"item_id": ["list"]}, "not_text", "jd:"),
        ({"item_id": {"x": 1}}, "not_text", "jd:"),
        ({"item_id": 7.0}, "not_text", "jd:"),
        ({"sales": ["list"]}, "not_text", "jd:740463295406"),
        ({"sales": {"x": 1}}, "not_text", "jd:740463295406"),
        ({"detail_url": ["//a"]}, "not_text", "jd:740463295406"),
        ({"title": "围巾\x00"}, "bad_text", "jd:740463295406"),
        ({"title": "bad \ud800 half"}, "bad_text", "jd:740463295406"),
        ({"shop": "\udfff"}, "bad_text", "jd:740463295406"),
        ({"sales": "1万\x00"}, "bad_text", "jd:740463295406"),
        ({"pic_url": "//img\x00/a.jpg"}, "bad_text", "jd:740463295406"),
        ({"item_id": "74\x0046"}, "bad_text", "jd:74\ufffd46"),
        ({"price": "NaN"}, "unusable_price", "jd:740463295406"),
        ({"price": "-Infinity"}, "unusable_price", "jd:740463295406"),
        ({"price": "1e309"}, "unusable_price", "jd:740463295406"),
        ({"price": float("inf")}, "unusable_price", "jd:740463295406"),
        ({"price": ["39.00"]}, "unusable_price", "jd:740463295406"),
    ],
)
def test_hostile_values_are_rejects_with_storable_text(kw, reason, source):
    got = normalize_item("jd", _item(**kw))
    assert isinstance(got, Reject), got
    assert (got.reason, got.source) == (reason, source)
    for text in (got.source, got.detail):  # PostgreSQL stores them as they are
        assert "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert "rank 3" in got.detail or reason == "unusable_price"


def test_text_checks_accept_what_postgres_stores():
    row = normalize_item("jd", _item(title="😀 emoji \ufffd ok", shop=12345, sales=3.0))
    assert isinstance(row, ListingSnapshot)
    assert (row.title, row.shop, row.sales_text) == ("😀 emoji \ufffd ok", "12345", "3.0")
    assert normalize.unstorable("😀") is None and normalize.storable("\x00\ud800") == "\ufffd\ufffd"


def test_module_docstring_examples_run():
    assert doctest.testmod(normalize).failed == 0


@pytest.mark.parametrize(
    ("price", "promo", "expected"),
    [
        ("79.00", "79.00", None),  # gateways repeat the price when there is no promotion
        ("79.00", "89.00", None),  # a "promotion" dearer than the price is no promotion
        ("79.00", "69.00", D("69.00")),
        ("39.00-59.00", "39.00", None),
        ("39.00-59.00", "35.00", D("35.00")),
        ("79.00", None, None),
    ],
)
def test_normalize_item_promotion_only_when_cheaper(price, promo, expected):
    row = normalize_item("taobao", _item(price=price, promo_price=promo))
    assert isinstance(row, ListingSnapshot)
    assert row.promo_price == expected


def test_price_facts_beside_the_price():
    from snapprice.search.platforms.gateway import _item as gateway_item

    item = gateway_item({"num_iid": "1", "title": "t", "price": "20.00", "post_fee": "8.00",
                         "area": " 浙江 杭州 ", "coupon_amount": "", "coupon_price": "garbled"}, "yuan", 1)
    out = normalize_item("taobao", item)
    assert isinstance(out, ListingSnapshot)
    assert (out.shipping_fee, out.coupon_amount, out.price_after_coupon, out.location) == (
        D("8.00"), None, None, "浙江 杭州")
    pdd = normalize_item("pinduoduo", SearchItem(item_id=2, title="t", pic_url=None, price=2599,
                                                 shipping_fee=500, shop_type=1, repurchase_rate="12%",
                                                 price_unit="fen"))
    assert (pdd.shipping_fee, pdd.shop_type, pdd.repurchase_rate) == (D("5"), "tmall", 0.12)


def test_the_pack_is_read_from_the_title():
    row = normalize_item("taobao", _item(title="农夫山泉 550ml*24瓶 整箱"))
    assert (row.pack_unit, row.pack_count) == ("ml", D("13200"))
    row = normalize_item("taobao", _item(title="一件代发 2024新款 保温杯"))
    assert (row.pack_unit, row.pack_count) == (None, None)
