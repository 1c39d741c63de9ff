"""Words the synthetic marketplace is written in: categories, titles, shops, places."""

from __future__ import annotations

# Taobao-style category ids with their name and a few nouns (Chinese, English).
CATEGORIES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "16": ("女装/女士精品", (("连衣裙", "Dress"), ("针织衫", "Knit Sweater"), ("半身裙", "Skirt"))),
    "30": ("男装", (("夹克", "Jacket"), ("卫衣", "Hoodie"), ("衬衫", "Shirt"))),
    "50006843": ("女鞋", (("帆布鞋", "Canvas Shoes"), ("单鞋", "Flats"), ("短靴", "Ankle Boots"))),
    "50010788": ("彩妆/香水/美妆工具",
                 (("口红", "Lipstick"), ("粉底液", "Foundation"), ("眼影盘", "Eyeshadow Palette"))),
    "50008163": ("床上用品", (("四件套", "Bedding Set"), ("枕头", "Pillow"), ("夏凉被", "Summer Quilt"))),
    "50008090": ("3C数码配件", (("数据线", "Charging Cable"), ("充电宝", "Power Bank"), ("手机壳", "Phone Case"))),
    "50002766": ("零食/坚果/特产", (("坚果礼盒", "Nut Gift Box"), ("牛肉干", "Beef Jerky"), ("饼干", "Biscuits"))),
    "50016348": ("家庭/个人清洁工具", (("拖把", "Mop"), ("收纳盒", "Storage Box"), ("垃圾袋", "Trash Bags"))),
    "50020808": ("家居饰品", (("花瓶", "Vase"), ("挂钟", "Wall Clock"), ("香薰", "Aroma Diffuser"))),
    "50013886": ("户外/登山/野营", (("保温杯", "Insulated Bottle"), ("帐篷", "Tent"), ("登山包", "Hiking Backpack"))),
}

BRANDS = ("悦品", "优选", "南极人", "小米生态", "简约风", "良品", "北欧", "初语", "森马", "自然堂", "绿联", "三只松鼠")
BRANDS_EN = ("Joy", "Prime", "Nordic", "Urban", "Pure", "Lumi", "Vita", "Aero", "Nova", "Kiko")
ADJECTIVES = (
    ("加厚", "Thick"), ("轻薄", "Light"), ("大容量", "Large"), ("便携", "Portable"), ("复古", "Retro"),
    ("ins风", "Minimal"), ("网红", "Trending"), ("高档", "Premium"), ("简约", "Simple"), ("防水", "Waterproof"),
)
PREFIX = {
    "taobao": ("2026新款", "【官方正品】", "爆款", ""),
    "1688": ("厂家直销", "批发", "一件代发", "源头工厂"),
    "jd": ("【京东自营】", "", "官方旗舰", ""),
    "pinduoduo": ("【百亿补贴】", "特价", "清仓", "包邮"),
}
SUFFIX = ("包邮", "现货", "礼物", "男女通用", "送运费险", "")
SHOP_WORDS = ("星辰", "优品", "乐家", "晨光", "美居", "东方", "锦绣", "云上", "田园", "匠心", "小鹿", "木子")
SHOP_STYLE = {
    "taobao": ("{w}旗舰店", "{w}专卖店", "{w}小店", "{w}的店"),
    "1688": ("{city}{w}贸易有限公司", "{city}{w}工厂", "{city}{w}日用品厂"),
    "jd": ("{w}京东自营旗舰店", "{w}旗舰店", "{w}官方店"),
    "pinduoduo": ("{w}专营店", "{w}官方旗舰店", "{w}百货"),
}
AREAS = (
    ("浙江", "杭州"), ("浙江", "义乌"), ("广东", "广州"), ("广东", "深圳"), ("广东", "中山"),
    ("江苏", "苏州"), ("福建", "泉州"), ("上海", "上海"), ("山东", "临沂"), ("河北", "保定"),
)
DETAIL_URL = {
    "taobao": "https://item.taobao.com/item.htm?id={id}",
    "1688": "https://detail.1688.com/offer/{id}.html",
    "jd": "https://item.jd.com/{id}.html",
    "pinduoduo": "https://mobile.yangkeduo.com/goods.html?goods_id={id}",
}

# Bait: what a search by image returns beside the product itself (each title keeps the
# product's words, so only the extra words or the price give it away).
DEPOSIT_WORDS = ("【定金】", "【预售定金】", "预定", "拍下改价", "订金 专拍", "补差价链接")
ACCESSORY_WORDS = ("保护套", "替换配件", "收纳袋", "防尘罩", "配件 单拍不发")
DECOY_WORDS = ("【百亿补贴】官方原价", "专柜正品 吊牌价", "限量典藏版")
CLEARANCE_WORDS = ("清仓特价", "尾货清仓", "断码清仓")
