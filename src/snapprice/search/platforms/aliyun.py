"""Aliyun ImageSearch 淘宝联盟版: POP RPC ``SearchByPic`` / ``SearchByUrl`` signed with the AccessKey."""

from __future__ import annotations

import base64
import uuid
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
from snapprice.search.platforms.base import as_id, require_credentials
from snapprice.search.platforms.gate import Gate
from snapprice.search.platforms.http import (
    REDACTED,
    fetch_any_status,
    install_log_redaction,
    redact,
    request_record,
)
from snapprice.search.platforms.signing import pop_sign
from snapprice.settings import PlatformSettings

VERSION = "2021-05-01"
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

    def signed_form(self, business: dict[str, str]) -> dict[str, str]:
        """Common parameters + ``business`` + ``Signature`` (all sent in the POST form)."""
        form = {"Action": "SearchByUrl" if "PicUrl" in business else "SearchByPic",
                "Version": self.version, "Format": "JSON", "AccessKeyId": self._key_id,
                "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
                "SignatureNonce": self._nonce(), "Timestamp": iso_timestamp(self._clock()),
                "RegionId": self.region, **business}
        form["Signature"] = pop_sign(form, self._secret, "POST")
        return form

    async def search(self, image: QueryImage, page: int) -> SearchPage:
        s = self.settings
        num = s.page_size
        business = {"Pid": self.pid, "Start": str((page - 1) * num), "Num": str(num),
                    "Fields": self.fields, "CategoryId": self.category_id,
                    "Crop": "" if self.crop is None else str(bool(self.crop)).lower()}
        if image.url:
            business["PicUrl"] = image.url
        else:
            business["PicContent"] = base64.b64encode(image.data).decode("ascii")
        business = {k: v for k, v in business.items() if v != ""}
        url = s.base_url + "/"
        await self.gate.admit()
        form = self.signed_form(business)  # after the gate: timestamp and nonce are fresh
        secrets = (self._secret, self._key_id, form["Signature"])
        status, raw = await fetch_any_status(self._http, self.name, url, form=form,
                                             timeout=s.timeout, secrets=secrets,
                                             max_bytes=s.max_body_bytes)
        body = redact(raw, secrets)
        items, has_more, total = parse_aliyun_body(self.name, body, page=page, page_size=num,
                                                   status=status)
        kept = {**form, "AccessKeyId": REDACTED, "Signature": REDACTED}
        if "PicContent" in kept:
            kept["PicContent"] = f"<{len(kept['PicContent'])} chars>"
        return SearchPage(
            platform=self.platform, page=page, items=items, has_more=has_more, total=total,
            request=request_record("POST", url, {}, kept, secrets,
                                   None if image.url else {"PicContent": image}),
            body=body, http_status=status)
