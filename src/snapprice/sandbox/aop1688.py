"""1688 open platform (AOP) ``/openapi/param2/1/{ns}/{api}/{appKey}``: image upload and imageQuery."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from snapprice.sandbox import vocab
from snapprice.sandbox.faults import broken_response
from snapprice.sandbox.intake import IntakeError, b64_bytes
from snapprice.sandbox.market import Market
from snapprice.sandbox.official import RouteState, ranked
from snapprice.sandbox.requests import BodyError, read_params
from snapprice.sandbox.world import Listing, World

MEDIA = "application/json;charset=UTF-8"
NAMESPACE = "com.alibaba.fenxiao.crossborder"
UPLOAD, QUERY = "product.image.upload", "product.search.imageQuery"
APIS = (UPLOAD, QUERY)
MAX_PAGE_SIZE = 50


def aop_signature(url_path: str, params: dict[str, str], secret: str) -> str:
    """Upper hex HMAC-SHA1(secret, urlPath + the sorted ``key+value`` strings), per reference §4.1.

    Like the official SDK, the concatenated ``key+value`` strings are sorted (which orders
    keys the same way unless one key is a prefix of another).
    """
    s = url_path + "".join(sorted(f"{k}{v}" for k, v in params.items() if k != "_aop_signature"))
    return hmac.new(secret.encode(), s.encode(), hashlib.sha1).hexdigest().upper()


def served_price(world: World, item_id: str, at: datetime) -> tuple[Decimal, Decimal, Decimal | None]:
    """(low, high, promo) a snapshot of this route holds: ``priceInfo.price`` is the low price
    and ``promotionPrice`` the promotion ("" when none)."""
    low, _high, promo = world.served_price(item_id, "1688", at)
    return low, low, promo


def served_offer(world: World, x: Listing, at: datetime, host: str, country: str) -> dict[str, Any]:
    """One ``result.result.data[]`` offer of a 1688 listing at ``at``."""
    low, high, promo = world.served_price(x.item_id, x.platform, at)
    _text, month_sold = world.served_sales(x.item_id, x.platform, at)
    product = world.product(x.product_id)
    n = int(x.item_id)
    return {
        "offerId": n,
        "subject": x.title,
        "subjectTrans": product.title_en if country != "zh" else x.title,
        "imageUrl": f"http://{host}/img/1688/{x.item_id}.jpg",
        "priceInfo": {"price": f"{low:.2f}", "jxhyPrice": "", "pfJxhyPrice": "",
                      "consignPrice": f"{high:.2f}",
                      "promotionPrice": "" if promo is None else f"{promo:.2f}"},
        "monthSold": month_sold,
        "sales7d": str(month_sold // 4),
        "repurchaseRate": f"{5 + n % 30}%",
        "isOnePsale": n % 3 != 0,
        "isJxhy": n % 7 == 0,
        "minOrderQuantity": 1 + n % 3,
        "companyName": x.shop,
        "companyAddress": x.area,
        "tradeScore": f"{4 + (n % 10) / 10:.1f}",
        "sellerIdentities": ["tp_member"] if n % 2 else [],
        "promotionURL": vocab.DETAIL_URL["1688"].format(id=x.item_id) + "?fromkv=sandbox",
    }


class GwError(Exception):
    """A gateway refusal: HTTP 400 (401 for the user token) with ``error_code`` ``gw.*``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status


class BusinessError(Exception):
    """An API-level failure: HTTP 200, ``result.success`` ``"false"`` with a code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _gw(e: GwError) -> Response:
    if e.status == 401:  # the gateway answers a bad token in plain text (reference §4.1)
        return Response(e.message, status_code=401, media_type="text/plain;charset=UTF-8")
    return JSONResponse({"error_code": e.code, "error_message": e.message, "exception": e.message},
                        status_code=e.status, media_type=MEDIA)


def _result(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"result": body}, media_type=MEDIA)


def _check(market: Market, p: dict[str, str], path: dict[str, str]) -> str:
    """Gateway checks in order; returns the API name."""
    cfg = market.config
    app_key = path.get("app_key", "")
    if not app_key:
        raise GwError("gw.AppKeyMissing", "AppKey is missing: it is the last segment of the URL path")
    if app_key != cfg.aop_app_key:
        raise GwError("gw.AppKeyNotFound", f"AppKey {app_key[:20]!r} does not exist")
    api = path.get("api", "")
    if path.get("version") != "1" or path.get("namespace") != NAMESPACE or api not in APIS:
        raise GwError("gw.APIUnsupported", "API is not supported: check the namespace, name and version")
    sig = p.get("_aop_signature", "")
    if not sig:
        raise GwError("gw.SignatureMissing", "_aop_signature is missing")
    url_path = f"param2/1/{NAMESPACE}/{api}/{app_key}"
    if not hmac.compare_digest(aop_signature(url_path, p, cfg.aop_app_secret).encode(), sig.upper().encode()):
        raise GwError("gw.SignatureInvalid", "_aop_signature does not match the request")
    ts = p.get("_aop_timestamp", "")
    if ts:  # optional; epoch milliseconds when sent
        skew = abs(int(ts) / 1000 - market.clock()) if ts.isascii() and ts.isdigit() and len(ts) <= 15 else math.inf
        if skew > cfg.timestamp_window:
            raise GwError("gw.TimestampExpired",
                          f"_aop_timestamp must be epoch milliseconds within {cfg.timestamp_window} s "
                          "of server time")
    if api not in cfg.aop_granted_apis:
        raise GwError("gw.APIACLDecline", "AppKey is not allowed(acl)")
    if p.get("access_token", "") not in cfg.aop_access_tokens:
        raise GwError("gw.AuthFailed", "Request need user authenticated", 401)
    return api


def _json_param(p: dict[str, str], name: str) -> dict[str, Any]:
    raw = p.get(name, "")
    if not raw:
        raise BusinessError("400", f"{name} is required (a JSON object string)")
    try:
        value = json.loads(raw)
    except ValueError:
        raise BusinessError("400", f"{name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise BusinessError("400", f"{name} must be a JSON object")
    return value


def _int(q: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name, default)
    text = str(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not (text.isascii() and text.isdigit()) \
            or not lo <= int(text) <= hi:
        raise BusinessError("400", f"offerQueryParam.{name} must be an integer from {lo} to {hi}")
    return int(raw)


def _upload(market: Market, p: dict[str, str]) -> dict[str, Any]:
    param = _json_param(p, "uploadImageParam")
    raw = param.get("imageBase64")
    if not isinstance(raw, str) or not raw.strip():
        raise BusinessError("400", "uploadImageParam.imageBase64 is required")
    if raw.lstrip().startswith("data:"):
        # Real quirk (reference §4.1): with a data-URI prefix the id comes back empty.
        return {"success": "true", "code": "200", "message": "", "result": ""}
    try:
        image_id = market.intake.upload(b64_bytes(raw))
    except IntakeError as exc:
        raise BusinessError("400", f"imageBase64: {exc.detail}") from None
    return {"success": "true", "code": "200", "message": "", "result": image_id}


def _query(request: Request, market: Market, p: dict[str, str]) -> dict[str, Any]:
    q = _json_param(p, "offerQueryParam")
    image_id = str(q.get("imageId") or "")
    if not image_id:
        raise BusinessError("400", "offerQueryParam.imageId is required (from product.image.upload)")
    features = market.intake.uploaded(image_id)
    if features is None:
        raise BusinessError("404", f"imageId {image_id[:30]!r} does not exist or expired")
    country = q.get("country")
    if not isinstance(country, str) or not country.isalpha() or not 2 <= len(country) <= 5:
        raise BusinessError("400", "offerQueryParam.country is required (a language code such as en)")
    page = _int(q, "beginPage", 1, 1, 10_000)
    size = _int(q, "pageSize", 20, 1, MAX_PAGE_SIZE)
    sort = q.get("sort")
    if isinstance(sort, str) and sort:
        try:
            sort = json.loads(sort)
        except ValueError:
            raise BusinessError("400", "offerQueryParam.sort must be JSON like {\"price\":\"asc\"}") from None
    if sort not in (None, "", {}) and not (isinstance(sort, dict) and set(sort) == {"price"}
                                          and sort["price"] in ("asc", "desc")):
        raise BusinessError("400", "offerQueryParam.sort supports {\"price\":\"asc\"|\"desc\"} only")
    at = market.now()
    if isinstance(sort, dict) and sort:
        hits = ranked(market, features, "1688", offset=0, limit=10**9)
        order = sorted(hits.listings, key=lambda x: market.world.served_price(x.item_id, "1688", at)[0],
                       reverse=sort["price"] == "desc")
        listings, total = order[(page - 1) * size: page * size], hits.total
    else:
        hits = ranked(market, features, "1688", offset=(page - 1) * size, limit=size)
        listings, total = hits.listings, hits.total
    data = [served_offer(market.world, x, at, request.url.netloc, country) for x in listings]
    return {"success": "true", "code": "200", "message": "",
            "result": {"totalRecords": total, "totalPage": math.ceil(total / size),
                       "pageSize": size, "currentPage": page,
                       "picRegionInfo": {"currentRegion": "0,800,0,800",
                                         "yoloCropRegion": "0,800,0,800"},
                       "data": data}}


async def endpoint(request: Request, market: Market, state: RouteState) -> Response:
    path = dict(request.path_params)
    stat = "aop_upload" if path.get("api") == UPLOAD else "aop"
    key: str | None = None
    try:
        if request.method not in ("GET", "POST"):
            raise GwError("gw.HttpMethodNotAllowed", f"HTTP method {request.method} is not allowed")
        try:
            _query_params, p, _files, _body = await read_params(request, market.config.max_image_bytes)
        except BodyError as exc:
            raise GwError("gw.ParamInvalid", str(exc)) from None
        api = _check(market, p, path)
        key = path["app_key"]
        verdict = state.limiter.check(f"aop:{key}")
        if verdict.reason == "ban":
            raise GwError("gw.QpsOverrun", "The api request frequency exceeds the limit")
        if verdict.reason == "quota":
            raise GwError("gw.NoUsageLeftError", "SLA bill has no usage left")
        kind = market.faults.decide("aop")
        if kind is not None:
            market.stats.record(stat, "1688", "fault", code=kind, key=key)
            fault = await broken_response(kind, market.config, request)
            if fault is not None:
                return fault
            if kind == "code15":
                return JSONResponse({"error_code": "gw.ServiceTimeout", "error_message": "backend timeout"},
                                    status_code=504, media_type=MEDIA)
        try:
            body = _upload(market, p) if api == UPLOAD else _query(request, market, p)
        except BusinessError as exc:
            market.stats.record(stat, "1688", "refused", code=exc.code, key=key)
            return _result({"success": "false", "code": exc.code, "message": exc.message})
        empty = api == QUERY and not body["result"]["data"]
        market.stats.record(stat, "1688", "no_result" if empty else "served", key=key)
        return _result(body)
    except GwError as e:
        market.stats.record(stat, "1688", "refused", code=e.code, key=key)
        return _gw(e)


async def missing_app_key(request: Request, market: Market, state: RouteState) -> Response:
    market.stats.record("aop", "1688", "refused", code="gw.AppKeyMissing")
    return _gw(GwError("gw.AppKeyMissing", "AppKey is missing: it is the last segment of the URL path"))
