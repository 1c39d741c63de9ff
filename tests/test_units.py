"""Pack sizes read from real-world title forms, and the ones that must not be read."""

from __future__ import annotations

from decimal import Decimal

import pytest

from snapprice.units import Pack, parse_pack, unit_price


def P(unit: str, count: str | int) -> Pack:
    return Pack(unit, Decimal(str(count)))


PARSED = [
    # counts of pieces
    ("维达抽纸 3层100抽 6包装", P("piece", 6)),
    ("清风卷纸 4层 10卷", P("piece", 10)),
    ("蓝月亮洗衣液 2瓶装", P("piece", 2)),
    ("农夫山泉 茶π 12瓶", P("piece", 12)),
    ("舒肤佳香皂 3块装 家庭装", P("piece", 3)),
    ("袜子男 中筒 10双", P("piece", 10)),
    ("一次性口罩 50片 三层防护", P("piece", 50)),
    ("云南白药创可贴 100片", P("piece", 100)),
    ("2件装 纯棉T恤 男 短袖", P("piece", 2)),
    ("保温杯 两只装 情侣款", P("piece", 2)),
    ("三只松鼠 坚果 6袋", P("piece", 6)),
    ("马克杯 陶瓷 2个装", P("piece", 2)),
    ("洗碗海绵 10片装", P("piece", 10)),
    ("晾衣架 20个", P("piece", 20)),
    ("垃圾袋 5卷 共100只", None),  # 5 rolls of 20: two counts disagree, say nothing
    ("中性笔 12支 黑色 0.5mm", P("piece", 12)),
    ("牙刷 软毛 4支装", P("piece", 4)),
    ("电池 5号 10粒", P("piece", 10)),
    ("面膜 补水 5片/盒", P("piece", 5)),
    ("一盒 10袋 速溶咖啡", P("piece", 10)),  # a box of ten sachets: per sachet
    ("Reusable bags pack of 3", P("piece", 3)),
    ("AA batteries 8-pack", P("piece", 8)),
    ("Cotton socks 6 pairs 10pcs", P("piece", 10)),
    ("Kitchen towels 12 count", P("piece", 12)),
    ("Coasters set of 4", P("piece", 4)),
    ("Hair ties 50 pcs", P("piece", 50)),
    ("十二支装 铅笔 HB", P("piece", 12)),
    ("三件套 床上用品", P("piece", 3)),
    # measures, alone
    ("东北大米 5kg 新米", P("g", 5000)),
    ("金龙鱼 食用油 5L", P("ml", 5000)),
    ("鲁花 花生油 1.8升", P("ml", 1800)),
    ("蒙牛纯牛奶 250ml", P("ml", 250)),
    ("洗发水 750毫升 去屑", P("ml", 750)),
    ("白砂糖 500g", P("g", 500)),
    ("茶叶 铁观音 250克 罐装", P("g", 250)),
    ("五常大米 10斤", P("g", 5000)),
    ("黄豆 2公斤", P("g", 2000)),
    ("Olive oil 1 L bottle", P("ml", 1000)),
    ("Coffee beans 1kg", P("g", 1000)),
    ("Shampoo 400 ml", P("ml", 400)),
    ("Sea salt 750g", P("g", 750)),
    ("Whisky 70cl", P("ml", 700)),
    # measure × count, both ways
    ("农夫山泉 天然水 550ml*24瓶 整箱", P("ml", 13200)),
    ("可口可乐 330ml×24罐", P("ml", 7920)),
    ("百威啤酒 500ml x 12听", P("ml", 6000)),
    ("怡宝 纯净水 555ML*12", P("ml", 6660)),
    ("伊利 安慕希 205g×12盒", P("g", 2460)),
    ("12瓶×500ml 矿泉水", P("ml", 6000)),
    ("24罐*330ml 啤酒", P("ml", 7920)),
    ("6 x 1L milk", P("ml", 6000)),
    ("Sparkling water 12 x 330ml", P("ml", 3960)),
    ("Yogurt 4 × 125 g", P("g", 500)),
    # a measure and a count that belong together
    ("洗衣液 2kg 2瓶装", P("g", 4000)),
    ("纯牛奶 250ml 24盒", P("ml", 6000)),
    ("饼干 100g 5包", P("g", 500)),
    ("酱油 500ml 2瓶", P("ml", 1000)),
    # the spec numbers around do not count
    ("小米充电宝 20000mAh 2件装", P("piece", 2)),
    ("2024新款 保温杯 316不锈钢 500ml", P("ml", 500)),
    ("iPhone 15 手机壳 2个装", P("piece", 2)),
    ("运动鞋 男 42码 2双", P("piece", 2)),
    ("5G手机 256GB 1件装", P("piece", 1)),
    ("一件代发 纸巾 10包", P("piece", 10)),
    ("三星 手机壳 2个装", P("piece", 2)),
    ("白砂糖 5g*100包", P("g", 500)),
]

NOT_PARSED = [
    "一件代发 ins风保温杯 2024新款",
    "1件代发 跨境 手机支架",
    "iPhone 15 Pro Max 256GB",
    "华为 Mate60 Pro 5G",
    "RTX4090 显卡",
    "小米 Redmi K70",
    "运动鞋 男 40码",
    "羽绒服 2023冬季新款",
    "第2件半价 T恤",
    "满2件包邮 袜子",
    "充电宝 20000mAh 快充",
    "65W 氮化镓 充电器",
    "4K 显示器 27英寸",
    "1080P 摄像头",
    "USB3.0 数据线 1m",
    "3合1 数据线",
    "2 in 1 charger",
    "儿童 3岁 玩具",
    "抽纸 3层100抽",
    "Model X200 drone",
    "保温杯",
    "三只松鼠 坚果礼盒",
    "七匹狼 男装 夹克",
    "三星 Galaxy S24 5G",
    "九阳 豆浆机 家用",
    "",
]


@pytest.mark.parametrize(("title", "expected"), PARSED)
def test_pack_sizes_are_read(title, expected):
    assert parse_pack(title) == expected


@pytest.mark.parametrize("title", NOT_PARSED)
def test_numbers_that_are_not_quantities_are_not_read(title):
    assert parse_pack(title) is None


def test_there_are_enough_forms():
    assert len(PARSED) + len(NOT_PARSED) >= 60 + 20


def test_unit_price_is_per_piece_litre_or_kilogram():
    assert unit_price(Decimal("20"), P("piece", 4)) == Decimal("5.0000")
    assert unit_price(Decimal("59.90"), P("ml", 7920)) == Decimal("7.5631")  # per litre
    assert unit_price(Decimal("30"), P("g", 500)) == Decimal("60.0000")  # per kilogram
    assert unit_price(None, P("piece", 2)) is None
    assert unit_price(Decimal("9.9"), None) is None
