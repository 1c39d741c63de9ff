"""Aliyun ImageSearch 淘宝联盟版 (POP RPC ``POST /``): PID, throttling, ``Data.Auctions``
(who signed the call: ``aliyun_auth``)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from snapprice.sandbox.aliyun_auth import PopError, authenticate, invalid, missing
from snapprice.sandbox.config import SandboxConfig
from snapprice.sandbox.faults import broken_response
from snapprice.sandbox.intake import IntakeError, b64_bytes
from snapprice.sandbox.market import Market
from snapprice.sandbox.official import RouteState, ranked
from snapprice.sandbox.requests import BodyError, read_params
from snapprice.sandbox.world import Listing, World

MEDIA = "application/json;charset=utf-8"
HOST_ID = "imagesearch.cn-shanghai.aliyuncs.com"
# The SDK model's CategoryId enum (reference §2); the sandbox accepts it and does not filter by it.
CATEGORY_IDS = frozenset({*map(str, range(10)), "20", "21", "22", "88888888"})
ALWAYS_FIELDS = ("PicUrl", "ReservePrice", "Title", "Url", "ZkFinalPrice")
OPTIONAL_FIELDS = ("ItemId", "UserType", "Provcity", "Nick", "SellerId", "Volume",
                   "LevelOneCategoryName", "CategoryName", "ShopTitle", "CommissionRate",
                   "CouponAmount", "ShortTitle", "PriceAfterCoupon", "RealPostFee")
MAX_START, MAX_NUM = 499, 20
# Body-level failures (HTTP 200, Success=false); the values are the sandbox's own.
PICTURE_UNUSABLE, PICTURE_DOWNLOAD_FAILED = 1001, 1002


# ---- dynamic item ids -------------------------------------------------------------------

def _key(seed: int, pid: str) -> bytes:
    return hashlib.blake2b(f"{seed}:{pid}:itemid".encode(), digest_size=32).digest()


def encrypt_item_id(seed: int, pid: str, item_id: str) -> str:
    """The opaque ``ItemId`` a PID sees for a Taobao listing (stable per PID, like the real ones)."""
    key, plain = _key(seed, pid), item_id.encode()
    body = bytes(a ^ b for a, b in zip(plain, key, strict=False))
    tag = hmac.new(key, plain, hashlib.sha256).digest()[:6]
    return base64.urlsafe_b64encode(bytes([len(plain)]) + body + tag).decode().rstrip("=")


def decrypt_item_id(seed: int, pid: str, token: str) -> str | None:
    """The Taobao item id behind ``token`` for this PID, or None when it is not one of its ids."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 8 or raw[0] != len(raw) - 7:
        return None
    key = _key(seed, pid)
    plain = bytes(a ^ b for a, b in zip(raw[1:-6], key, strict=False))
    if not hmac.compare_digest(hmac.new(key, plain, hashlib.sha256).digest()[:6], raw[-6:]):
        return None
    return plain.decode("ascii", "replace")


def item_id_of(config: SandboxConfig, token: str) -> str | None:
    """Ground truth for tests: the Taobao item id behind an ``ItemId`` served to any known PID."""
    for pid in config.aliyun_pids:
        found = decrypt_item_id(config.seed, pid, token)
        if found is not None:
            return found
    return None


# ---- what a listing looks like here --------------------------------------------------------

def _yuan(d: Decimal, *, trim: bool) -> str:
    # ZkFinalPrice comes as "2199" next to ReservePrice "2199.00" in real results (reference §2).
    return str(int(d)) if trim and d == d.to_integral_value() else f"{d:.2f}"


def served_price(world: World, item_id: str, at: datetime) -> tuple[Decimal, Decimal, Decimal | None]:
    """(low, high, promo) a snapshot of this route holds: one price, ``ReservePrice`` = the
    regular (low) price, ``ZkFinalPrice`` = the promotion when there is one."""
    low, _high, promo = world.served_price(item_id, "taobao", at)
    return low, low, promo


def served_result(world: World, x: Listing, at: datetime, host: str, pid: str,
                  fields: set[str]) -> dict[str, Any]:
    """The ``Result`` object of one auction, with the optional fields that were asked for."""
    low, _high, promo = world.served_price(x.item_id, x.platform, at)
    final = promo if promo is not None else low
    _text, volume = world.served_sales(x.item_id, x.platform, at)
    token = encrypt_item_id(world.config.seed, pid, x.item_id)
    product = world.product(x.product_id)
    full: dict[str, Any] = {
        "ItemId": token,
        "Title": x.title,
        "ShortTitle": x.title[:16],
        "PicUrl": f"http://{host}/img/aliyun/{token}.jpg",
        "ReservePrice": _yuan(low, trim=False),
        "ZkFinalPrice": _yuan(final, trim=True),
        "PriceAfterCoupon": _yuan(final, trim=False),
        "UserType": 1 if "旗舰" in x.shop else 0,
        "Provcity": x.area,
        "Nick": x.shop,
        "SellerId": x.shop_id,
        "ShopTitle": x.shop,
        "Volume": volume,
        "CategoryName": product.cat_name,
        "LevelOneCategoryName": product.cat_name,
        "CommissionRate": "45",
        "CouponAmount": 0,
        "RealPostFee": _yuan(x.post_fee, trim=False),
        "Url": f"https://uland.taobao.com/item/edetail?id={token}",
    }
    keep = set(ALWAYS_FIELDS) | (fields & set(OPTIONAL_FIELDS))
    return {k: v for k, v in full.items() if k in keep}


# ---- the endpoint -----------------------------------------------------------------------------

class PictureError(Exception):
    """A business failure answered with HTTP 200, ``Success: false`` and a numeric ``Code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _int(p: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = p.get(name, "")
    if raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not lo <= int(raw) <= hi:
        raise invalid(name, f"must be an integer from {lo} to {hi}")
    return int(raw)


async def _picture(request: Request, market: Market, action: str, p: dict[str, str]) -> Any:
    name = "PicContent" if action == "SearchByPic" else "PicUrl"
    raw = p.get(name, "").strip()
    if not raw:
        raise missing(name)
    try:
        if action == "SearchByPic":
            return market.intake.from_bytes(b64_bytes(raw))
        return await market.intake.from_url(raw, request.url.port)
    except IntakeError as exc:
        if exc.reason == "fetch_timeout":
            raise PopError("ServiceUnavailable", f"picture download timed out: {exc.detail}", 503) from None
        if exc.reason in ("bad_url", "not_loopback"):
            raise invalid(name, exc.detail) from None
        code = PICTURE_DOWNLOAD_FAILED if exc.reason == "fetch_failed" else PICTURE_UNUSABLE
        raise PictureError(code, f"{name}: {exc.detail}") from None


async def _search(request: Request, market: Market, action: str, p: dict[str, str],
                  pid: str) -> dict[str, Any]:
    start = _int(p, "Start", 0, 0, MAX_START)
    num = _int(p, "Num", 10, 1, MAX_NUM)
    cat = p.get("CategoryId", "")
    if cat and cat not in CATEGORY_IDS:
        raise invalid("CategoryId", f"must be one of {sorted(CATEGORY_IDS, key=int)}")
    if p.get("Crop", "true").lower() not in ("true", "false"):
        raise invalid("Crop", "must be true or false")
    region = p.get("Region", "")
    if region and not (len(region.split(",")) == 4 and all(v.isascii() and v.isdigit() for v in region.split(","))):
        raise invalid("Region", "must be x1,x2,y1,y2")
    fields = {f.strip() for f in p.get("Fields", "").split(",") if f.strip()}
    q = await _picture(request, market, action, p)
    hits = ranked(market, q, "taobao", offset=start, limit=num)
    at = market.now()
    auctions = [{"RankScore": score,
                 "Result": served_result(market.world, x, at, request.url.netloc, pid, fields)}
                for x, score in zip(hits.listings, hits.scores, strict=True)]
    return {"Data": {"Auctions": auctions},
            "PicInfo": {"MainRegion": {"Region": region or "0,800,0,800",
                                       "MultiCategoryId": [{"CategoryId": int(cat or 88888888),
                                                            "Score": 0.9}]},
                        "MultiRegion": [{"Region": region or "0,800,0,800"}]}}


def _error(market: Market, e: PopError) -> JSONResponse:
    return JSONResponse({"RequestId": market.request_id(), "HostId": HOST_ID, "Code": e.code,
                         "Message": e.message,
                         "Recommend": f"https://api.aliyun.com/troubleshoot?q={e.code}"},
                        status_code=e.status, media_type=MEDIA)


async def endpoint(request: Request, market: Market, state: RouteState) -> Response:
    key: str | None = None
    try:
        if request.method not in ("GET", "POST"):
            raise PopError("UnsupportedHTTPMethod", f"HTTP method {request.method} is not supported.", 405)
        try:
            _query, p, _files, body = await read_params(request, market.config.max_image_bytes)
        except BodyError as exc:
            raise PopError("InvalidParameter", str(exc)) from None
        caller = authenticate(market, state, request, p, body)
        action, key = caller.action, caller.key
        pid = p.get("Pid", "")
        if not pid:
            raise missing("Pid")
        if pid not in market.config.aliyun_pids:
            raise PopError("Forbidden.InvalidPid",
                           "The Pid is not bound to this account's 淘宝联盟 media.", 403)
        verdict = state.limiter.check(f"aliyun:{key}")
        if verdict.reason == "ban":
            raise PopError("Throttling.User", "Request was denied due to user flow control.")
        if verdict.reason == "quota":
            raise PopError("QuotaExhausted",
                           f"The daily quota of {market.config.daily_quota} calls is spent.", 403)
        kind = market.faults.decide("aliyun")
        if kind is not None:
            market.stats.record("aliyun", "taobao", "fault", code=kind, key=key)
            fault = await broken_response(kind, market.config, request)
            if fault is not None:
                return fault
            if kind == "code15":
                return _error(market, PopError("InternalError",
                                               "The request processing has failed due to some "
                                               "unknown error.", 500))
        try:
            found = await _search(request, market, action, p, pid)
        except PictureError as exc:
            market.stats.record("aliyun", "taobao", "refused", code=str(exc.code), key=key)
            return JSONResponse({"RequestId": market.request_id(), "Success": False,
                                 "Code": exc.code, "Message": exc.message}, media_type=MEDIA)
        empty = not found["Data"]["Auctions"]
        market.stats.record("aliyun", "taobao", "no_result" if empty else "served", key=key)
        return JSONResponse({"RequestId": market.request_id(), "Success": True, "Code": 0,
                             "Message": "success", **found}, media_type=MEDIA)
    except PopError as e:
        market.stats.record("aliyun", "taobao", "refused", code=e.code, key=key)
        return _error(market, e)
