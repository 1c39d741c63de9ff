"""TOP router: one signed POST per call; system params in the query, business params in the form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import httpx

from snapprice.errors import (
    ConfigError,
    PlatformFatal,
    RateLimited,
    RequestRejected,
    TransientError,
)
from snapprice.models import QueryImage, SearchItem, SearchPage
from snapprice.search.platforms.base import as_id, as_int, ban_seconds, require_credentials
from snapprice.search.platforms.gate import Gate
from snapprice.search.platforms.http import fetch_json, install_log_redaction, redact, request_record
from snapprice.search.platforms.signing import SIGN_METHODS, top_sign
from snapprice.settings import PlatformSettings

DEFAULT_METHOD = "taobao.item.search.img"
CHINA = timezone(timedelta(hours=8), "GMT+8")  # no DST in China: a fixed offset is exact
_BAN_CODES = {4, 5, 6, 7, 8}
_TRANSIENT_CODES = {10}
_REJECTED_CODES = {3, 40, 41, 42, 43}
# Every later call would fail the same way: stop the platform (permissions, method,
# signature, session, app key, clock/timestamp, version, HTTP method, format).
_FATAL_CODES = {9, 11, 12, 13, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34}


def response_key(method: str) -> str:
    """TOP's success wrapper of ``method``: ``taobao.`` dropped, dots to underscores.

    >>> response_key("taobao.tbk.item.info.get")
    'tbk_item_info_get_response'
    """
    name = method[len("taobao."):] if method.startswith("taobao.") else method
    return name.replace(".", "_") + "_response"


def china_timestamp(now: datetime | None = None) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in GMT+8, as TOP expects."""
    now = now or datetime.now(UTC)
    return now.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _raise_top_error(label: str, err: dict[str, Any]) -> None:
    code = as_int(err.get("code"))
    sub_code = str(err.get("sub_code") or "")
    sub_msg = str(err.get("sub_msg") or "")
    msg = f"TOP error {code} {err.get('msg') or ''}".rstrip()
    if sub_code or sub_msg:
        msg += f" [{sub_code}: {sub_msg}]" if sub_code else f" [{sub_msg}]"
    kw: dict[str, Any] = {"code": None if code is None else str(code), "sub_code": sub_code or None}
    if code in _BAN_CODES or sub_code.startswith("accesscontrol."):
        raise RateLimited(label, msg, retry_after=ban_seconds(sub_msg), **kw)
    if code in _TRANSIENT_CODES or sub_code.startswith("isp."):
        raise TransientError(label, msg + "; will retry", **kw)
    if code in _FATAL_CODES:
        raise PlatformFatal(label, msg + "; check app_key/app_secret, sign_method, the app's "
                            "API permissions and the host clock", **kw)
    raise RequestRejected(label, msg, **kw)


def _find_items(resp: dict[str, Any]) -> list[Any]:
    for key in ("items", "result_list", "auctions", "item_list"):
        block = resp.get(key)
        if isinstance(block, dict):
            for inner in ("item", "map_data", "auction", "items"):
                if isinstance(block.get(inner), list):
                    return block[inner]
        if isinstance(block, list):
            return block
    return []


def _first(raw: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if raw.get(k) not in (None, ""):
            return raw[k]
    return None


def _item(raw: Any, rank: int) -> SearchItem | None:
    if not isinstance(raw, dict):
        return None
    return SearchItem(
        item_id=as_id(_first(raw, "num_iid", "item_id", "id")),
        title=_first(raw, "title"),
        pic_url=_first(raw, "pic_url", "pict_url", "pic"),
        price=_first(raw, "price", "zk_final_price"),
        promo_price=_first(raw, "promotion_price", "promo_price"),
        original_price=_first(raw, "orginal_price", "original_price", "reserve_price"),
        sales=_first(raw, "sales", "volume", "view_sales"),
        shop=_first(raw, "nick", "seller_nick", "shop_title", "shop"),
        shop_id=as_id(_first(raw, "seller_id", "shop_id")),
        detail_url=_first(raw, "detail_url", "item_url", "url"),
        area=_first(raw, "area", "provcity", "item_location"),
        shipping_fee=_first(raw, "post_fee", "real_post_fee"),
        coupon_amount=_first(raw, "coupon_amount"),
        shop_type=_first(raw, "user_type"),
        rank=rank,
    )


def parse_top_body(
    platform: str, body: dict[str, Any], *, method: str = DEFAULT_METHOD,
    page: int | None = None, page_size: int | None = None,
) -> tuple[list[SearchItem], bool, int | None]:
    """(items, has_more, total) of one TOP response (classic or ``simplify``), or the error."""
    if not isinstance(body, dict):
        raise TransientError(platform, f"TOP body is a {type(body).__name__}, not an object")
    err = body.get("error_response")
    if isinstance(err, dict):
        _raise_top_error(platform, err)
    key = response_key(method)
    resp = body.get(key)
    if resp is None:
        # simplify=true drops the wrapper; a body with other wrappers is not ours.
        wrappers = [k for k in body if k.endswith("_response")]
        resp = body[wrappers[0]] if len(wrappers) == 1 else None if wrappers else body
    if not isinstance(resp, dict):
        raise TransientError(platform, f"TOP body has no `{key}` object; will retry")
    raw_items = _find_items(resp)
    page = page or as_int(_first(resp, "page", "page_no")) or 1
    size = page_size or as_int(resp.get("page_size")) or len(raw_items) or 1
    items = [it for n, raw in enumerate(raw_items)
             if (it := _item(raw, (page - 1) * size + n + 1)) is not None]
    total = as_int(_first(resp, "total_results", "total", "total_count"))
    flag = _first(resp, "has_more", "has_next")
    if flag is not None:
        has_more = flag in (True, "true", 1, "1")
    elif total is not None:
        has_more = page * size < total
    else:
        has_more = len(raw_items) >= size
    return items, has_more and bool(raw_items), total


class TopClient:
    """A TOP-router image search (md5 / hmac / hmac-sha256; image as URL or multipart file)."""

    protocol: ClassVar[str] = "top"
    sends_url: ClassVar[bool] = True
    credential_fields: ClassVar[tuple[str, ...]] = ("app_key", "app_secret")

    def __init__(self, name: str, settings: PlatformSettings, credentials: Mapping[str, str],
                 http: httpx.AsyncClient, *, gate: Gate | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        require_credentials(name, TopClient, credentials)
        opts = settings.options
        self.method = str(opts.get("method") or DEFAULT_METHOD)
        self.sign_method = str(opts.get("sign_method") or "hmac-sha256")
        if self.sign_method not in SIGN_METHODS:
            raise ConfigError(f"platforms.{name}.options.sign_method: {self.sign_method!r} is "
                              f"not one of {', '.join(SIGN_METHODS)}")
        self.image_param = str(opts.get("image_param") or "image")
        self.name = name
        self.platform = settings.platform or name
        self.settings = settings
        self._app_key, self._secret = credentials["app_key"], credentials["app_secret"]
        self._http = http
        self._clock = clock or (lambda: datetime.now(UTC))
        self.gate = gate or Gate()
        install_log_redaction()

    @staticmethod
    def parse(marketplace: str, body: Any, *, page: int | None, page_size: int | None,
              options: Mapping[str, Any]) -> list[SearchItem]:
        """Items of a TOP body (``options.method`` names its success wrapper, as when searched)."""
        return parse_top_body(marketplace, body, method=str(options.get("method") or DEFAULT_METHOD),
                              page=page, page_size=page_size)[0]

    def signed_query(self, business: dict[str, Any]) -> dict[str, str]:
        """System parameters plus ``sign`` over system + business (never over files)."""
        system = {"method": self.method, "app_key": self._app_key, "format": "json",
                  "v": "2.0", "sign_method": self.sign_method,
                  "timestamp": china_timestamp(self._clock())}
        system["sign"] = top_sign({**system, **business}, self._secret, self.sign_method)
        return system

    async def search(self, image: QueryImage, page: int) -> SearchPage:
        s = self.settings
        business = {"cat": s.cat, "sort": s.sort, "page": page, "page_size": s.page_size,
                    "image_url": image.url}
        business = {k: str(v) for k, v in business.items() if v not in ("", None)}
        files = None if image.url else {self.image_param: image}
        secrets = (self._secret,)  # app_key is masked by name; as a substring it is too short
        await self.gate.admit()
        query = self.signed_query(business)  # after the gate: the timestamp is fresh
        status, raw = await fetch_json(
            self._http, self.name, "POST", s.base_url, params=query, data=business,
            files=None if files is None else {
                k: (f"{img.digest[:16] or 'image'}.jpg", img.data, img.mime)
                for k, img in files.items()},
            timeout=s.timeout, secrets=secrets, max_bytes=s.max_body_bytes)
        body = redact(raw, secrets)
        items, has_more, total = parse_top_body(self.name, body, method=self.method,
                                                page=page, page_size=s.page_size)
        return SearchPage(
            platform=self.platform, page=page, items=items, has_more=has_more, total=total,
            request=request_record("POST", s.base_url, query, business, secrets, files),
            body=body, http_status=status)
