"""The Taobao Open Platform router ``/router/rest``: signatures, timestamps, limits, envelopes."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from snapprice.sandbox.faults import broken_response
from snapprice.sandbox.intake import IntakeError, b64_bytes
from snapprice.sandbox.market import TOP_SORTS, Market
from snapprice.sandbox.requests import BodyError, read_params

MEDIA = "application/json;charset=UTF-8"
CHINA = timezone(timedelta(hours=8))
SEARCH = "taobao.item.search.img"
WIDGET = "taobao.tbk.dg.pailitao.widget.convert"
IMPLEMENTED = (SEARCH, WIDGET)
# Real methods the sandbox knows by name but never grants: calling them gives code 11.
KNOWN = (*IMPLEMENTED, "taobao.tbk.item.info.get", "taobao.tbk.dg.material.optional")
MSG = {
    7: "App Call Limited", 9: "Http Action Not Allowed", 11: "Insufficient ISV Permissions",
    15: "Remote service error", 21: "Missing Method", 22: "Invalid Method", 23: "Invalid Format",
    24: "Missing Signature", 25: "Invalid Signature", 26: "Missing Session", 27: "Invalid Session",
    28: "Missing App Key", 29: "Invalid App Key", 30: "Missing Timestamp", 31: "Invalid Timestamp",
    32: "Missing Version", 33: "Invalid Version", 34: "Unsupported Version",
    40: "Missing Required Arguments", 41: "Invalid Arguments",
}
_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def top_sign(params: dict[str, str], secret: str, sign_method: str) -> str:
    """The TOP signature of ``params`` (file parts must not be in them; empty values skipped)."""
    items = {k: v for k, v in params.items() if k != "sign" and v != ""}
    s = "".join(f"{k}{items[k]}" for k in sorted(items))
    if sign_method == "md5":
        return hashlib.md5((secret + s + secret).encode("utf-8")).hexdigest().upper()
    algo = {"hmac": hashlib.md5, "hmac-sha256": hashlib.sha256}[sign_method]
    return hmac.new(secret.encode("utf-8"), s.encode("utf-8"), algo).hexdigest().upper()


def response_name(method: str) -> str:
    """``taobao.item.search.img`` -> ``item_search_img_response``."""
    name = method[len("taobao."):] if method.startswith("taobao.") else method
    return name.replace(".", "_") + "_response"


class TopError(Exception):
    def __init__(self, code: int, sub_code: str = "", sub_msg: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.sub_code = sub_code
        self.sub_msg = sub_msg


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=MEDIA)


def _error(market: Market, e: TopError) -> JSONResponse:
    body: dict[str, Any] = {"code": e.code, "msg": MSG.get(e.code, "Remote service error")}
    if e.sub_code:
        body["sub_code"] = e.sub_code
    if e.sub_msg:
        body["sub_msg"] = e.sub_msg
    body["request_id"] = market.request_id()
    return _json({"error_response": body})


def _parse_timestamp(raw: str) -> datetime:
    if raw.isdigit() and len(raw) == 13:  # the legacy Python SDK sends epoch milliseconds
        return datetime.fromtimestamp(int(raw) / 1000, CHINA)
    if not _TS.match(raw):
        raise TopError(31, "isv.invalid-parameter:timestamp",
                       "timestamp must be 'yyyy-MM-dd HH:mm:ss' in GMT+8 or epoch milliseconds")
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
    except ValueError:
        raise TopError(31, "isv.invalid-parameter:timestamp", f"timestamp {raw!r} is not a date") from None


def _check_system(market: Market, p: dict[str, str]) -> str:
    """Validate the system parameters in the order TOP reports them; returns the method."""
    cfg = market.config
    method = p.get("method", "")
    if not method:
        raise TopError(21)
    if method not in KNOWN:
        raise TopError(22, "isv.method-not-exist", f"method {method[:60]!r} does not exist")
    if not p.get("app_key"):
        raise TopError(28)
    if p["app_key"] != cfg.top_app_key:
        raise TopError(29)
    if not p.get("sign"):
        raise TopError(24)
    sign_method = p.get("sign_method", "")
    if sign_method not in ("md5", "hmac", "hmac-sha256"):
        raise TopError(25, "isv.invalid-signature",
                       f"sign_method {sign_method[:20]!r}: use md5, hmac or hmac-sha256")
    ts = p.get("timestamp", "")
    if not ts:
        raise TopError(30)
    skew = abs((_parse_timestamp(ts) - market.now()).total_seconds())
    if skew > cfg.timestamp_window:
        raise TopError(31, "isv.invalid-parameter:timestamp",
                       f"timestamp is {int(skew)} s away from server time (limit {cfg.timestamp_window} s)")
    v = p.get("v", "")
    if not v:
        raise TopError(32)
    if not re.fullmatch(r"\d+\.\d+", v):
        raise TopError(33)
    if v != "2.0":
        raise TopError(34, "", f"version {v} is not supported; use 2.0")
    if p.get("format", "xml") != "json":
        raise TopError(23, "isv.invalid-format", "the sandbox answers format=json only")
    expected = top_sign(p, cfg.top_app_secret, sign_method)
    if not hmac.compare_digest(expected.encode(), p["sign"].upper().encode()):
        raise TopError(25, "isv.invalid-signature", "signature mismatch")
    if cfg.top_sessions:
        session = p.get("session", "")
        if not session:
            raise TopError(26)
        if session not in cfg.top_sessions:
            raise TopError(27, "invalid-sessionkey", "session is unknown or expired")
    if method not in IMPLEMENTED or method not in cfg.top_granted_methods:
        raise TopError(11, "isv.permission-api-package-limit", f"app has no permission for {method}")
    return method


def _int_arg(p: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = p.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise TopError(41, f"isv.invalid-parameter:{name}", f"{name} must be an integer from {lo} to {hi}")
    return int(raw)


async def _search(request: Request, market: Market, p: dict[str, str], files: dict[str, bytes]
                  ) -> dict[str, Any]:
    given = [n for n in ("image", "img", "image_url") if (n in files) or p.get(n)]
    if not given:
        raise TopError(40, "isv.missing-parameter:image",
                       "send the picture as file part 'image', Base64 'img' or URL 'image_url'")
    if len(given) > 1:
        raise TopError(41, "isv.invalid-parameter:image", f"send only one of {given}")
    page = _int_arg(p, "page_no", _int_arg(p, "page", 1, 1, 100), 1, 100)
    page_size = _int_arg(p, "page_size", 20, 1, 100)
    sort = p.get("sort", "")
    if sort not in TOP_SORTS:
        raise TopError(41, "isv.invalid-parameter:sort", f"sort must be one of {list(TOP_SORTS[2:])}")
    cat = p.get("cat", "")
    if cat and not cat.isdigit():
        raise TopError(41, "isv.invalid-parameter:cat", "cat must be a numeric category id")
    name = given[0]
    try:
        if name == "image":
            q = market.intake.from_bytes(files["image"]) if "image" in files else \
                market.intake.from_bytes(b64_bytes(p["image"]))
        elif name == "img":
            q = market.intake.from_bytes(b64_bytes(p["img"]))
        else:
            q = await market.intake.from_url(p["image_url"], request.url.port)
    except IntakeError as exc:
        if exc.reason == "fetch_timeout":
            raise TopError(15, "isp.remote-service-timeout", exc.detail) from None
        if exc.reason == "fetch_failed":
            raise TopError(15, "isv.image-download-failed", exc.detail) from None
        raise TopError(41, f"isv.invalid-parameter:{name}", exc.detail) from None
    res = market.search(q, "taobao", cat="" if cat == "0" else cat, sort=sort, page=page,
                        page_size=page_size, host=request.url.netloc)
    for item in res.items:  # TOP serves absolute URLs
        pic = str(item["pic_url"])
        item["pic_url"] = "http:" + pic if pic.startswith("//") else pic
    return {"total_results": res.total, "page_no": page, "page_size": page_size,
            "result_list": {"map_data": res.items}}


def _widget(p: dict[str, str]) -> dict[str, Any]:
    adzone = p.get("adzone_id", "")
    if not adzone:
        raise TopError(40, "isv.missing-parameter:adzone_id", "adzone_id is required")
    if not adzone.isdigit():
        raise TopError(41, "isv.invalid-parameter:adzone_id", "adzone_id must be a number")
    return {"url": f"https://pailitao.example.invalid/widget?adzone_id={adzone}"}


async def router(request: Request, market: Market) -> Response:
    key = None
    try:
        if request.method not in ("GET", "POST"):
            raise TopError(9, "", f"HTTP method {request.method} is not allowed; use POST")
        try:
            _query, p, files, _body = await read_params(request, market.config.max_image_bytes)
        except BodyError as exc:
            raise TopError(41, "isv.invalid-parameter:body", str(exc)) from None
        method = _check_system(market, p)
        key = p["app_key"]
        verdict = market.limiter.check(f"top:{key}:taobao")
        if verdict.reason == "ban":
            raise TopError(7, "accesscontrol.limited-by-app-api-access-count",
                           f"This ban will last for {verdict.wait_seconds} more seconds")
        if verdict.reason == "quota":
            raise TopError(7, "accesscontrol.limited-by-app-access-count",
                           f"This ban will last for {verdict.wait_seconds} more seconds")
        kind = market.faults.decide("top")
        if kind == "ban":  # recorded as the refusal (a ban), not as a fault
            banned = market.limiter.ban(f"top:{key}:taobao")
            raise TopError(7, "accesscontrol.limited-by-app-api-access-count",
                           f"This ban will last for {banned.wait_seconds} more seconds")
        if kind is not None:
            market.stats.record("top", "taobao", "fault", code=kind, key=key)
            fault = await broken_response(kind, market.config, request)
            if fault is not None:
                return fault
            if kind == "code15":
                raise TopError(15, "isp.remote-service-error", "服务暂时不可用，请稍后重试")
        result = await _search(request, market, p, files) if method == SEARCH else _widget(p)
        result["request_id"] = market.request_id()
        empty = method == SEARCH and not result["result_list"]["map_data"]
        outcome = "no_result" if empty else "served"
        market.stats.record("top", "taobao", outcome, key=key)
        if p.get("simplify") == "true":
            if "result_list" in result:
                result["result_list"] = result["result_list"]["map_data"]
            return _json(result)
        return _json({response_name(method): result})
    except TopError as e:
        if not (e.code == 15 and e.sub_code == "isp.remote-service-error"):  # faults counted above
            market.stats.record("top", "taobao", "refused", code=str(e.code), key=key)
        return _error(market, e)
