"""Aliyun ImageSearch 淘宝联盟版: POP RPC ``SearchByPic`` / ``SearchByUrl`` signed with the
AccessKey, by signature V3 (``ACS3-HMAC-SHA256`` header, the default) or V1 (RPC HMAC-SHA1)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

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
from snapprice.search.platforms.base import as_id, require_credentials
from snapprice.search.platforms.gate import Gate
from snapprice.search.platforms.http import (
    REDACTED,
    fetch_any_status,
    install_log_redaction,
    redact,
    request_record,
)
from snapprice.search.platforms.signing import acs3_authorization, pop_sign
from snapprice.settings import PlatformSettings

VERSION = "2021-05-01"
SIGNATURES = ("v3", "v1")
MAX_START, MAX_NUM = 499, 20  # the API's Start and Num ranges (reference §2)
# Optional result fields snapprice needs; PicUrl, ReservePrice, Title, Url, ZkFinalPrice come always.
DEFAULT_FIELDS = "ItemId,Volume,Nick,ShopTitle,SellerId,Provcity,UserType"
# Every later call would fail the same way: stop the platform.
_FATAL_PREFIXES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "IncompleteSignature",
                   "InvalidTimeStamp", "Forbidden", "InvalidAction", "InvalidVersion",
                   "InvalidSecurityToken", "UnsupportedHTTPMethod", "NoPermission")
_TRANSIENT_PREFIXES = ("InternalError", "ServiceUnavailable", "ServiceTimeout", "Busy",
                       "SignatureNonceUsed")  # a retry signs with a fresh nonce


def iso_timestamp(now: datetime | None = None) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ`` in UTC, as POP expects."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _raise_pop_error(label: str, body: dict[str, Any], status: int | None) -> None:
    code = str(body.get("Code") or "")
    msg = f"Aliyun {code or 'error'}: {body.get('Message') or 'no message'}"
    if status:
        msg += f" (HTTP {status})"
    if code.startswith("Throttling"):
        raise RateLimited(label, msg + "; the account's QPS is exceeded", code=code)
    if code.startswith("Quota"):
        raise QuotaExhausted(label, msg + "; the account's call quota is spent", code=code)
    if code.startswith(_TRANSIENT_PREFIXES) or (status or 0) >= 500:
        raise TransientError(label, msg + "; will retry", code=code)
    if code.startswith(_FATAL_PREFIXES) or status in (401, 403):
        raise PlatformFatal(label, msg + "; check access_key_id/access_key_secret, the PID "
                            "(options.pid), the endpoint and the host clock", code=code)
    raise RequestRejected(label, msg, code=code)


def _item(raw: Any, rank: int) -> SearchItem | None:
    if not isinstance(raw, dict):
        return None
    res = raw.get("Result", raw)
    if not isinstance(res, dict):
        return None
    final = res.get("ZkFinalPrice")
    return SearchItem(
        item_id=as_id(res.get("ItemId")),  # an encrypted string id
        title=res.get("Title"),
        pic_url=res.get("PicUrl"),
        price=res.get("ReservePrice") if res.get("ReservePrice") not in (None, "") else final,
        promo_price=final,  # normalize keeps it only when below the price
        sales=res.get("Volume"),
        shop=res.get("ShopTitle") or res.get("Nick"),
        shop_id=as_id(res.get("SellerId")),
        detail_url=res.get("Url"),
        area=res.get("Provcity"),
        shipping_fee=res.get("RealPostFee"),
        coupon_amount=res.get("CouponAmount"),
        price_after_coupon=res.get("PriceAfterCoupon"),
        shop_type=res.get("UserType"),
        rank=rank,
    )


def parse_aliyun_body(
    platform: str, body: Any, *, page: int | None = None, page_size: int | None = None,
    status: int | None = None,
) -> tuple[list[SearchItem], bool, int | None]:
    """(items, has_more, total) of one SearchByPic/SearchByUrl body, or the right PlatformError.

    The API gives no total: ``total`` is None and ``has_more`` means "a full page came and
    ``Start`` may go further". ``page_size`` is the request's ``Num``.
    """
    if not isinstance(body, dict):
        raise TransientError(platform, f"Aliyun body is a {type(body).__name__}, not an object")
    code = body.get("Code")
    if isinstance(code, str) and code not in ("", "0"):
        _raise_pop_error(platform, body, status)  # a POP error envelope
    if body.get("Success") is False or (code not in (None, "", 0, "0")):
        raise RequestRejected(platform, f"Aliyun ImageSearch Code {code}: "
                              f"{body.get('Message') or 'no message'}", code=str(code))
    data = body.get("Data")
    if not isinstance(data, dict):
        raise TransientError(platform, "Aliyun body has no `Data` object; will retry")
    auctions = data.get("Auctions") or []
    if not isinstance(auctions, list):
        raise TransientError(platform, "Aliyun `Data.Auctions` is not a list; will retry")
    page = page or 1
    size = page_size or len(auctions) or 1
    items = [it for n, raw in enumerate(auctions)
             if (it := _item(raw, (page - 1) * size + n + 1)) is not None]
    has_more = len(auctions) >= size and page * size <= MAX_START
    return items, has_more, None


class AliyunImageSearchClient:
    """SearchByPic (Base64 bytes) or SearchByUrl (``QueryImage.url``) with the POP RPC signature."""

    protocol: ClassVar[str] = "aliyun-imagesearch"
    sends_url: ClassVar[bool] = True
    # The Alimama PID may come as credentials `pid` instead of options.pid.
    credential_fields: ClassVar[tuple[str, ...]] = ("access_key_id", "access_key_secret")

    def __init__(self, name: str, settings: PlatformSettings, credentials: Mapping[str, str],
                 http: httpx.AsyncClient, *, gate: Gate | None = None,
                 clock: Callable[[], datetime] | None = None,
                 nonce: Callable[[], str] | None = None) -> None:
        require_credentials(name, AliyunImageSearchClient, credentials)
        opts = settings.options
        self.pid = str(opts.get("pid") or credentials.get("pid") or "")
        if not self.pid.startswith("mm_"):
            raise ConfigError(f"platforms.{name}.options.pid: the Alimama PID (mm_xxx_xxx_xxx) "
                              "the image search is billed to is required")
        if not 1 <= settings.page_size <= MAX_NUM:
            raise ConfigError(f"platforms.{name}.page_size: Aliyun ImageSearch returns 1 to "
                              f"{MAX_NUM} results a call, not {settings.page_size}")
        self.signature = str(opts.get("signature") or "v3").lower()
        if self.signature not in SIGNATURES:
            raise ConfigError(f"platforms.{name}.options.signature: 'v3' (ACS3-HMAC-SHA256 headers, "
                              "the default, as Alibaba Cloud's current SDK signs) or 'v1' (RPC "
                              f"HMAC-SHA1 parameters), not {opts.get('signature')!r}")
        self.name = name
        self.platform = settings.platform or name
        self.settings = settings
        self.version = str(opts.get("version") or VERSION)
        self.region = str(opts.get("region") or "cn-shanghai")
        self.fields = str(opts.get("fields") or DEFAULT_FIELDS)
        self.category_id = str(opts.get("category_id") or "")
        self.crop = opts.get("crop")
        self._key_id, self._secret = credentials["access_key_id"], credentials["access_key_secret"]
        self._http = http
        self._clock = clock or (lambda: datetime.now(UTC))
        self._nonce = nonce or (lambda: uuid.uuid4().hex)
        self.gate = gate or Gate()
        install_log_redaction()

    @staticmethod
    def parse(marketplace: str, body: Any, *, page: int | None, page_size: int | None,
              options: Mapping[str, Any]) -> list[SearchItem]:
        """Items of a SearchByPic/SearchByUrl body (``page_size`` is the request's ``Num``)."""
        return parse_aliyun_body(marketplace, body, page=page, page_size=page_size)[0]

    @staticmethod
    def _action(business: Mapping[str, str]) -> str:
        return "SearchByUrl" if "PicUrl" in business else "SearchByPic"

    def signed_form(self, business: dict[str, str]) -> dict[str, str]:
        """V1: common parameters + ``business`` + ``Signature`` (all sent in the POST form)."""
        form = {"Action": self._action(business),
                "Version": self.version, "Format": "JSON", "AccessKeyId": self._key_id,
                "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
                "SignatureNonce": self._nonce(), "Timestamp": iso_timestamp(self._clock()),
                "RegionId": self.region, **business}
        form["Signature"] = pop_sign(form, self._secret, "POST")
        return form

    def signed_headers(self, url: str, business: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        """V3: (headers, body) — ``business`` form-encoded in the body as the SDK does, and
        the headers that sign it: host, content-type and the ``x-acs-*`` set, then
        ``Authorization``. No parameter goes in the query."""
        body = urlencode(sorted(business.items())).encode("ascii")
        headers = {
            "host": httpx.URL(url).netloc.decode("ascii"),
            "content-type": "application/x-www-form-urlencoded",
            "x-acs-action": self._action(business),
            "x-acs-version": self.version,
            "x-acs-date": iso_timestamp(self._clock()),
            "x-acs-signature-nonce": self._nonce(),
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        }
        headers["authorization"] = acs3_authorization(
            "POST", "/", {}, headers, headers["x-acs-content-sha256"], self._key_id, self._secret)
        return headers, body

    async def _post(self, url: str, business: dict[str, str], image: QueryImage
                    ) -> tuple[int, Any, tuple[str, ...], dict[str, Any]]:
        """Sign (now: fresh timestamp and nonce) and send → (status, body, secrets, request record)."""
        s = self.settings
        kept: dict[str, Any]
        kept_headers: dict[str, str] | None = None
        if self.signature == "v3":
            headers, content = self.signed_headers(url, business)
            secrets = (self._secret, self._key_id, headers["authorization"].rpartition("Signature=")[2])
            status, raw = await fetch_any_status(self._http, self.name, url, content=content,
                                                 headers=headers, timeout=s.timeout, secrets=secrets,
                                                 max_bytes=s.max_body_bytes)
            kept = dict(business)
            kept_headers = {**{k: v for k, v in headers.items() if k.startswith("x-acs-")},
                            "authorization": REDACTED}
        else:
            form = self.signed_form(business)
            secrets = (self._secret, self._key_id, form["Signature"])
            status, raw = await fetch_any_status(self._http, self.name, url, form=form,
                                                 timeout=s.timeout, secrets=secrets,
                                                 max_bytes=s.max_body_bytes)
            kept = {**form, "AccessKeyId": REDACTED, "Signature": REDACTED}
        if "PicContent" in kept:
            kept["PicContent"] = f"<{len(kept['PicContent'])} chars>"
        record = request_record("POST", url, {}, kept, secrets,
                                None if image.url else {"PicContent": image})
        if kept_headers:
            record["headers"] = kept_headers
        return status, raw, secrets, record

    async def search(self, image: QueryImage, page: int) -> SearchPage:
        num = self.settings.page_size
        business = {"Pid": self.pid, "Start": str((page - 1) * num), "Num": str(num),
                    "Fields": self.fields, "CategoryId": self.category_id,
                    "Crop": "" if self.crop is None else str(bool(self.crop)).lower()}
        if image.url:
            business["PicUrl"] = image.url
        else:
            business["PicContent"] = base64.b64encode(image.data).decode("ascii")
        business = {k: v for k, v in business.items() if v != ""}
        url = self.settings.base_url + "/"
        await self.gate.admit()
        status, raw, secrets, record = await self._post(url, business, image)
        body = redact(raw, secrets)
        items, has_more, total = parse_aliyun_body(self.name, body, page=page, page_size=num,
                                                   status=status)
        return SearchPage(
            platform=self.platform, page=page, items=items, has_more=has_more, total=total,
            request=record, body=body, http_status=status)
