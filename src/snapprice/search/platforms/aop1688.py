"""1688 open platform: ``product.image.upload`` → ``product.search.imageQuery``, ``_aop_signature`` signed."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from snapprice.errors import (
    ConfigError,
    PlatformFatal,
    QuotaExhausted,
    RateLimited,
    RequestRejected,
    TransientError,
)
from snapprice.models import QueryImage, SearchItem, SearchPage
from snapprice.search.platforms.base import as_id, as_int, require_credentials
from snapprice.search.platforms.gate import Gate
from snapprice.search.platforms.http import REDACTED, fetch_any_status, install_log_redaction, redact, request_record
from snapprice.search.platforms.signing import aop_sign
from snapprice.settings import PlatformSettings

NAMESPACE = "com.alibaba.fenxiao.crossborder"
UPLOAD_API, QUERY_API = "product.image.upload", "product.search.imageQuery"
MAX_PAGE_SIZE = 50  # offerQueryParam.pageSize limit (reference §4.1)
# settings.sort → offerQueryParam.sort (the API sorts by price only).
_SORTS: dict[str, dict[str, str] | None] = {
    "": None, "default": None, "price_asc": {"price": "asc"}, "bid": {"price": "asc"},
    "price_desc": {"price": "desc"}, "_bid": {"price": "desc"},
}
# Gateway error_code fragments, by what the caller should do (gw.APIACLDecline,
# gw.SignatureMissing, gw.AppKeyMissing, gw.APIUnsupported are documented; the others
# are the sandbox's names for the same classes).
_RATE_MARKS = ("Qps", "Flow", "Frequency", "RateLimit")
_FATAL_MARKS = ("ACL", "Unsupported", "AppKey", "Signature", "Auth", "Token", "Timestamp",
                "Isv", "HttpMethod")
_TRANSIENT_MARKS = ("Timeout", "InternalError", "ServiceUnavailable", "Busy")


def _raise_gw_error(label: str, body: Mapping[str, Any], status: int) -> None:
    code = str(body.get("error_code") or "")
    why = body.get("error_message") or body.get("exception") or "no message"
    msg = f"1688 gateway {code or 'error'}: {why} (HTTP {status})"
    if "NoUsageLeft" in code:
        raise QuotaExhausted(label, msg + "; the SLA bill is used up, buy more calls", code=code)
    if any(m in code for m in _RATE_MARKS):
        raise RateLimited(label, msg, code=code)
    if status >= 500 or any(m in code for m in _TRANSIENT_MARKS):
        raise TransientError(label, msg + "; will retry", code=code)
    if any(m in code for m in _FATAL_MARKS) or status in (401, 403):
        raise PlatformFatal(label, msg + "; check app_key/app_secret/access_token and that the "
                            "app was granted the API", code=code)
    raise RequestRejected(label, msg, code=code)


def _unwrap(platform: str, body: Any) -> Any:
    """The inner ``result`` of a success envelope; raises the body's error otherwise."""
    if not isinstance(body, dict):
        raise TransientError(platform, f"1688 body is a {type(body).__name__}, not an object")
    if body.get("error_code"):
        _raise_gw_error(platform, body, 400)
    outer = body.get("result", body)
    if not isinstance(outer, dict):
        raise TransientError(platform, "1688 body has no `result` object; will retry")
    ok = outer.get("success")
    if ok is not None and str(ok).lower() != "true":  # a string in the doc, sometimes a bool
        code = str(outer.get("code") or "")
        msg = f"1688 API code {code or '?'}: {outer.get('message') or 'no message'}"
        if code.startswith("5"):
            raise TransientError(platform, msg + "; will retry", code=code)
        raise RequestRejected(platform, msg, code=code or None)
    return outer.get("result")


def _item(raw: Any, rank: int) -> SearchItem | None:
    if not isinstance(raw, dict):
        return None
    prices = raw["priceInfo"] if isinstance(raw.get("priceInfo"), dict) else {}
    offer = as_id(raw.get("offerId"))  # a Long: kept as a string
    promo = prices.get("promotionPrice")
    return SearchItem(
        item_id=offer,
        title=raw.get("subject") or raw.get("subjectTrans"),
        pic_url=raw.get("imageUrl"),
        price=prices.get("price"),
        promo_price=promo if promo not in ("", None) else None,
        sales=raw.get("monthSold"),
        shop=raw.get("companyName"),
        detail_url=raw.get("promotionURL") or (f"https://detail.1688.com/offer/{offer}.html"
                                               if isinstance(offer, str) and offer else None),
        area=raw.get("companyAddress"),
        repurchase_rate=raw.get("repurchaseRate"),
        rank=rank,
    )


def parse_aop_body(
    platform: str, body: Any, *, page: int | None = None, page_size: int | None = None,
) -> tuple[list[SearchItem], bool, int | None]:
    """(items, has_more, total) of one ``product.search.imageQuery`` body, or the right error."""
    inner = _unwrap(platform, body)
    if not isinstance(inner, dict):
        raise TransientError(platform, "1688 imageQuery body has no `result.result`; will retry")
    data = inner.get("data") or []
    if not isinstance(data, list):
        raise TransientError(platform, "1688 `result.result.data` is not a list; will retry")
    page = page or as_int(inner.get("currentPage")) or 1
    size = page_size or as_int(inner.get("pageSize")) or len(data) or 1
    items = [it for n, raw in enumerate(data)
             if (it := _item(raw, (page - 1) * size + n + 1)) is not None]
    total = as_int(inner.get("totalRecords"))
    pages = as_int(inner.get("totalPage"))
    if pages is not None:
        has_more = page < pages
    elif total is not None:
        has_more = page * size < total
    else:
        has_more = len(data) >= size
    return items, has_more and bool(data), total


def parse_upload_body(platform: str, body: Any) -> str:
    """The ``imageId`` a ``product.image.upload`` body gives, or the right error."""
    inner = _unwrap(platform, body)
    if isinstance(inner, dict):
        inner = inner.get("imageId") or inner.get("result")
    if inner in (None, "", 0, "0"):
        # The upload tip of reference §4.1: an unusable picture comes back as an empty/0 id.
        raise RequestRejected(platform, "product.image.upload gave no imageId: the picture "
                              "was not accepted (send raw Base64 of a JPEG/PNG, ideally ~100 KB)")
    return str(inner)


class Aop1688Client:
    """1688 cross-border image search: upload once per image (id cached), then imageQuery."""

    protocol: ClassVar[str] = "1688-aop"
    sends_url: ClassVar[bool] = False  # the picture is always uploaded
    credential_fields: ClassVar[tuple[str, ...]] = ("app_key", "app_secret", "access_token")

    def __init__(self, name: str, settings: PlatformSettings, credentials: Mapping[str, str],
                 http: httpx.AsyncClient, *, gate: Gate | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        require_credentials(name, Aop1688Client, credentials)
        if not 1 <= settings.page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"platforms.{name}.page_size: imageQuery pages hold 1 to "
                              f"{MAX_PAGE_SIZE} offers, not {settings.page_size}")
        if settings.sort not in _SORTS:
            raise ConfigError(f"platforms.{name}.sort: {settings.sort!r} is not one of "
                              f"{', '.join(repr(k) for k in _SORTS)} (imageQuery sorts by price only)")
        opts = settings.options
        self.name = name
        self.platform = settings.platform or name
        self.settings = settings
        self.namespace = str(opts.get("namespace") or NAMESPACE)
        self.country = str(opts.get("country") or "en")
        self._app_key = credentials["app_key"]
        self._secret, self._token = credentials["app_secret"], credentials["access_token"]
        self._http = http
        self._clock = clock or (lambda: datetime.now(UTC))
        self._image_ids: dict[str, str] = {}
        self.gate = gate or Gate()
        install_log_redaction()

    @staticmethod
    def parse(marketplace: str, body: Any, *, page: int | None, page_size: int | None,
              options: Mapping[str, Any]) -> list[SearchItem]:
        """Items of a ``product.search.imageQuery`` body."""
        return parse_aop_body(marketplace, body, page=page, page_size=page_size)[0]

    def url_path(self, api: str) -> str:
        return f"param2/1/{self.namespace}/{api}/{self._app_key}"

    def signed_form(self, api: str, business: dict[str, str]) -> dict[str, str]:
        """Business + ``access_token`` + ``_aop_timestamp`` (ms) + ``_aop_signature``."""
        form = {**business, "access_token": self._token,
                "_aop_timestamp": str(int(self._clock().timestamp() * 1000))}
        form["_aop_signature"] = aop_sign(self.url_path(api), form, self._secret)
        return form

    async def _call(self, api: str, business: dict[str, str]
                    ) -> tuple[int, dict[str, Any], dict[str, str], str]:
        url = f"{self.settings.base_url}/{self.url_path(api)}"
        await self.gate.admit()
        form = self.signed_form(api, business)  # after the gate: the timestamp is fresh
        secrets = (self._secret, self._token, form["_aop_signature"])
        status, raw = await fetch_any_status(self._http, self.name, url, form=form,
                                             timeout=self.settings.timeout, secrets=secrets,
                                             max_bytes=self.settings.max_body_bytes)
        body = redact(raw, secrets)
        if status >= 400 or (isinstance(body, dict) and body.get("error_code")):
            _raise_gw_error(self.name, body or {}, status)
        kept = {**form, "_aop_signature": REDACTED}
        stored_url = url[: -len(self._app_key)] + REDACTED  # the app key ends the path
        return status, body or {}, kept, stored_url

    async def _image_id(self, image: QueryImage) -> str:
        if image.digest in self._image_ids:
            return self._image_ids[image.digest]
        param = json.dumps({"imageBase64": base64.b64encode(image.data).decode("ascii")})
        _, body, _, _ = await self._call(UPLOAD_API, {"uploadImageParam": param})
        image_id = parse_upload_body(self.name, body)
        self._image_ids[image.digest] = image_id
        return image_id

    async def search(self, image: QueryImage, page: int) -> SearchPage:
        s = self.settings
        query: dict[str, Any] = {"imageId": await self._image_id(image), "beginPage": page,
                                 "pageSize": s.page_size, "country": self.country}
        if _SORTS[s.sort]:
            query["sort"] = json.dumps(_SORTS[s.sort], separators=(",", ":"))
        if s.cat.isdigit() and s.cat != "0":
            query["categoryId"] = int(s.cat)
        business = {"offerQueryParam": json.dumps(query, separators=(",", ":"), ensure_ascii=False)}
        status, body, kept, url = await self._call(QUERY_API, business)
        items, has_more, total = parse_aop_body(self.name, body, page=page, page_size=s.page_size)
        return SearchPage(
            platform=self.platform, page=page, items=items, has_more=has_more, total=total,
            request=request_record("POST", url, {}, kept, (self._secret, self._token)),
            body=body, http_status=status)
