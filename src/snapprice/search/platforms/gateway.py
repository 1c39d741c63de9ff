"""Onebound-style gateway: GET {base}/{platform}/item_search_img/ with key/secret in the query."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from snapprice.errors import (
    PlatformFatal,
    QuotaExhausted,
    RateLimited,
    RequestRejected,
    TransientError,
)
from snapprice.models import QueryImage, SearchItem, SearchPage
from snapprice.search.platforms.base import as_id, as_int, ban_seconds, require_credentials
from snapprice.search.platforms.gate import Gate
from snapprice.search.platforms.http import fetch_json, install_log_redaction, redact, request_record
from snapprice.settings import PlatformSettings

# Documented error_code values (reference §3.6), grouped by what the caller should do.
_OK, _NO_RESULT = "0000", "2000"
_TRANSIENT = {"4000", "4001", "4002", "4009", "4017", "5000"}
_RATE_LIMITED = {"4008"}
_REJECTED = {"4003", "4014", "4015"}
_FATAL = {"4004", "4005", "4006", "4007", "4010", "4012"}
_QUOTA = {"4013", "4016"}


def _code(body: dict[str, Any]) -> str | None:
    raw = body.get("error_code")
    if raw is None or raw == "":
        return None
    code = str(raw).strip()
    return code.zfill(4) if code.isdigit() else code  # 0 (int) == "0000"


def _raise_for_code(platform: str, body: dict[str, Any], code: str) -> None:
    why = str(body.get("reason") or body.get("error") or "no reason given")
    msg = f"gateway error_code {code}: {why}"
    if code in _TRANSIENT:
        raise TransientError(platform, msg + "; will retry", code=code)
    if code in _RATE_LIMITED:
        raise RateLimited(platform, msg, code=code, retry_after=ban_seconds(why))
    if code in _QUOTA:
        raise QuotaExhausted(platform, msg + f" (api_info: {body.get('api_info', '?')}); "
                             "the key's call quota or balance is spent, top it up", code=code)
    if code in _FATAL:
        raise PlatformFatal(platform, msg + "; check the key, secret and the API subscription",
                            code=code)
    raise RequestRejected(platform, msg, code=code)


def _item(raw: Any, price_unit: str, rank: int) -> SearchItem | None:
    if not isinstance(raw, dict):
        return None
    return SearchItem(
        item_id=as_id(raw.get("num_iid", raw.get("item_id"))),
        title=raw.get("title"),
        pic_url=raw.get("pic_url"),
        price=raw.get("price"),
        promo_price=raw.get("promotion_price"),
        original_price=raw.get("orginal_price", raw.get("original_price")),
        sales=raw.get("sales"),
        shop=raw.get("seller_nick") or raw.get("shop") or raw.get("nick") or raw.get("seller"),
        shop_id=as_id(raw.get("seller_id")),
        detail_url=raw.get("detail_url"),
        area=raw.get("area"),
        shipping_fee=raw.get("post_fee", raw.get("express_fee")),
        coupon_amount=raw.get("coupon_amount"),
        price_after_coupon=raw.get("coupon_price"),
        price_unit=price_unit,
        rank=rank,
    )


def parse_gateway_body(
    platform: str, body: dict[str, Any], *, page: int | None = None,
    page_size: int | None = None, price_unit: str | None = None,
) -> tuple[list[SearchItem], bool, int | None]:
    """(items, has_more, total) of one item_search_img body, or the right PlatformError.

    ``page``/``page_size`` are those of the request (they set each item's overall rank);
    when omitted, the body's own ``items.page``/``items.page_size`` are used.
    Prices are yuan strings on every gateway platform (fen integers belong to Pinduoduo's
    own DDK router, reference §4.3); ``price_unit="fen"`` (``options.price_unit``) is there
    for a route that does send fen.

    >>> body = {"error_code": "0000", "items": {"page": 1, "pagecount": 3,
    ...         "item": [{"num_iid": 7, "price": "39.00-59.00"}]}}
    >>> items, has_more, total = parse_gateway_body("taobao", body)
    >>> items[0].item_id, items[0].price, items[0].rank, has_more, total
    ('7', '39.00-59.00', 1, True, None)
    >>> parse_gateway_body("taobao", {"error_code": "2000"})  # no result (still billed)
    ([], False, 0)
    """
    if not isinstance(body, dict):
        raise TransientError(platform, f"gateway body is a {type(body).__name__}, not an object")
    code = _code(body)
    if code == _NO_RESULT:
        return [], False, 0
    if code not in (None, _OK):
        _raise_for_code(platform, body, code)
    block = body.get("items")
    if not isinstance(block, dict):
        raise TransientError(platform, "gateway body has no `items` object; will retry",
                             code=code)
    raw_items = block.get("item") or []
    if isinstance(raw_items, dict):
        raw_items = [raw_items]
    if not isinstance(raw_items, list):
        raise TransientError(platform, "gateway `items.item` is not a list; will retry")
    unit = price_unit or "yuan"
    page = page or as_int(block.get("page")) or 1
    size = page_size or as_int(block.get("page_size")) or len(raw_items) or 1
    items = [it for n, raw in enumerate(raw_items)
             if (it := _item(raw, unit, (page - 1) * size + n + 1)) is not None]
    total = as_int(block.get("real_total_results"))
    if total is None:
        total = as_int(block.get("total_results"))
    pagecount = as_int(block.get("pagecount"))
    if pagecount is not None:
        has_more = page < pagecount
    elif total is not None:
        has_more = page * size < total
    else:
        has_more = len(raw_items) >= size
    return items, has_more and bool(raw_items), total


def parse_upload_body(platform: str, body: dict[str, Any]) -> str:
    """The ``imgid`` an upload_img body gives (``items.item.name``), or a PlatformError."""
    code = _code(body)
    if code not in (None, _OK):
        _raise_for_code(platform, body, code)
    block = body.get("items")
    item = block.get("item") if isinstance(block, dict) else None
    if isinstance(item, list):
        item = item[0] if item else None
    name = item.get("name") if isinstance(item, dict) else None
    if not name:
        raise TransientError(platform, "upload_img body has no items.item.name; will retry")
    return str(name)


class GatewayClient:
    """item_search_img on one gateway platform path; uploads bytes first when no URL."""

    protocol: ClassVar[str] = "gateway"
    sends_url: ClassVar[bool] = True
    credential_fields: ClassVar[tuple[str, ...]] = ("key", "secret")

    def __init__(self, name: str, settings: PlatformSettings, credentials: Mapping[str, str],
                 http: httpx.AsyncClient, *, gate: Gate | None = None) -> None:
        require_credentials(name, GatewayClient, credentials)
        self.name = name
        self.platform = settings.platform or name
        self.settings = settings
        self._key, self._secret = credentials["key"], credentials["secret"]
        self._http = http
        self._imgids: dict[str, str] = {}
        self.gate = gate or Gate()
        install_log_redaction()

    @staticmethod
    def parse(marketplace: str, body: Any, *, page: int | None, page_size: int | None,
              options: Mapping[str, Any]) -> list[SearchItem]:
        """Items of an item_search_img body (``options.price_unit`` as when searched)."""
        return parse_gateway_body(marketplace, body, page=page, page_size=page_size,
                                  price_unit=options.get("price_unit"))[0]

    @property
    def _secrets(self) -> tuple[str, str]:
        return self._key, self._secret

    def _url(self, api: str) -> str:
        return f"{self.settings.base_url}/{self.platform}/{api}/"

    async def _upload(self, image: QueryImage) -> str:
        if image.digest in self._imgids:
            return self._imgids[image.digest]
        await self.gate.admit()
        _, body = await fetch_json(
            self._http, self.platform, "POST", self._url("upload_img"),
            params={"key": self._key, "secret": self._secret},
            data={"imgcode": base64.b64encode(image.data).decode("ascii")},
            timeout=self.settings.timeout, secrets=self._secrets,
            max_bytes=self.settings.max_body_bytes)
        imgid = parse_upload_body(self.platform, redact(body, self._secrets))
        self._imgids[image.digest] = imgid
        return imgid

    async def search(self, image: QueryImage, page: int) -> SearchPage:
        imgid = image.url or await self._upload(image)
        s = self.settings
        params = {"key": self._key, "secret": self._secret, "imgid": imgid, "cat": s.cat,
                  "page": page, "page_size": s.page_size, "sort": s.sort}
        params = {k: v for k, v in params.items() if v not in ("", None)}
        url = self._url("item_search_img")
        await self.gate.admit()
        status, raw = await fetch_json(self._http, self.platform, "GET", url, params=params,
                                       timeout=s.timeout, secrets=self._secrets,
                                       max_bytes=s.max_body_bytes)
        body = redact(raw, self._secrets)
        items, has_more, total = parse_gateway_body(
            self.platform, body, page=page, page_size=s.page_size,
            price_unit=s.options.get("price_unit"))
        cache = body.get("cache")
        quota = body.get("api_info")
        return SearchPage(
            platform=self.platform, page=page, items=items, has_more=has_more, total=total,
            cached=cache in (1, "1", True, "yes"),
            quota=quota if isinstance(quota, str) else None,  # the body keeps any other shape
            request=request_record("GET", url, params, None, self._secrets),
            body=body, http_status=status)
