"""The synthetic marketplace: products, shops, listings, and what each listing shows at a time."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from snapprice.sandbox import imaging, vocab
from snapprice.sandbox.config import SandboxConfig
from snapprice.sandbox.features import Features, extract
from snapprice.sandbox.index import VisualIndex

CENT = Decimal("0.01")
FEATURE_SIDE = 128  # listing pictures are rendered this small to compute their features
# Chance that a product is sold on a platform, and the weights of 1..6 listings there.
_PRESENCE = {"taobao": 0.9, "1688": 0.7, "jd": 0.6, "pinduoduo": 0.75}
_COUNT_WEIGHTS = (30, 25, 18, 12, 9, 6)
_PRICE_FACTOR = {"taobao": (0.85, 1.1), "1688": (0.55, 0.8), "jd": (1.0, 1.2), "pinduoduo": (0.7, 0.95)}


@dataclass(frozen=True, slots=True)
class Product:
    """One thing sold under many listings; ``seed`` draws its picture."""

    product_id: str
    title: str
    title_en: str
    cat: str
    cat_name: str
    seed: int
    base_price: Decimal


@dataclass(frozen=True, slots=True)
class Shop:
    shop_id: str
    platform: str
    nick: str
    area: str


@dataclass(frozen=True, slots=True)
class Listing:
    """One offer of a product on one platform, with the fixed traits its daily values derive from."""

    item_id: str
    platform: str
    product_id: str
    shop: str  # the seller nick it is served with
    shop_id: str
    area: str
    title: str
    cat: str
    variant: imaging.Variant
    image_seed: int
    base_price: Decimal
    range_factor: float  # 1.0: one price; above: "low-high" range
    markup: float  # orginal_price over the high price
    promo_rate: float  # chance of a promotion on a given day
    post_fee: Decimal
    sales_base: int
    sales_as_int: bool  # Taobao gateway style: a bucketed int instead of text
    flaky: bool  # disappears on some days
    scheme_relative_pic: bool  # pic_url served as //host/... like many real payloads
    # "honest", or what it really is: "deposit", "accessory", "decoy" (bait whose price is
    # not the product's), "clearance" (an honest cheap outlier, -35 %).
    kind: str = "honest"


def _u(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by its parts: the world's deterministic dice."""
    h = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def _money(x: float) -> Decimal:
    return Decimal(str(x)).quantize(CENT, rounding=ROUND_HALF_UP)


def _shop_name(rng: random.Random, platform: str) -> str:
    city = rng.choice(vocab.AREAS)[1]
    return rng.choice(vocab.SHOP_STYLE[platform]).format(w=rng.choice(vocab.SHOP_WORDS), city=city)


class World:
    """A deterministic marketplace built from a ``SandboxConfig`` (same seed, same world)."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.products: list[Product] = []
        self.shops: dict[str, list[Shop]] = {}
        self.listings: list[Listing] = []
        self._by_item: dict[tuple[str, str], Listing] = {}
        self._by_product: dict[tuple[str, str], list[Listing]] = {}
        self._product: dict[str, Product] = {}
        self.index: VisualIndex | None = None
        self._image_cache = lru_cache(maxsize=512)(self._listing_jpeg)

    # ---- building -------------------------------------------------------------------
    def _make_products(self) -> None:
        cats = list(vocab.CATEGORIES)
        for i in range(self.config.n_products):
            rng = random.Random(f"{self.config.seed}:product:{i}")
            cat = rng.choice(cats)
            cat_name, nouns = vocab.CATEGORIES[cat]
            noun, noun_en = rng.choice(nouns)
            adj, adj_en = rng.choice(vocab.ADJECTIVES)
            brand = rng.choice(vocab.BRANDS)
            price = math.exp(rng.uniform(math.log(9.9), math.log(999)))
            self.products.append(Product(
                product_id=f"P{i + 1:06d}",
                title=f"{brand}{adj}{noun}",
                title_en=f"{rng.choice(vocab.BRANDS_EN)} {adj_en} {noun_en}",
                cat=cat,
                cat_name=cat_name,
                seed=rng.getrandbits(48),
                base_price=_money(price),
            ))
        self._product = {p.product_id: p for p in self.products}

    def _make_shops(self) -> None:
        n = max(5, self.config.n_products // 4)
        for platform in self.config.platforms:
            rng = random.Random(f"{self.config.seed}:shops:{platform}")
            shops = []
            for j in range(n):
                prov, city = rng.choice(vocab.AREAS)
                shops.append(Shop(shop_id=str(rng.randint(10**8, 4 * 10**9)), platform=platform,
                                  nick=_shop_name(rng, platform) + ("" if j < 12 else str(j)),
                                  area=f"{prov} {city}"))
            self.shops[platform] = shops

    def _new_item_id(self, rng: random.Random, platform: str) -> str:
        lo, hi = {"taobao": (520_000_000_000, 799_999_999_999), "1688": (520_000_000_000, 799_999_999_999),
                  "jd": (10_000_000_000, 100_099_999_999), "pinduoduo": (100_000_000, 699_999_999_999)}[platform]
        while True:
            item_id = str(rng.randint(lo, hi))
            if (platform, item_id) not in self._by_item:
                return item_id

    def _make_listings(self) -> None:
        for product in self.products:
            for platform in self.config.platforms:
                rng = random.Random(f"{self.config.seed}:listings:{product.product_id}:{platform}")
                if rng.random() >= _PRESENCE[platform]:
                    continue
                count = rng.choices(range(1, 7), weights=_COUNT_WEIGHTS)[0]
                for _ in range(count):
                    self._add_listing(rng, product, platform)
        # Bait comes after every honest listing and from its own random stream, so the
        # honest part of a world is the same with or without it.
        for product in self.products:
            for platform in self.config.platforms:
                if not self._by_product.get((product.product_id, platform)):
                    continue
                rng = random.Random(f"{self.config.seed}:bait:{product.product_id}:{platform}")
                for kind, rate in sorted(self.config.bait_rates.items()):
                    if rng.random() < rate:
                        self._add_bait(rng, product, platform, kind)

    def _add_bait(self, rng: random.Random, product: Product, platform: str, kind: str) -> None:
        """A listing that shows the product's picture at a price that is not the product's
        (deposit, accessory, decoy), or an honest clearance at -35 %."""
        shop = rng.choice(self.shops[platform])
        base = float(product.base_price)
        words, price = {
            "deposit": (vocab.DEPOSIT_WORDS, rng.uniform(0.01, min(50.0, 0.5 * base))),
            "accessory": (vocab.ACCESSORY_WORDS, base * rng.uniform(0.05, 0.2)),
            "decoy": (vocab.DECOY_WORDS, base * rng.uniform(3.0, 10.0)),
            "clearance": (vocab.CLEARANCE_WORDS, base * 0.65),
        }[kind]
        word = rng.choice(words)
        title = f"{word} {product.title}" if rng.random() < 0.5 else f"{product.title} {word}"
        listing = Listing(
            item_id=self._new_item_id(rng, platform), platform=platform, product_id=product.product_id,
            shop=shop.nick, shop_id=shop.shop_id, area=shop.area, title=title, cat=product.cat,
            variant=imaging.random_variant(rng), image_seed=product.seed,
            base_price=_money(max(price, 0.01)), range_factor=1.0, markup=rng.uniform(1.1, 1.5),
            promo_rate=0.0, post_fee=Decimal("0.00"), sales_base=int(math.exp(rng.uniform(0, math.log(5000)))),
            sales_as_int=False, flaky=False, scheme_relative_pic=rng.random() < 0.5, kind=kind,
        )
        self.listings.append(listing)
        self._by_item[(platform, listing.item_id)] = listing
        self._by_product.setdefault((product.product_id, platform), []).append(listing)

    def _add_listing(self, rng: random.Random, product: Product, platform: str) -> None:
        shop = rng.choice(self.shops[platform])
        lo, hi = _PRICE_FACTOR[platform]
        words = [rng.choice(vocab.PREFIX[platform]), product.title, rng.choice(vocab.SUFFIX)]
        if rng.random() < 0.5:
            words.append(product.title_en)
        listing = Listing(
            item_id=self._new_item_id(rng, platform),
            platform=platform,
            product_id=product.product_id,
            shop=shop.nick,
            shop_id=shop.shop_id,
            area=shop.area,
            title=" ".join(w for w in words if w),
            cat=product.cat,
            variant=imaging.random_variant(rng),
            image_seed=product.seed,
            base_price=_money(float(product.base_price) * rng.uniform(lo, hi)),
            range_factor=rng.uniform(1.2, 1.8) if rng.random() < 0.3 else 1.0,
            markup=rng.uniform(1.1, 1.5),
            promo_rate=rng.uniform(0.1, 0.6),
            post_fee=Decimal("0.00") if rng.random() < 0.7 else Decimal(rng.choice(("5.00", "8.00", "10.00"))),
            sales_base=int(math.exp(rng.uniform(0, math.log(300_000)))),
            sales_as_int=platform == "taobao" and rng.random() < 0.3,
            flaky=rng.random() < 0.15,
            scheme_relative_pic=rng.random() < 0.5,
        )
        self.listings.append(listing)
        self._by_item[(platform, listing.item_id)] = listing
        self._by_product.setdefault((product.product_id, platform), []).append(listing)

    def listing_features(self, listing: Listing) -> Features:
        """Features of a listing's picture, from a small rendering of the same re-shoot."""
        base = _small_product(listing.image_seed, listing.variant.background)
        v = listing.variant
        # Scale and JPEG quality do not change what the features see at this size.
        small = imaging.apply_variant(base, imaging.Variant(
            crop=v.crop, border=v.border, border_colour=v.border_colour,
            brightness=v.brightness, watermark=v.watermark))
        return extract(small)

    def build(self) -> World:
        self._make_products()
        self._make_shops()
        self._make_listings()
        feats = [self.listing_features(x) for x in self.listings]
        self.index = VisualIndex(
            feats,
            platforms=[x.platform for x in self.listings],
            cats=[x.cat for x in self.listings],
        )
        _small_product.cache_clear()
        return self

    # ---- ground truth -----------------------------------------------------------------
    def product(self, product_id: str) -> Product:
        return self._product[product_id]

    def listing(self, item_id: str, platform: str) -> Listing:
        try:
            return self._by_item[(platform, str(item_id))]
        except KeyError:
            raise KeyError(f"no listing {item_id} on {platform}") from None

    def listings_for(self, product_id: str, platform: str) -> list[Listing]:
        return list(self._by_product.get((product_id, platform), ()))

    def day(self, at: datetime) -> int:
        """The sandbox day ``at`` falls in (prices and listings change per day)."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return math.floor(at.timestamp() / self.config.day_seconds)

    def _prices(self, x: Listing, day: int) -> tuple[Decimal, Decimal, Decimal | None, Decimal]:
        s = self.config.seed
        if x.kind in ("deposit", "decoy"):  # a fixed bait price, day after day
            return x.base_price, x.base_price, None, _money(float(x.base_price) * x.markup)
        wave = math.sin(2 * math.pi * (day / 14 + _u(s, x.item_id, "phase")))
        factor = 1 + 0.06 * wave + 0.04 * (_u(s, x.item_id, day, "p") - 0.5)
        low = _money(float(x.base_price) * factor)
        high = _money(float(low) * x.range_factor) if x.range_factor > 1 else low
        promo = None
        if _u(s, x.item_id, day, "promo") < x.promo_rate:
            promo = _money(float(low) * (0.75 + 0.2 * _u(s, x.item_id, day, "depth")))
        original = _money(float(high) * x.markup)
        return low, high, promo, original

    def served_price(self, item_id: str, platform: str, at: datetime
                     ) -> tuple[Decimal, Decimal, Decimal | None]:
        """(low, high, promo or None) the server shows for a listing at ``at``."""
        low, high, promo, _original = self._prices(self.listing(item_id, platform), self.day(at))
        return low, high, promo

    def is_listed(self, item_id: str, platform: str, at: datetime) -> bool:
        """False on the days a flaky listing is off the market (it comes back later)."""
        x = self.listing(item_id, platform)
        return not x.flaky or _u(self.config.seed, x.item_id, self.day(at), "listed") >= 0.3

    def served_sales(self, item_id: str, platform: str, at: datetime) -> tuple[int | str, int]:
        """(the sales value as served, its lower bound) for a listing at ``at``."""
        x = self.listing(item_id, platform)
        n = int(x.sales_base * (1 + 0.05 * _u(self.config.seed, x.item_id, self.day(at), "s")))
        return sales_text(platform, n, as_int=x.sales_as_int)

    def served_item(self, x: Listing, at: datetime, host: str) -> dict[str, object]:
        """The gateway ``items.item[]`` entry of a listing at ``at`` (``host`` serves its picture)."""
        low, high, promo, original = self._prices(x, self.day(at))
        sales, _ = self.served_sales(x.item_id, x.platform, at)
        pic = f"//{host}/img/{x.platform}/{x.item_id}.jpg"
        return {
            "num_iid": x.item_id,
            "title": x.title,
            "pic_url": pic if x.scheme_relative_pic else "http:" + pic,
            "price": f"{low}-{high}" if high != low else str(low),
            "orginal_price": str(original),
            "promotion_price": str(promo if promo is not None else low),
            "sales": sales,
            "seller_nick": x.shop,
            "seller_id": x.shop_id,
            "detail_url": vocab.DETAIL_URL[x.platform].format(id=x.item_id),
            "area": x.area,
            "post_fee": str(x.post_fee),
        }

    # ---- pictures -----------------------------------------------------------------------
    def product_image_bytes(self, product_id: str) -> bytes:
        """The canonical picture of a product, as JPEG."""
        return _product_jpeg(self.product(product_id).seed)

    def _listing_jpeg(self, platform: str, item_id: str) -> bytes:
        x = self.listing(item_id, platform)
        return imaging.to_jpeg(imaging.render_variant(x.image_seed, x.variant), x.variant.quality)

    def listing_image_bytes(self, platform: str, item_id: str) -> bytes:
        """The picture a listing is served with, as JPEG (rendered on first use)."""
        return self._image_cache(platform, item_id)


@lru_cache(maxsize=256)
def _product_jpeg(seed: int) -> bytes:
    return imaging.to_jpeg(imaging.render_product(seed), 92)


@lru_cache(maxsize=64)
def _small_product(seed: int, background: tuple[int, int, int] | None) -> imaging.Image.Image:
    return imaging.render_product(seed, background).resize((FEATURE_SIDE, FEATURE_SIDE),
                                                           imaging.Image.Resampling.BOX)


def sales_text(platform: str, n: int, *, as_int: bool = False) -> tuple[int | str, int]:
    """Sales of ``n`` in the platform's style, and the lower bound a reader can recover."""
    if as_int:  # Onebound collapses Taobao sales into buckets
        bound = max((b for b in (100, 1000, 10_000, 100_000) if b <= n), default=n)
        return bound, bound
    wan = n // 10_000
    if platform == "taobao":
        return (f"{wan}万+人付款", wan * 10_000) if wan else (f"{n}人付款", n)
    if platform == "pinduoduo":
        return (f"已拼: {wan}万+件", wan * 10_000) if wan else (f"已拼{n}件", n)
    if platform == "jd":
        if wan:
            return f"{wan}万+", wan * 10_000
        if n >= 100:
            step = 10 ** (len(str(n)) - 1)
            return f"{n // step * step}+", n // step * step
        return str(n), n
    if n >= 1000:  # 1688: monthly sold
        return f"月销 {n // 1000 * 1000}+", n // 1000 * 1000
    return f"月销 {n}", n


def build_world(config: SandboxConfig) -> World:
    """Build the world of ``config`` (deterministic: same config, same world)."""
    return World(config).build()
