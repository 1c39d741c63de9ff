"""Platform clients without a network: signing, parsing, error taxonomy, redaction, retries."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import SecretStr

from snapprice.errors import (
    ConfigError,
    PlatformFatal,
    QuotaExhausted,
    RateLimited,
    RequestRejected,
    TransientError,
)
from snapprice.models import QueryImage, SearchItem, SearchPage
from snapprice.search.platforms import (
    Backoff,
    Gate,
    GatewayClient,
    PlatformSearcher,
    ProcessLimiter,
    TopClient,
    build_searchers,
    canonical_string,
    make_http_client,
    parse_aliyun_body,
    parse_aop_body,
    parse_gateway_body,
    parse_top_body,
    search_pages,
    top_sign,
)
from snapprice.search.platforms.gate import on_admit
from snapprice.search.platforms.top import china_timestamp, response_key
from snapprice.settings import PlatformSettings, Settings

KEY, SECRET = "gw-key-0123456789", "gw-secret-abcdefghijkl"
APP_KEY, APP_SECRET = "12345678", "top-secret-zyxwvutsrq"
IMG = QueryImage(digest="d" * 64, data=b"\xff\xd8jpeg-bytes", url=None)
IMG_URL = QueryImage(digest="e" * 64, data=b"", url="https://img.example.com/a.jpg")
FAST = Backoff(initial=0.01, maximum=0.05, jitter=0.0)
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

# ---------------------------------------------------------------- signing

REF_PARAMS = {"adzone_id": "111222333", "app_key": "12345678", "format": "json",
              "method": "taobao.tbk.dg.pailitao.widget.convert",
              "timestamp": "2024-01-01 12:00:00", "type": "0", "v": "2.0"}


@pytest.mark.parametrize(("method", "expected"), [
    ("md5", "97B287673A43706F7AAE2384CCDE13BB"),
    ("hmac", "82C5A90A785BB6C8B992F86FE757632D"),
    ("hmac-sha256", "EA33045137DB565B382AEBF56A228AEEC1F7E3F0F77F1B4E9C42E6F11CAFAE0F"),
])
def test_reference_vectors(method, expected):
    assert top_sign({**REF_PARAMS, "sign_method": method}, "testsecret", method) == expected


def test_doc_example_vector_and_ordering():
    params = {"foo": "1", "bar": "2", "foo_bar": "3", "foobar": "4"}
    assert canonical_string(params) == "bar2foo1foo_bar3foobar4"
    assert top_sign(params, "helloworld", "md5") == "5AAF1C690262A24768F5478B084C2C8A"


def _independent(method: str, secret: str, s: str) -> str:
    b, k = s.encode(), secret.encode()
    if method == "md5":
        return hashlib.md5(k + b + k).hexdigest().upper()
    algo = hashlib.md5 if method == "hmac" else hashlib.sha256
    return hmac.new(k, b, algo).hexdigest().upper()


@pytest.mark.parametrize("method", ["md5", "hmac", "hmac-sha256"])
def test_fixed_vector_computed_independently(method):
    # Unicode values, an empty value (neither signed nor sent) and `sign` itself (skipped).
    params = {"v": "2.0", "method": "taobao.item.search.img", "app_key": "12345678",
              "timestamp": "2026-11-25 12:00:00", "sign_method": method, "cat": "",
              "q": "围巾", "page": 2, "sign": "IGNORED"}
    canonical = ("app_key12345678methodtaobao.item.search.imgpage2q围巾"
                 f"sign_method{method}timestamp2026-11-25 12:00:00v2.0")
    assert canonical_string(params) == canonical
    assert top_sign(params, "s3cr3t", method) == _independent(method, "s3cr3t", canonical)


def test_unknown_sign_method():
    with pytest.raises(ValueError, match="sha1"):
        top_sign({}, "x", "sha1")


def test_top_helpers():
    assert response_key("taobao.item.search.img") == "item_search_img_response"
    assert response_key("aliexpress.ds.image.search") == "aliexpress_ds_image_search_response"
    assert china_timestamp(datetime(2024, 1, 1, 4, 0, 0, tzinfo=UTC)) == "2024-01-01 12:00:00"
    assert china_timestamp(datetime(2024, 12, 31, 20, 30, 5, tzinfo=UTC)) == "2025-01-01 04:30:05"


# ---------------------------------------------------------------- gateway parsing

def gw_body(items=None, **kw):
    items = items if items is not None else [
        {"num_iid": "740463295406", "title": "围巾", "pic_url": "https://img.alicdn.com/a.jpg",
         "price": "79.00", "orginal_price": "99.00", "promotion_price": "69.00", "sales": 10000,
         "seller_id": "4099316604", "seller_nick": "真蔚旗舰店", "area": "浙江 杭州",
         "detail_url": "https://item.taobao.com/item.htm?id=740463295406"},
        {"num_iid": 834836684965, "title": "围脖", "pic_url": "//img.alicdn.com/b.jpg",
         "price": "44.00", "sales": "1000+", "seller_nick": None, "shop": "李宁店"},
    ]
    body = {"items": {"page": "1", "page_size": 20, "real_total_results": "45",
                      "pagecount": "3", "item": items},
            "error_code": "0000", "reason": "ok", "error": "", "cache": 1,
            "api_info": "today:8 max:110", "call_args": {"imgid": "x"}}
    body.update(kw)
    return body


def test_parse_gateway_success():
    items, has_more, total = parse_gateway_body("taobao", gw_body(), page=2, page_size=20)
    assert (has_more, total, len(items)) == (True, 45, 2)
    a, b = items
    assert (a.item_id, a.price, a.promo_price, a.original_price, a.sales) == (
        "740463295406", "79.00", "69.00", "99.00", 10000)
    assert (a.shop, a.shop_id, a.area, a.rank, a.price_unit) == (
        "真蔚旗舰店", "4099316604", "浙江 杭州", 21, "yuan")
    assert (b.item_id, b.shop, b.rank, b.pic_url) == ("834836684965", "李宁店", 22,
                                                      "//img.alicdn.com/b.jpg")


@pytest.mark.parametrize(("block", "page", "expected"), [
    ({"pagecount": "3"}, 3, False),
    ({"real_total_results": "45"}, 2, True),
    ({"real_total_results": "40"}, 2, False),
    ({"total_results": 100}, 1, True),
    ({}, 1, False),  # 2 items < page_size 20
])
def test_parse_gateway_has_more(block, page, expected):
    body = gw_body()
    body["items"] = {**block, "item": body["items"]["item"]}
    assert parse_gateway_body("jd", body, page=page, page_size=20)[1] is expected


def test_parse_gateway_no_result_and_lenient_shapes():
    assert parse_gateway_body("taobao", {"error_code": "2000", "error": "item-not-found",
                                         "items": {"item": []}}) == ([], False, 0)
    one = parse_gateway_body("1688", {"error_code": 0, "items": {"item": {"num_iid": "7"}}})
    assert [i.item_id for i in one[0]] == ["7"] and one[2] is None
    pdd, _, _ = parse_gateway_body("pinduoduo", gw_body())
    assert {i.price_unit for i in pdd} == {"yuan"}  # gateway prices are yuan, PDD included
    skipped, _, _ = parse_gateway_body("jd", gw_body(items=["junk", {"num_iid": "1"}]))
    assert [i.item_id for i in skipped] == ["1"]


@pytest.mark.parametrize("parse", [
    lambda raw: parse_gateway_body("jd", gw_body(items=[raw]))[0],
    lambda raw: parse_top_body("t", {"item_search_img_response": {"items": {"item": [raw]}}})[0],
    lambda raw: parse_aliyun_body("t", {"Data": {"Auctions": [{"Result": {
        "ItemId": raw.get("num_iid"), "Title": raw.get("title"), "ShopTitle": raw.get("shop")}}]}})[0],
    lambda raw: parse_aop_body("t", {"result": {"result": {"data": [{
        "offerId": raw.get("num_iid"), "subject": raw.get("title"),
        "companyName": raw.get("shop")}]}}})[0],
])
def test_parsers_keep_values_that_are_not_text_as_they_came(parse):
    """A list or object is handed to normalize as it is (which rejects it), not as its repr."""
    [item] = parse({"num_iid": ["x"], "title": {"a": 1}, "shop": ["s"], "price": "1.00"})
    assert (item.item_id, item.title, item.shop) == (["x"], {"a": 1}, ["s"])
    [item] = parse({"num_iid": 740463295406, "title": "t", "shop": "s", "price": "1.00"})
    assert item.item_id == "740463295406"


@pytest.mark.parametrize(("code", "cls"), [
    ("4000", TransientError), ("4001", TransientError), ("4002", TransientError),
    ("4017", TransientError), ("5000", TransientError), ("4009", TransientError),
    ("4008", RateLimited),
    ("4003", RequestRejected), ("4014", RequestRejected), ("4015", RequestRejected),
    ("9999", RequestRejected),
    ("4004", PlatformFatal), ("4005", PlatformFatal), ("4006", PlatformFatal),
    ("4007", PlatformFatal), ("4012", PlatformFatal), ("4010", PlatformFatal),
    ("4013", QuotaExhausted), ("4016", QuotaExhausted), (4013, QuotaExhausted),
])
def test_gateway_error_codes(code, cls):
    with pytest.raises(cls) as info:
        parse_gateway_body("taobao", {"error_code": code, "reason": "并发已达上限", "error": "x"})
    assert type(info.value) is cls
    assert info.value.platform == "taobao" and info.value.code == str(code)


@pytest.mark.parametrize("body", [{"error_code": "0000"}, {"items": {"item": "x"}}, [], {}])
def test_gateway_malformed_is_transient(body):
    with pytest.raises(TransientError):
        parse_gateway_body("taobao", body)


# ---------------------------------------------------------------- TOP parsing

def top_ok(**resp):
    base = {"items": {"item": [{"num_iid": 1, "title": "t", "pict_url": "//p", "price": "9.90",
                                "volume": 12, "nick": "shop"}]},
            "total_results": 30, "request_id": "r1"}
    return {"item_search_img_response": {**base, **resp}}


def test_parse_top_success_forms():
    items, more, total = parse_top_body("taobao_top", top_ok(), page=1, page_size=20)
    assert (len(items), more, total) == (1, True, 30)
    it = items[0]
    assert (it.item_id, it.pic_url, it.price, it.sales, it.shop) == ("1", "//p", "9.90", 12,
                                                                     "shop")
    simplified = {"result_list": [{"item_id": "a", "zk_final_price": "1.00"}],
                  "has_more": "false"}
    items, more, total = parse_top_body("t", simplified)
    assert ([i.item_id for i in items], more, total) == (["a"], False, None)
    other = {"x_response": {"result_list": {"map_data": [{"item_id": "b"}]}}}
    assert parse_top_body("t", other, method="x")[0][0].item_id == "b"
    assert parse_top_body("t", {"item_search_img_response": {"items": {}}}) == ([], False, None)


@pytest.mark.parametrize(("err", "cls"), [
    ({"code": 7, "msg": "App Call Limited", "sub_code": "accesscontrol.limited-by-app-access-count",
      "sub_msg": "This ban will last for 31062 more seconds"}, RateLimited),
    ({"code": 15, "sub_code": "isp.remote-service-timeout"}, TransientError),
    ({"code": 520, "sub_code": "isp.remote-service-timeout"}, TransientError),
    ({"code": 10, "msg": "Service Currently Unavailable"}, TransientError),
    ({"code": 15, "sub_code": "isv.invalid-parameter"}, RequestRejected),
    ({"code": 40}, RequestRejected), ({"code": 41}, RequestRejected),
    ({"code": 43}, RequestRejected), ({"code": 3}, RequestRejected),
    ({"code": 11}, PlatformFatal), ({"code": 25, "msg": "Invalid signature"}, PlatformFatal),
    ({"code": 26}, PlatformFatal), ({"code": 27}, PlatformFatal),
    ({"code": 28}, PlatformFatal), ({"code": "29"}, PlatformFatal),
    ({"code": 31}, PlatformFatal), ({"code": 22}, PlatformFatal),
])
def test_top_error_codes(err, cls):
    with pytest.raises(cls) as info:
        parse_top_body("taobao_top", {"error_response": err})
    assert type(info.value) is cls
    assert info.value.code == str(err["code"])
    if cls is RateLimited:
        assert info.value.retry_after == 31062


@pytest.mark.parametrize("body", [{"item_search_img_response": []}, "nope",
                                  {"a_response": 1, "b_response": 2}])
def test_top_malformed_is_transient(body):
    with pytest.raises(TransientError):
        parse_top_body("t", body)


# ---------------------------------------------------------------- clients over MockTransport

def gw_settings(**kw) -> PlatformSettings:
    return PlatformSettings(protocol="gateway", base_url="http://gw.test", page_size=20, **kw)


def top_settings(**opts) -> PlatformSettings:
    return PlatformSettings(protocol="top", base_url="http://top.test/router/rest",
                            platform="taobao", options=opts)


def mock(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _all_text(*objs) -> str:
    return json.dumps(objs, ensure_ascii=False, default=str)


async def test_gateway_client_uploads_once_and_redacts():
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.url.path == "/taobao/upload_img/":
            form = dict(parse_qsl(req.content.decode()))
            assert form["imgcode"] == "/9hqcGVnLWJ5dGVz"  # base64 of IMG.data
            return httpx.Response(200, json={"items": {"item": {"name": "IMG123"}},
                                             "error_code": "0000"})
        assert req.url.path == "/taobao/item_search_img/"
        body = gw_body()
        body["call_args"] = {"key": KEY, "secret": SECRET, "imgid": "IMG123",
                             "note": f"echo {SECRET}"}
        return httpx.Response(200, json=body)

    async with mock(handler) as http:
        client = GatewayClient("taobao", gw_settings(cat="50010", sort="_sale"),
                               {"key": KEY, "secret": SECRET}, http)
        p1 = await client.search(IMG, 1)
        p2 = await client.search(IMG, 2)
    assert [r.url.path for r in seen] == ["/taobao/upload_img/", "/taobao/item_search_img/",
                                          "/taobao/item_search_img/"]
    q = dict(seen[1].url.params)
    assert q == {"key": KEY, "secret": SECRET, "imgid": "IMG123", "cat": "50010", "page": "1",
                 "page_size": "20", "sort": "_sale"}
    assert (p1.cached, p1.quota, p1.total, p1.has_more, p2.page) == (
        True, "today:8 max:110", 45, True, 2)
    assert p1.request["url"] == "http://gw.test/taobao/item_search_img/"
    assert p1.request["params"]["key"] == "***" and p1.request["params"]["imgid"] == "IMG123"
    assert p1.body["call_args"]["secret"] == "***" and p1.body["call_args"]["note"] == "echo ***"
    assert KEY not in _all_text(p1.request, p1.body) and SECRET not in _all_text(p1.body)
    assert client.gate.limiter is None and client.gate.calls.attempts == 3  # an open gate, counting


async def test_gateway_client_with_url_skips_upload():
    def handler(req):
        assert req.url.params["imgid"] == IMG_URL.url and "cat" not in req.url.params
        return httpx.Response(200, json={"error_code": "2000", "items": {"item": []}})

    async with mock(handler) as http:
        page = await GatewayClient("jd", gw_settings(), {"key": KEY, "secret": SECRET},
                                   http).search(IMG_URL, 1)
    assert (page.items, page.has_more, page.total) == ([], False, 0)


@pytest.mark.parametrize(("api_info", "quota"), [
    ("today:8 max:110", "today:8 max:110"), ({"today": 8}, None), (["x"], None), (7, None)])
async def test_gateway_quota_is_text_or_nothing(api_info, quota):
    async with mock(lambda r: httpx.Response(200, json=gw_body(api_info=api_info))) as http:
        page = await GatewayClient("jd", gw_settings(), {"key": KEY, "secret": SECRET},
                                   http).search(IMG_URL, 1)
    assert page.quota == quota and page.body["api_info"] == api_info  # the body keeps it


async def test_top_client_signs_query_and_keeps_file_unsigned():
    got = {}

    def handler(req: httpx.Request) -> httpx.Response:
        q = dict(req.url.params)
        ctype = req.headers["content-type"]
        got.update(q=q, ctype=ctype, raw=req.content)
        form = {"page": "1", "page_size": "20"}
        assert top_sign({**q, **form}, APP_SECRET, q["sign_method"]) == q["sign"]
        return httpx.Response(200, json=top_ok())

    fixed = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    async with mock(handler) as http:
        client = TopClient("taobao_top", top_settings(sign_method="md5"),
                           {"app_key": APP_KEY, "app_secret": APP_SECRET}, http, clock=lambda: fixed)
        page = await client.search(IMG, 1)
    q = got["q"]
    assert q["timestamp"] == "2026-11-25 12:00:00" and q["method"] == "taobao.item.search.img"
    assert (q["format"], q["v"], q["app_key"]) == ("json", "2.0", APP_KEY)
    assert got["ctype"].startswith("multipart/form-data")
    assert b'name="image"' in got["raw"] and IMG.data in got["raw"]
    assert page.platform == "taobao" and page.items[0].item_id == "1"
    assert page.request["params"]["sign"] == "***" and page.request["params"]["app_key"] == "***"
    assert "files" in page.request and APP_SECRET not in _all_text(page.request, page.body)


@pytest.mark.parametrize("method", ["md5", "hmac", "hmac-sha256"])
async def test_top_client_image_url_form(method):
    def handler(req: httpx.Request) -> httpx.Response:
        q, form = dict(req.url.params), dict(parse_qsl(req.content.decode()))
        assert form["image_url"] == IMG_URL.url and "image_url" not in q
        assert q["sign_method"] == method
        assert top_sign({**q, **form}, APP_SECRET, method) == q["sign"]
        return httpx.Response(200, json=top_ok())

    async with mock(handler) as http:
        await TopClient("t", top_settings(sign_method=method),
                        {"app_key": APP_KEY, "app_secret": APP_SECRET}, http).search(IMG_URL, 1)


@pytest.mark.parametrize(("settings", "creds", "match"), [
    (gw_settings(), {"key": KEY}, "secret"),
    (top_settings(), {"app_key": APP_KEY}, "app_secret"),
    (top_settings(sign_method="sha1"), {"app_key": APP_KEY, "app_secret": "x"}, "sign_method"),
])
def test_client_config_errors(settings, creds, match):
    cls = GatewayClient if settings.protocol == "gateway" else TopClient
    with pytest.raises(ConfigError, match=match):
        cls("p", settings, creds, httpx.AsyncClient())


def _raise(exc):
    def handler(req):
        raise exc
    return handler


@pytest.mark.parametrize(("handler", "cls"), [
    (lambda r: httpx.Response(500, text="oops"), TransientError),
    (lambda r: httpx.Response(502), TransientError),
    (lambda r: httpx.Response(429, headers={"Retry-After": "3"}), TransientError),
    (lambda r: httpx.Response(200, content=b'{"items": {"item": ['), TransientError),
    (lambda r: httpx.Response(200, content=b"<html>busy</html>"), TransientError),
    (lambda r: httpx.Response(200, json=[1, 2]), TransientError),
    (_raise(httpx.ReadTimeout("slow")), TransientError),
    (_raise(httpx.ConnectError("refused")), TransientError),
    (_raise(httpx.RemoteProtocolError("peer closed connection")), TransientError),
    (lambda r: httpx.Response(404), PlatformFatal),
    (lambda r: httpx.Response(403), PlatformFatal),
    (lambda r: httpx.Response(400), RequestRejected),
])
async def test_transport_taxonomy_never_leaks(handler, cls):
    async with mock(handler) as http:
        client = GatewayClient("taobao", gw_settings(), {"key": KEY, "secret": SECRET}, http)
        with pytest.raises(cls) as info:
            await client.search(IMG_URL, 1)
    exc = info.value
    assert type(exc) is cls and exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__  # no httpx error (full URL) kept
    assert KEY not in str(exc) and SECRET not in str(exc)


async def test_retry_after_header_is_kept():
    async with mock(lambda r: httpx.Response(429, headers={"Retry-After": "3"})) as http:
        client = GatewayClient("taobao", gw_settings(), {"key": KEY, "secret": SECRET}, http)
        with pytest.raises(TransientError) as info:
            await client.search(IMG_URL, 1)
    assert info.value.retry_after == 3


# ---------------------------------------------------------------- execution layer

class Scripted:
    """A client answering from a script of results/exceptions, counting calls."""

    def __init__(self, script, gate, name="p"):
        self.name = self.platform = name
        self.gate = gate
        self.script = list(script)
        self.calls = 0

    async def search(self, image, page):
        await self.gate.admit()
        self.calls += 1
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return step


def ok_page(page=1, more=False):
    item = SearchItem(item_id="1", title=None, pic_url=None, price="1.00")
    return SearchPage(platform="p", page=page, items=[item], has_more=more)


def searcher(script, **kw) -> tuple[PlatformSearcher, Scripted]:
    gate = Gate(ProcessLimiter(1000))
    client = Scripted(script, gate)
    kw.setdefault("max_attempts", 4)
    return PlatformSearcher(client, gate, backoff=FAST, **kw), client


async def test_retries_transient_then_succeeds():
    s, c = searcher([TransientError("p", "5xx"), TransientError("p", "reset"), ok_page()])
    assert (await s.search(IMG, 1)).page == 1
    assert (c.calls, s.calls.attempts, s.calls.retries, s.calls.ok) == (3, 3, 2, 1)


async def test_retries_are_bounded():
    s, c = searcher([TransientError("p", "down")], max_attempts=3)
    with pytest.raises(TransientError):
        await s.search(IMG, 1)
    assert (c.calls, s.calls.failed, s.stopped) == (3, 1, None)


async def test_rejected_is_not_retried_and_platform_goes_on():
    s, c = searcher([RequestRejected("p", "bad image"), ok_page()])
    with pytest.raises(RequestRejected):
        await s.search(IMG, 1)
    assert c.calls == 1 and s.stopped is None
    assert (await s.search(IMG, 1)).page == 1


async def test_the_same_refusal_on_every_call_stops_the_platform(caplog):
    top40 = RequestRejected("p", "TOP error 40 Missing Required Arguments [isv.missing-parameter:image]",
                            code="40", sub_code="isv.missing-parameter:image")
    s, c = searcher([top40], stop_after=5)
    with caplog.at_level(logging.ERROR):
        for _ in range(4):
            with pytest.raises(RequestRejected):
                await s.search(IMG, 1)
        with pytest.raises(PlatformFatal) as info:
            await s.search(IMG, 1)
        for _ in range(35):  # the rest of the run's tasks: refused without a request
            with pytest.raises(PlatformFatal):
                await s.search(IMG, 1)
    assert c.calls == 5 and s.stopped is not None
    text = str(info.value)
    assert "5 calls in a row refused with code 40 [isv.missing-parameter:image]" in text
    assert "options.image_param" in text and info.value.code == "40"
    assert len([r for r in caplog.records if "platform stopped" in r.message]) == 1


@pytest.mark.parametrize(("script", "calls", "stopped"), [
    # a success between resets the count
    ([RequestRejected("p", "x", code="4003")] * 4 + [ok_page()] + [RequestRejected("p", "x", code="4003")] * 4,
     9, False),
    # different codes are different refusals
    ([RequestRejected("p", "x", code="4003"), RequestRejected("p", "x", code="4014")] * 4, 8, False),
    # a transient failure between neither counts nor resets
    ([RequestRejected("p", "bad picture", code="4003")] * 3 + [TransientError("p", "5xx")] * 4
     + [RequestRejected("p", "another picture", code="4003")] * 2, 9, True),
    # without a code the text is the refusal
    ([RequestRejected("p", "GET /x: HTTP 400")] * 5, 5, True),
])
async def test_which_refusals_count_as_the_same(script, calls, stopped):
    s, c = searcher([*script, ok_page()], stop_after=5, max_attempts=1)
    for _ in range(len(script)):
        with contextlib.suppress(RequestRejected, TransientError, PlatformFatal):
            await s.search(IMG, 1)
    assert c.calls == calls and (s.stopped is not None) is stopped


async def test_stop_after_zero_never_stops():
    s, c = searcher([RequestRejected("p", "x", code="41")], stop_after=0)
    for _ in range(20):
        with pytest.raises(RequestRejected):
            await s.search(IMG, 1)
    assert c.calls == 20 and s.stopped is None


async def test_on_admit_sees_only_requests_really_sent():
    """The executor counts a task's attempts through on_admit: retries and uploads count,
    a call refused by a stopped platform or a ban does not."""
    s, c = searcher([TransientError("p", "5xx"), ok_page()])
    sent: list[str] = []

    async def hook():
        sent.append("sent")

    with on_admit(hook):
        await s.search(IMG, 1)
    assert sent == ["sent", "sent"] and c.calls == 2
    await s.search(IMG, 1)  # outside the block: not reported
    assert len(sent) == 2
    s.gate.stop(PlatformFatal("p", "Invalid signature"))
    with on_admit(hook), pytest.raises(PlatformFatal):
        await s.search(IMG, 1)
    assert len(sent) == 2


async def test_fatal_stops_platform_with_one_message(caplog):
    s, c = searcher([PlatformFatal("p", "Invalid signature", code="25")])
    with caplog.at_level(logging.ERROR):
        results = await asyncio.gather(*(s.search(IMG, 1) for _ in range(5)),
                                       return_exceptions=True)
        with pytest.raises(PlatformFatal, match="Invalid signature"):
            await s.search(IMG, 2)
    assert all(isinstance(r, PlatformFatal) for r in results)
    assert c.calls == 1 and s.stopped is results[0]
    assert len([r for r in caplog.records if "platform stopped" in r.message]) == 1


async def test_ban_pauses_whole_platform_then_recovers():
    s, c = searcher([RateLimited("p", "limited", retry_after=0.3), ok_page(), ok_page()])
    t0 = time.monotonic()
    await asyncio.gather(s.search(IMG, 1), s.search(IMG, 1))
    assert time.monotonic() - t0 >= 0.3
    assert (s.calls.bans, s.calls.retries, s.calls.ok, c.calls) == (1, 1, 2, 3)


async def test_long_ban_means_quota_spent():
    s, c = searcher([RateLimited("p", "App Call Limited", retry_after=31062)],
                    max_retry_seconds=60)
    with pytest.raises(QuotaExhausted, match="31062"):
        await s.search(IMG, 1)
    assert isinstance(s.stopped, QuotaExhausted) and c.calls == 1


async def test_uploads_pass_the_gate_handed_to_the_constructor():
    def handler(req):
        if req.url.path.endswith("/upload_img/"):
            return httpx.Response(200, json={"items": {"item": {"name": "IMG1"}}, "error_code": "0000"})
        return httpx.Response(200, json=gw_body())

    gate = Gate(ProcessLimiter(5))  # a 200 ms grid: upload at 0, search at 200 ms
    async with mock(handler) as http:
        client = GatewayClient("taobao", gw_settings(), {"key": KEY, "secret": SECRET}, http, gate=gate)
        t0 = time.monotonic()
        await client.search(IMG, 1)
    assert client.gate is gate and gate.calls.attempts == 2 and time.monotonic() - t0 >= 0.19


async def test_gate_refuses_once_stopped_even_while_waiting():
    gate = Gate(ProcessLimiter(5))
    await gate.admit()
    waiting = asyncio.ensure_future(gate.admit())  # its slot is 200 ms away
    await asyncio.sleep(0.05)
    assert gate.stop(PlatformFatal("p", "Invalid signature")) and not gate.stop(PlatformFatal("p", "x"))
    with pytest.raises(PlatformFatal, match="Invalid signature"):
        await waiting
    with pytest.raises(PlatformFatal, match="Invalid signature"):
        await gate.admit()
    assert gate.calls.attempts == 1  # only the request that went out is counted


def test_searcher_needs_the_gate_its_client_was_built_with():
    client = GatewayClient("taobao", gw_settings(), {"key": KEY, "secret": SECRET}, httpx.AsyncClient())
    with pytest.raises(ValueError, match="bypass the limiter"):
        PlatformSearcher(client, Gate(ProcessLimiter(1000)))


async def test_search_pages_stops_when_results_end():
    s, c = searcher([ok_page(1, True), ok_page(2, True), ok_page(3, False), ok_page(4)])
    pages = await search_pages(s, IMG, 10)
    assert [p.page for p in pages] == [1, 2, 3] and c.calls == 3


@pytest.mark.parametrize("qps", [100, 1.5])
async def test_process_limiter_spaces_calls_without_burst(qps):
    lim = ProcessLimiter(qps)
    n = 21 if qps == 100 else 3
    stamps = []
    t0 = time.monotonic()

    async def one():
        await lim.acquire()
        stamps.append(time.monotonic() - t0)

    await asyncio.gather(*(one() for _ in range(n)))
    span = (n - 1) / qps
    assert span - 0.005 <= stamps[-1] < span + 0.15
    assert stamps[1] >= 1 / qps - 0.005  # the second call waits a full interval: no burst


async def test_process_limiter_catches_up_after_a_late_caller():
    lim = ProcessLimiter(50)  # a 20 ms grid
    await lim.acquire()  # t = 0
    await asyncio.sleep(0.030)  # the next caller comes 10 ms after its slot at 20 ms
    await lim.acquire()
    t0 = time.monotonic()
    await lim.acquire()
    # the 3rd call keeps its slot at 40 ms: 10 ms later, not a full interval after the 2nd
    assert time.monotonic() - t0 < 0.015


async def test_no_secret_in_logs(caplog):
    def handler(req):
        return httpx.Response(200, json={"error_code": "4005", "reason": f"bad key {KEY}"})

    async with mock(handler) as http:
        gate = Gate(ProcessLimiter(1000))
        client = GatewayClient("taobao", gw_settings(), {"key": KEY, "secret": SECRET}, http, gate=gate)
        s = PlatformSearcher(client, gate, backoff=FAST)
        with caplog.at_level(logging.DEBUG), pytest.raises(PlatformFatal) as info:
            await s.search(IMG_URL, 1)
    assert KEY not in caplog.text and KEY not in str(info.value) and "***" in str(info.value)


# ---------------------------------------------------------------- registry

def make_settings(**search) -> Settings:
    s = Settings.model_validate({
        "search": search,
        "platforms": {
            "taobao": {"protocol": "gateway", "base_url": "http://gw.test",
                       "credentials": {"key": "K", "secret": "S"}},
            "taobao_top": {"protocol": "top", "base_url": "http://top.test/router/rest",
                           "platform": "taobao", "credentials": {"app_key": "A", "app_secret": "B"}},
            "off": {"protocol": "aliyun-imagesearch", "base_url": "http://x", "enabled": False},
        },
    })
    s.secrets = {"taobao": {"key": SecretStr(KEY), "secret": SecretStr(SECRET)},
                 "taobao_top": {"app_key": SecretStr(APP_KEY), "app_secret": SecretStr(APP_SECRET)}}
    return s


async def test_build_searchers_over_enabled_platforms():
    settings = make_settings(max_attempts=2)
    async with make_http_client(settings) as http:
        found = build_searchers(settings, http)
    assert sorted(found) == ["taobao", "taobao_top"]
    assert isinstance(found["taobao"].client, GatewayClient)
    assert isinstance(found["taobao_top"].client, TopClient)
    assert found["taobao_top"].platform == "taobao" and found["taobao"].max_attempts == 2


def test_build_searchers_errors():
    s = make_settings()
    s.platforms["off"].enabled = True
    with pytest.raises(ConfigError, match="aliyun-imagesearch"):
        build_searchers(s, httpx.AsyncClient())
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        build_searchers(make_settings(limiter="postgres"), httpx.AsyncClient())


@pytest.mark.parametrize(("text", "seconds"), [
    ("This ban will last for 31062 more seconds", 31062),
    ("This ban will last for 1 more second", 1),
    ("API rate limit exceeded: retry in 5 s", 5),
    ("wait 2.5 secs", 2.5),
    ("并发已达上限", None),
    ("version 2 series", None),
    (None, None),
])
def test_ban_seconds(text, seconds):
    from snapprice.search.platforms.base import ban_seconds
    assert ban_seconds(text) == seconds


def test_gateway_rate_limit_carries_wait_and_price_unit_override():
    with pytest.raises(RateLimited) as info:
        parse_gateway_body("jd", {"error_code": "4008", "reason": "API rate limit exceeded: "
                                                                  "retry in 3 s"})
    assert info.value.retry_after == 3
    items, _, _ = parse_gateway_body("pinduoduo", gw_body(), price_unit="fen")
    assert {i.price_unit for i in items} == {"fen"}


# ---------------------------------------------------------------- PostgreSQL limiter

@pytest.mark.integration
async def test_postgres_limiter_shares_budget_and_bans(pg_server_url):
    from snapprice.search.platforms import PostgresLimiter

    table = f"test_rl_{secrets.token_hex(4)}"
    a = PostgresLimiter(pg_server_url, "k", 100, table=table)
    b = PostgresLimiter(pg_server_url, "k", 100, table=table)  # a second connection
    other = PostgresLimiter(pg_server_url, "other", 100, table=table)
    try:
        await a.acquire()
        t0 = time.monotonic()
        await asyncio.gather(*(lim.acquire() for lim in [a, b] * 10))
        assert 0.19 <= time.monotonic() - t0 < 0.4  # 20 calls at 10 ms, whoever makes them
        await a.pause(0.3)  # a ban seen by one holds the other back too
        t0 = time.monotonic()
        await b.acquire()
        assert time.monotonic() - t0 >= 0.28
        t0 = time.monotonic()
        await other.acquire()  # another key has its own budget
        assert time.monotonic() - t0 < 0.1
    finally:
        await a.drop_table()
        for lim in (a, b, other):
            await lim.aclose()


def test_postgres_limiter_validates_table_and_dsn():
    from snapprice.search.platforms import PostgresLimiter
    from snapprice.search.platforms.limiter import psycopg_dsn

    with pytest.raises(ValueError, match="identifier"):
        PostgresLimiter("postgresql://x/y", "k", 5, table="Bad-Name; drop")
    assert psycopg_dsn("postgresql+psycopg://u@h:5/db") == "postgresql://u@h:5/db"
    assert psycopg_dsn("postgres://u@h/db") == "postgresql://u@h/db"


def test_sections_sharing_a_limit_key_share_one_process_limiter():
    import httpx
    from pydantic import SecretStr

    from snapprice.search.platforms.registry import build_searchers
    from snapprice.settings import Settings

    plats = {n: {"protocol": "gateway", "base_url": "http://127.0.0.1:1", "qps": q,
                 "options": {"limit_key": "acct"} if n != "solo" else {}}
             for n, q in (("taobao", 5), ("jd", 3), ("solo", 9))}
    settings = Settings.model_validate({"platforms": plats})
    for n in plats:
        settings.secrets[n] = {"key": SecretStr("k"), "secret": SecretStr("s")}
    searchers = build_searchers(settings, httpx.AsyncClient())
    limiter = {n: s.gate.limiter for n, s in searchers.items()}
    assert limiter["taobao"] is limiter["jd"] and limiter["solo"] is not limiter["taobao"]
    assert limiter["taobao"].qps == 3 and limiter["solo"].qps == 9
    assert searchers["taobao"].gate is not searchers["jd"].gate  # each its own stop switch
