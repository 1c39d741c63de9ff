"""The Onebound-style gateway: ``/{platform}/item_search_img/`` and ``/{platform}/upload_img/``."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from snapprice.sandbox import faults as fx
from snapprice.sandbox.features import Features
from snapprice.sandbox.intake import IntakeError, b64_bytes
from snapprice.sandbox.market import SORTS, Market
from snapprice.sandbox.requests import BodyError, read_params

MEDIA = "application/json;charset=UTF-8"
# error_code -> (error, reason) as the gateway's doc tables word them.
ERRORS = {
    "2000": ("item-not-found", "Search success but no result"),
    "4000": ("server", "Server internal error"),
    "4003": ("param", "Param error"),
    "4005": ("key", "Invalid authentication credentials"),
    "4008": ("limit", "API rate limit exceeded"),
    "4010": ("api", "API not found with these values"),
    "4013": ("limit", "Number of calls exceeded"),
    "4014": ("param", "Missing url param"),
    "4017": ("timeout", "timeout error"),
    "5000": ("unknown", "unknown error"),
}
_INTAKE_CODES = {"fetch_timeout": "4017"}


class _Refusal(Exception):
    def __init__(self, code: str, detail: str = "", used: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail
        self.used = used  # calls counted today, when the refusal is about limits


def _beijing(market: Market) -> str:
    return (market.now() + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")


def _api_info(market: Market, used: int) -> str:
    q = market.config.daily_quota
    return f"today:{used} max:{q} all[{used}={used}+0+0];expires:2099-12-31"


def _envelope(market: Market, request: Request, platform: str, started: float, code: str, *,
              detail: str = "", used: int | None = None, body: dict[str, Any] | None = None,
              call_args: dict[str, str] | None = None) -> JSONResponse:
    error, reason = ERRORS.get(code, ("", "ok"))
    out: dict[str, Any] = dict(body or {})
    out.update({
        "error_code": code,
        "reason": "ok" if code == "0000" else (f"{reason}: {detail}" if detail else reason),
        "error": "" if code == "0000" else error,
    })
    if used is not None:
        out["api_info"] = _api_info(market, used)
    now = market.clock()
    out.update({
        "execution_time": f"{time.perf_counter() - started:.3f}",
        "server_time": f"Beijing/{_beijing(market)}",
        "server_memory": "1.05MB",
        "call_args": call_args or {},
        "api_type": platform,
        "translate_status": "",
        "translate_time": 0,
        "language": {"default_lang": "cn", "current_lang": "cn"},
        "client_ip": request.client.host if request.client else "",
        "request_id": f"gw-{market.request_id()}",
        "secache_time": int(now),
    })
    return JSONResponse(out, media_type=MEDIA)


def _int_param(params: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise _Refusal("4003", f"{name} must be an integer from {lo} to {hi}, got {raw[:40]!r}")
    return int(raw)


async def _query_features(market: Market, imgid: str, own_port: int | None) -> Features:
    if imgid.startswith(("http://", "https://", "//")):
        url = "http:" + imgid if imgid.startswith("//") else imgid
        return await market.intake.from_url(url, own_port)
    uploaded = market.intake.uploaded(imgid)
    if uploaded is not None:
        return uploaded
    if len(imgid) > 64:  # JD's route also takes the picture itself as Base64
        return market.intake.from_bytes(b64_bytes(imgid))
    raise IntakeError("unknown_imgid", f"imgid {imgid[:40]!r} is neither an image URL nor an upload_img id")


def _authorise(market: Market, query: dict[str, str]) -> str:
    key, secret = query.get("key", ""), query.get("secret", "")
    if not key or not secret:
        raise _Refusal("4014", "key and secret must be in the URL query string")
    known = {market.config.gateway_key: market.config.gateway_secret, **dict(market.config.gateway_accounts)}
    if known.get(key) != secret:
        raise _Refusal("4005", "unknown key or wrong secret")
    return key


def _admit(market: Market, key: str, platform: str) -> int:
    verdict = market.limiter.check(f"gateway:{key}:{platform}")
    if verdict.reason == "ban":
        raise _Refusal("4008", f"retry in {verdict.wait_seconds} s", verdict.used_today)
    if verdict.reason == "quota":
        raise _Refusal("4013", f"daily quota of {market.config.daily_quota} calls is spent",
                       verdict.used_today)
    return verdict.used_today


async def item_search_img(request: Request, market: Market) -> Response:
    started = time.perf_counter()
    platform = request.path_params["platform"]
    if platform not in market.config.platforms:
        market.stats.record("gateway", platform, "refused", code="4010")
        return _envelope(market, request, platform, started, "4010", detail=f"no platform {platform!r}")
    used: int | None = None
    key = ""
    try:
        try:
            query, params, _files, _body = await read_params(request, market.config.max_image_bytes)
        except BodyError as exc:
            raise _Refusal("4003", str(exc)) from None
        key = _authorise(market, query)
        used = _admit(market, key, platform)
        call_args = {k: v[:200] for k, v in params.items() if k not in ("key", "secret")}
        kind = market.faults.decide(platform)
        if kind == "ban":  # recorded as the refusal (a ban), not as a fault
            banned = market.limiter.ban(f"gateway:{key}:{platform}")
            raise _Refusal("4008", f"retry in {banned.wait_seconds} s", banned.used_today)
        if kind is not None:
            market.stats.record("gateway", platform, "fault", code=kind, key=key)
            fault = await fx.broken_response(kind, market.config, request)
            if fault is not None:
                return fault
            if kind == "code15":
                return _envelope(market, request, platform, started, "4017", used=used,
                                 detail="upstream search timed out", call_args=call_args)
        imgid = params.get("imgid", "").strip()
        if not imgid:
            raise _Refusal("4003", "imgid is required (an image URL or an upload_img id)")
        page = _int_param(params, "page", 1, 1, 100)
        page_size = _int_param(params, "page_size", 20, 1, 100)
        sort = params.get("sort", "")
        if sort not in SORTS:
            raise _Refusal("4003", f"sort {sort[:20]!r} is not one of {sorted(k for k in SORTS if k)}")
        cat = params.get("cat", "").strip()
        if cat in ("0",):
            cat = ""
        if cat and not cat.isdigit():
            raise _Refusal("4003", f"cat must be a numeric category id, got {cat[:20]!r}")
        use_cache = params.get("cache", "yes").lower() not in ("no", "0", "false")
        cache_key = (platform, imgid, cat, sort, page, page_size)
        res = market.cached(cache_key) if use_cache else None
        from_cache = res is not None
        if res is None:
            try:
                q = await _query_features(market, imgid, request.url.port)
            except IntakeError as exc:
                raise _Refusal(_INTAKE_CODES.get(exc.reason, "4003"), f"imgid: {exc.detail}") from None
            res = market.search(q, platform, cat=cat, sort=sort, page=page, page_size=page_size,
                                host=request.url.netloc)
            market.store(cache_key, res)
        items = {
            "page": str(page), "page_size": page_size,
            "real_total_results": str(res.total), "total_results": str(res.total),
            "pagecount": str(res.pagecount), "data_from": "pailitao", "item_weight_update": 0,
            "item": res.items,
        }
        body = {"items": items, "cache": 1 if from_cache else 0}
        code = "0000" if res.items else "2000"
        market.stats.record("gateway", platform, "served" if res.items else "no_result", key=key)
        return _envelope(market, request, platform, started, code, used=used, body=body, call_args=call_args)
    except _Refusal as r:
        market.stats.record("gateway", platform, "refused", code=r.code, key=key or None)
        return _envelope(market, request, platform, started, r.code, detail=r.detail,
                         used=r.used if r.used is not None else used)


async def upload_img(request: Request, market: Market) -> Response:
    started = time.perf_counter()
    platform = request.path_params["platform"]
    if platform not in market.config.platforms:
        return _envelope(market, request, platform, started, "4010", detail=f"no platform {platform!r}")
    used: int | None = None
    key = ""
    try:
        try:
            query, params, files, _body = await read_params(request, market.config.max_image_bytes)
        except BodyError as exc:
            raise _Refusal("4003", str(exc)) from None
        key = _authorise(market, query)
        used = _admit(market, key, platform)
        code = params.get("imgcode", "").strip()
        try:
            if "imgcode" in files:
                imgid = market.intake.upload(files["imgcode"])
            elif not code:
                raise _Refusal("4003", "imgcode is required (Base64 of the picture, or its URL)")
            elif code.startswith(("http://", "https://")):
                features = await market.intake.from_url(code, request.url.port)
                imgid = str(int(hashlib.sha1(code.encode()).hexdigest()[:15], 16))
                market.intake.remember(imgid, features)
            else:
                imgid = market.intake.upload(b64_bytes(code))
        except IntakeError as exc:
            raise _Refusal(_INTAKE_CODES.get(exc.reason, "4003"), f"imgcode: {exc.detail}") from None
        market.stats.record("upload", platform, "served", key=key)
        return _envelope(market, request, platform, started, "0000", used=used,
                         body={"items": {"item": {"name": imgid}}, "cache": 0})
    except _Refusal as r:
        market.stats.record("upload", platform, "refused", code=r.code, key=key or None)
        return _envelope(market, request, platform, started, r.code, detail=r.detail,
                         used=r.used if r.used is not None else used)


async def unknown_api(request: Request, market: Market) -> Response:
    started = time.perf_counter()
    platform = request.path_params["platform"]
    api = request.path_params["api"]
    market.stats.record("gateway", platform, "refused", code="4010")
    return _envelope(market, request, platform, started, "4010", detail=f"no API {api!r} in the sandbox")
