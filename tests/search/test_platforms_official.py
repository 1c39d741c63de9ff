"""Aliyun ImageSearch and 1688 AOP clients over real loopback HTTP against the sandbox; the
snapshot flow end to end with one platform per protocol."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from snapprice.errors import (
    ConfigError,
    PlatformFatal,
    QuotaExhausted,
    RateLimited,
    RequestRejected,
    TransientError,
)
from snapprice.models import ListingSnapshot, QueryImage
from snapprice.normalize import normalize_item
from snapprice.sandbox import SandboxConfig, start_in_thread
from snapprice.sandbox import aliyun as sb_aliyun
from snapprice.sandbox import aop1688 as sb_aop
from snapprice.sandbox.testing import shared_world
from snapprice.search.platforms import (
    PROTOCOLS,
    AliyunImageSearchClient,
    Aop1688Client,
    build_searchers,
    make_http_client,
    parse_aliyun_body,
    parse_aop_body,
)
from snapprice.settings import PlatformSettings, Settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
WORLD = {"seed": 7, "n_products": 60}
ALI = {"access_key_id": "demo-aliyun-id", "access_key_secret": "demo-aliyun-secret"}
AOP = {"app_key": "7654321", "app_secret": "demo-aop-secret", "access_token": "demo-aop-token"}
PID = "mm_12345678_2345678_34567890"
SECRETS = ("demo-aliyun-secret", "demo-aop-secret", "demo-aop-token")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def sandbox(**cfg):
    return start_in_thread(SandboxConfig(**{**WORLD, **cfg}),
                           world=shared_world(WORLD["n_products"], WORLD["seed"]))


@pytest.fixture(scope="module")
def market() -> Iterator:
    with sandbox(qps=500) as handle:
        yield handle


def _world():
    return shared_world(WORLD["n_products"], WORLD["seed"])


def image(n: int = 0, *, url_base: str | None = None) -> tuple[str, QueryImage]:
    w = _world()
    both = [p.product_id for p in w.products
            if len(w.listings_for(p.product_id, "taobao")) >= 2 and w.listings_for(p.product_id, "1688")]
    pid = both[n % len(both)]
    url = f"{url_base}/img/product/{pid}.jpg" if url_base else None
    return pid, QueryImage(digest=f"{pid}-{bool(url)}", data=w.product_image_bytes(pid), url=url)


def plat(protocol: str, base: str, **kw) -> PlatformSettings:
    if protocol == "aliyun-imagesearch":
        kw = {"platform": "taobao", "options": {"pid": PID}, **kw}
    else:
        base += "/openapi"
        kw = {"platform": "1688", **kw}
    return PlatformSettings(protocol=protocol, base_url=base, **kw)


def aliyun_client(http, base, creds=ALI, **kw) -> AliyunImageSearchClient:
    clock = kw.pop("clock", None)
    nonce = kw.pop("nonce", None)
    return AliyunImageSearchClient("tb_aliyun", plat("aliyun-imagesearch", base, **kw), dict(creds),
                                   http, clock=clock, nonce=nonce)


def aop_client(http, base, creds=AOP, **kw) -> Aop1688Client:
    return Aop1688Client("ali1688", plat("1688-aop", base, **kw), dict(creds), http)


def no_secrets(*things) -> None:
    text = json.dumps(things, ensure_ascii=False, default=str)
    for s in SECRETS:
        assert s not in text


# ------------------------------------------------------------------------------ Aliyun

@pytest.mark.parametrize("signature", ["v3", "v1"])
@pytest.mark.parametrize("as_url", [False, True])
async def test_aliyun_results_match_ground_truth(market, caplog, as_url, signature):
    pid, img = image(0, url_base=market.base_url if as_url else None)
    async with httpx.AsyncClient() as http:
        client = aliyun_client(http, market.base_url, options={"pid": PID, "signature": signature})
        with caplog.at_level(logging.DEBUG):
            page = await client.search(img, 1)
    world, at = market.world, datetime.now(UTC)
    truth = {x.item_id for x in world.listings_for(pid, "taobao") if world.is_listed(x.item_id, "taobao", at)}
    assert page.items and page.total is None and page.platform == "taobao"
    rows = [normalize_item("taobao", it) for it in page.items]
    assert all(isinstance(r, ListingSnapshot) for r in rows), rows
    for r in rows:
        real = sb_aliyun.item_id_of(market.config, r.item_id)
        assert real in truth and real != r.item_id  # an opaque id, as the real API gives
        assert (r.price_low, r.price_high, r.promo_price) == sb_aliyun.served_price(world, real, at)
        assert r.shop and isinstance(r.sales_lower_bound, int)
    assert [r.rank for r in rows] == list(range(1, len(rows) + 1))
    action = "SearchByUrl" if as_url else "SearchByPic"
    if signature == "v3":
        headers = page.request["headers"]
        assert headers["x-acs-action"] == action and headers["x-acs-version"] == "2021-05-01"
        assert headers["authorization"] == "***" and "Signature" not in page.request["form"]
    else:
        assert page.request["form"]["Action"] == action and "headers" not in page.request
        assert page.request["form"]["Signature"] == "***" and page.request["form"]["AccessKeyId"] == "***"
    if not as_url:
        assert page.request["form"]["PicContent"].endswith("chars>")
    assert "demo-aliyun-id" not in json.dumps(page.request)
    no_secrets(page.request, page.body, caplog.text)


async def test_aliyun_paging_covers_every_result_once(market):
    _pid, img = image(1)
    async with httpx.AsyncClient() as http:
        whole = await aliyun_client(http, market.base_url, page_size=20).search(img, 1)
        small = aliyun_client(http, market.base_url, page_size=1)
        pages = [await small.search(img, n) for n in range(1, len(whole.items) + 2)]
    ids = [it.item_id for p in pages for it in p.items]
    assert ids == [it.item_id for it in whole.items] and len(ids) >= 2
    assert [p.has_more for p in pages] == [True] * len(whole.items) + [False]
    assert [it.rank for p in pages for it in p.items] == list(range(1, len(ids) + 1))


# What Alibaba Cloud's own signer (alibabacloud-tea-openapi 0.4.6,
# Utils.get_authorization) gives for the headers and body of the request below.
V3_SDK_AUTHORIZATION = (
    "ACS3-HMAC-SHA256 Credential=LTAI5tExampleKeyId,SignedHeaders=content-type;host;x-acs-action;"
    "x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
    "Signature=ab7a50ed499f246c4303653ba343f5a90ac1f617e039ebd908a012c688cce164")


async def test_aliyun_v3_request_is_signed_as_the_sdk_signs():
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"Success": True, "Code": 0, "Data": {"Auctions": []}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = aliyun_client(http, "https://imagesearch.cn-shanghai.aliyuncs.com",
                               {"access_key_id": "LTAI5tExampleKeyId", "access_key_secret": "ExampleSecret"},
                               clock=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                               nonce=lambda: "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
        page = await client.search(QueryImage(digest="d", data=b"ABC\xff"), 2)
    (r,) = sent
    assert (r.method, str(r.url)) == ("POST", "https://imagesearch.cn-shanghai.aliyuncs.com/")
    assert r.content == (b"Fields=ItemId%2CVolume%2CNick%2CShopTitle%2CSellerId%2CProvcity%2CUserType"
                         b"&Num=20&PicContent=QUJD%2Fw%3D%3D&Pid=mm_12345678_2345678_34567890&Start=20")
    assert r.headers["x-acs-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    assert r.headers["authorization"] == V3_SDK_AUTHORIZATION
    kept = json.dumps(page.request)
    assert "ExampleSecret" not in kept and "ab7a50ed" not in kept and "LTAI5tExampleKeyId" not in kept


@pytest.mark.parametrize("signature", ["v3", "v1"])
@pytest.mark.parametrize(("case", "error", "code"), [
    ("wrong_secret", PlatformFatal, "SignatureDoesNotMatch"),
    ("unknown_key", PlatformFatal, "InvalidAccessKeyId.NotFound"),
    ("unknown_pid", PlatformFatal, "Forbidden.InvalidPid"),
    ("clock_skew", PlatformFatal, "InvalidTimeStamp.Expired"),
    ("not_a_picture", RequestRejected, "1001"),
])
async def test_aliyun_error_taxonomy(market, case, error, code, signature):
    _pid, img = image(0)
    creds, kw = dict(ALI), {"options": {"pid": PID, "signature": signature}}
    if case == "wrong_secret":
        creds["access_key_secret"] = "guess"
    elif case == "unknown_key":
        creds["access_key_id"] = "LTAI-nobody"
    elif case == "unknown_pid":
        kw["options"] = {"pid": "mm_0_0_0", "signature": signature}
    elif case == "clock_skew":
        kw["clock"] = lambda: datetime.now(UTC) - timedelta(hours=2)
    else:
        img = QueryImage(digest="junk", data=b"not a picture")
    async with httpx.AsyncClient() as http:
        with pytest.raises(error) as info:
            await aliyun_client(http, market.base_url, creds, **kw).search(img, 1)
    assert info.value.code == code
    no_secrets(str(info.value), repr(info.value))
    assert "guess" not in str(info.value)


async def test_aliyun_throttling_quota_faults_and_nonce_replay():
    _pid, img = image(0)
    async with httpx.AsyncClient() as http:
        with sandbox(qps=1, daily_quota=2) as sb:
            client = aliyun_client(http, sb.base_url, page_size=2)
            await client.search(img, 1)
            with pytest.raises(RateLimited) as info:
                await client.search(img, 1)
            assert info.value.code == "Throttling.User"
            await asyncio.sleep(1.05)
            await client.search(img, 1)
            with pytest.raises(QuotaExhausted):
                await client.search(img, 1)
        with sandbox(faults={"aliyun": {"code15": 0.5, "http_503": 0.5}}) as sb:
            client = aliyun_client(http, sb.base_url)
            for _ in range(2):
                with pytest.raises(TransientError):
                    await client.search(img, 1)
        with sandbox() as sb:
            for signature in ("v3", "v1"):
                replay = aliyun_client(http, sb.base_url, nonce=lambda s=signature: f"same-{s}",
                                       options={"pid": PID, "signature": signature})
                await replay.search(img, 1)
                with pytest.raises(TransientError) as info:  # a retry signs with a fresh nonce
                    await replay.search(img, 1)
                assert info.value.code == "SignatureNonceUsed"


# ------------------------------------------------------------------------------ 1688

async def test_aop_uploads_once_then_pages_match_ground_truth(market, caplog):
    pid, img = image(2)
    before = market.stats()["protocols"].get("aop_upload", {}).get("calls", 0)
    async with httpx.AsyncClient() as http:
        client = aop_client(http, market.base_url, page_size=1)
        with caplog.at_level(logging.DEBUG):
            first = await client.search(img, 1)
            pages = [first] + [await client.search(img, n) for n in range(2, (first.total or 0) + 1)]
    assert market.stats()["protocols"]["aop_upload"]["calls"] - before == 1  # imageId cached
    world, at = market.world, datetime.now(UTC)
    truth = {x.item_id for x in world.listings_for(pid, "1688") if world.is_listed(x.item_id, "1688", at)}
    items = [it for p in pages for it in p.items]
    assert first.total == len(items) >= 1 and not pages[-1].has_more
    assert all(p.has_more for p in pages[:-1])
    assert {it.item_id for it in items} <= truth
    for it in items:
        r = normalize_item("1688", it)
        assert isinstance(r, ListingSnapshot)
        assert (r.price_low, r.price_high, r.promo_price) == sb_aop.served_price(world, r.item_id, at)
    assert first.request["form"]["access_token"] == "***"
    assert first.request["form"]["_aop_signature"] == "***"
    assert first.request["url"].endswith("/product.search.imageQuery/***")
    assert json.loads(first.request["form"]["offerQueryParam"])["pageSize"] == 1
    no_secrets(first.request, first.body, caplog.text)


@pytest.mark.parametrize(("case", "error", "code"), [
    ("wrong_secret", PlatformFatal, "gw.SignatureInvalid"),
    ("unknown_app_key", PlatformFatal, "gw.AppKeyNotFound"),
    ("expired_token", PlatformFatal, None),
    ("acl", PlatformFatal, "gw.APIACLDecline"),
    ("not_a_picture", RequestRejected, "400"),
])
async def test_aop_error_taxonomy(case, error, code):
    _pid, img = image(0)
    creds, cfg = dict(AOP), {}
    if case == "wrong_secret":
        creds["app_secret"] = "guess"
    elif case == "unknown_app_key":
        creds["app_key"] = "999"
    elif case == "expired_token":
        creds["access_token"] = "expired"
    elif case == "acl":
        cfg["aop_granted_apis"] = ("product.image.upload",)
    else:
        img = QueryImage(digest="junk", data=b"not a picture")
    async with httpx.AsyncClient() as http:
        with sandbox(**cfg) as sb, pytest.raises(error) as info:
            await aop_client(http, sb.base_url, creds).search(img, 1)
    assert info.value.code == code
    no_secrets(str(info.value))
    assert "expired" not in str(info.value) and "guess" not in str(info.value)


async def test_aop_rate_limit_quota_and_faults():
    _pid, img = image(0)
    _pid2, img2 = image(3)
    async with httpx.AsyncClient() as http:
        with sandbox(qps=1, daily_quota=3) as sb:
            client = aop_client(http, sb.base_url)
            with pytest.raises(RateLimited) as info:  # upload + query in the same second
                await client.search(img, 1)
            assert info.value.code == "gw.QpsOverrun"
            await asyncio.sleep(1.05)
            await client.search(img, 1)  # the upload was cached: one call
            await asyncio.sleep(1.05)
            with pytest.raises(QuotaExhausted):  # upload: 3rd call ok; the query is the 4th
                await client.search(img2, 1)
        with sandbox(faults={"aop": {"code15": 0.5, "reset": 0.5}}) as sb:
            for _ in range(2):
                with pytest.raises(TransientError):
                    await aop_client(http, sb.base_url).search(img, 1)


# ------------------------------------------------------------------------------ pure parts

def test_parse_aliyun_reference_example():
    body = {"Code": 0, "Success": True, "Message": "success", "RequestId": "r",
            "Data": {"Auctions": [{"RankScore": 0.8553, "Result": {
                "ItemId": "pvkb27vI3f6xVWXrMZhgy3tptm-vVbNx0sB7pMo7grIOo", "Title": "哈曼卡顿音响琉璃4",
                "PicUrl": "https://img.alicdn.com/i1/x.jpg", "ReservePrice": "2999.00",
                "ZkFinalPrice": "2199", "PriceAfterCoupon": "2199.00", "Provcity": "江苏 南京",
                "SellerId": "2586909304", "ShopTitle": "千冠数码", "UserType": 0, "Volume": 1}}]}}
    items, has_more, total = parse_aliyun_body("taobao", body, page=1, page_size=10)
    assert (has_more, total, len(items)) == (False, None, 1)
    r = normalize_item("taobao", items[0])
    assert (str(r.price_low), str(r.promo_price), r.sales_lower_bound, r.shop) == ("2999.00", "2199", 1, "千冠数码")
    assert r.item_id == "pvkb27vI3f6xVWXrMZhgy3tptm-vVbNx0sB7pMo7grIOo"


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"Code": "Throttling.User", "Message": "Request was denied due to user flow control."}, 400, RateLimited),
    ({"Code": "InvalidAccessKeyId.NotFound"}, 404, PlatformFatal),
    ({"Code": "SignatureDoesNotMatch"}, 400, PlatformFatal),
    ({"Code": "Forbidden.RAM"}, 403, PlatformFatal),
    ({"Code": "InvalidParameter"}, 400, RequestRejected),
    ({"Code": "InternalError"}, 500, TransientError),
    ({"Code": "ServiceUnavailable"}, 503, TransientError),
    ({"Code": "QuotaExhausted"}, 403, QuotaExhausted),
    ({"Success": False, "Code": 1001, "Message": "bad picture"}, 200, RequestRejected),
    ({"Success": True, "Code": 0}, 200, TransientError),
    ([], 200, TransientError),
])
def test_aliyun_error_mapping(body, status, error):
    with pytest.raises(error):
        parse_aliyun_body("taobao", body, status=status)


def test_parse_aop_reference_example():
    body = {"result": {"success": "true", "code": "200", "message": "", "result": {
        "totalRecords": 1, "totalPage": 1, "pageSize": 1, "currentPage": 1, "data": [{
            "offerId": 710891050473, "subject": "标题", "subjectTrans": "title",
            "imageUrl": "https://cbu01.alicdn.com/img/ibank/x.jpg",
            "priceInfo": {"price": "12.50", "jxhyPrice": "", "pfJxhyPrice": "", "consignPrice": "13.00",
                          "promotionPrice": ""},
            "monthSold": 1234, "companyName": "浙江省一路发发商贸公司", "companyAddress": "浙江省杭州市",
            "promotionURL": "https://detail.1688.com/offer/710891050473.html?fromkv=x"}]}}}
    items, has_more, total = parse_aop_body("1688", body, page=1, page_size=1)
    assert (has_more, total) == (False, 1)
    r = normalize_item("1688", items[0])
    assert (r.item_id, str(r.price_low), r.promo_price, r.sales_lower_bound) == ("710891050473", "12.50", None, 1234)


@pytest.mark.parametrize(("body", "error"), [
    ({"error_code": "gw.APIACLDecline", "error_message": "AppKey is not allowed(acl)"}, PlatformFatal),
    ({"error_code": "gw.NoUsageLeftError", "error_message": "SLA bill has no usage left"}, QuotaExhausted),
    ({"error_code": "gw.QpsOverrun"}, RateLimited),
    ({"error_code": "gw.SignatureMissing"}, PlatformFatal),
    ({"error_code": "gw.AppKeyMissing"}, PlatformFatal),
    ({"error_code": "gw.APIUnsupported"}, PlatformFatal),
    ({"error_code": "gw.ParamInvalid"}, RequestRejected),
    ({"error_code": "gw.ServiceTimeout"}, TransientError),
    ({"result": {"success": "false", "code": "400", "message": "bad"}}, RequestRejected),
    ({"result": {"success": False, "code": "500", "message": "busy"}}, TransientError),
    ({"result": {"success": "true", "result": None}}, TransientError),
])
def test_aop_error_mapping(body, error):
    with pytest.raises(error):
        parse_aop_body("1688", body)


@pytest.mark.parametrize(("protocol", "creds", "kw", "needle"), [
    ("aliyun-imagesearch", {"access_key_id": "x"}, {}, "access_key_secret"),
    ("aliyun-imagesearch", ALI, {"options": {}}, "options.pid"),
    ("aliyun-imagesearch", ALI, {"page_size": 21}, "page_size"),
    ("aliyun-imagesearch", ALI, {"options": {"pid": PID, "signature": "v2"}}, "options.signature"),
    ("1688-aop", {"app_key": "1", "app_secret": "s"}, {}, "access_token"),
    ("1688-aop", AOP, {"page_size": 51}, "page_size"),
    ("1688-aop", AOP, {"sort": "sales_desc"}, "sort"),
])
def test_config_errors_name_the_key(protocol, creds, kw, needle):
    with pytest.raises(ConfigError, match=needle):
        PROTOCOLS[protocol]("p", plat(protocol, "http://127.0.0.1:1", **kw), dict(creds), None)


async def test_registry_builds_searchers_that_retry_through_throttling():
    _pid, img = image(0)
    tree = {"search": {"max_attempts": 6, "max_retry_seconds": 30}, "platforms": {
        "tb_aliyun": {"protocol": "aliyun-imagesearch", "platform": "taobao", "qps": 50,
                      "options": {"pid": PID}},
        "ali1688": {"protocol": "1688-aop", "platform": "1688", "qps": 50}}}
    with sandbox(qps=1) as sb:
        tree["platforms"]["tb_aliyun"]["base_url"] = sb.base_url
        tree["platforms"]["ali1688"]["base_url"] = sb.base_url + "/openapi"
        s = Settings.model_validate(tree)
        s.secrets = {"tb_aliyun": {k: SecretStr(v) for k, v in ALI.items()},
                     "ali1688": {k: SecretStr(v) for k, v in AOP.items()}}
        async with make_http_client(s) as http:
            searchers = build_searchers(s, http)
            pages = [await searchers[n].search(img, 1) for n in ("tb_aliyun", "ali1688")]
    assert all(p.items for p in pages)
    assert searchers["ali1688"].calls.bans >= 1  # upload then query within a second: QpsOverrun, retried


# ------------------------------------------------------------------------------ end to end

EXTRA = """
[platforms.taobao_top]
protocol = "top"
platform = "taobao"
base_url = "{base}/router/rest"
qps = 50
credentials = { app_key = "SNAPPRICE_TOP_APP_KEY", app_secret = "SNAPPRICE_TOP_APP_SECRET" }

[platforms.taobao_aliyun]
protocol = "aliyun-imagesearch"
platform = "taobao"
base_url = "{base}"
qps = 50
page_size = 20
credentials.access_key_id = "SNAPPRICE_ALIYUN_ACCESS_KEY_ID"
credentials.access_key_secret = "SNAPPRICE_ALIYUN_ACCESS_KEY_SECRET"
options = { pid = "mm_12345678_2345678_34567890" }

[platforms.alibaba_1688]
protocol = "1688-aop"
platform = "1688"
base_url = "{base}/openapi"
qps = 50
credentials.app_key = "SNAPPRICE_1688_APP_KEY"
credentials.app_secret = "SNAPPRICE_1688_APP_SECRET"
credentials.access_token = "SNAPPRICE_1688_ACCESS_TOKEN"
"""
ENV = {"SNAPPRICE_GATEWAY_KEY": "demo-key", "SNAPPRICE_GATEWAY_SECRET": "demo-secret",
       "SNAPPRICE_TOP_APP_KEY": "12345678", "SNAPPRICE_TOP_APP_SECRET": "demo-top-secret",
       "SNAPPRICE_ALIYUN_ACCESS_KEY_ID": "demo-aliyun-id",
       "SNAPPRICE_ALIYUN_ACCESS_KEY_SECRET": "demo-aliyun-secret",
       "SNAPPRICE_1688_APP_KEY": "7654321", "SNAPPRICE_1688_APP_SECRET": "demo-aop-secret",
       "SNAPPRICE_1688_ACCESS_TOKEN": "demo-aop-token"}


def q(engine, sql, **params):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


def test_snapshot_flow_one_platform_per_protocol(prefect_harness, clean_db, database_url, tmp_path,
                                                 monkeypatch):
    from snapprice import pipeline
    from tests.flowkit import make_setup

    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the flow would prefer it to the config
    setup = make_setup(tmp_path, database_url, platforms=("jd",), extra_platforms=EXTRA)
    world, cfg = setup.sandbox.world, setup.sandbox.config
    try:
        result = pipeline.snapshot(kind="manual", config=str(setup.config))
        stats = httpx.get(f"{setup.sandbox.base_url}/_admin/stats").json()["protocols"]
    finally:
        setup.sandbox.stop()
    assert result["status"] == "succeeded", result
    groups = result["n_groups"]
    assert result["n_searches"] == groups * 4
    for proto in ("gateway", "top", "aliyun", "aop", "aop_upload"):
        assert stats[proto]["calls"] == groups, (proto, stats[proto])  # no call wasted or refused
    assert q(clean_db, "SELECT protocol, count(*) FROM raw_response GROUP BY 1 ORDER BY 1") == sorted(
        [("1688-aop", groups), ("aliyun-imagesearch", groups), ("gateway", groups), ("top", groups)])

    (started,) = q(clean_db, "SELECT started_at FROM run")[0]

    def route_and_id(platform, item_id):
        if platform == "taobao" and not item_id.isdigit():
            return "aliyun", sb_aliyun.item_id_of(cfg, item_id)
        return {"jd": "gateway", "taobao": "top", "1688": "aop"}[platform], item_id

    matched: dict[tuple[str, str], set[str]] = {}
    for sku, platform, item_id in q(clean_db, "SELECT m.sku, l.platform, l.item_id FROM match m "
                                              "JOIN listing l USING (listing_id)"):
        route, real = route_and_id(platform, item_id)
        matched.setdefault((sku, route), set()).add(real)
    checked = 0
    for sku, product in setup.catalog.product_of.items():
        if product is None:
            continue
        for route, platform in (("gateway", "jd"), ("top", "taobao"), ("aliyun", "taobao"), ("aop", "1688")):
            listed = {x.item_id for x in world.listings_for(product, platform)
                      if world.is_listed(x.item_id, platform, started)}
            if listed:
                checked += 1
                assert matched.get((sku, route), set()) & listed, (sku, route, listed)
    assert checked > 20

    rows = q(clean_db, "SELECT l.platform, l.item_id, s.captured_at, s.price_low, s.price_high,"
                       " s.promo_price FROM price_snapshot s JOIN listing l USING (listing_id)")
    assert len(rows) == result["n_snapshots"] > 0
    routes = set()
    for platform, item_id, at, low, high, promo in rows:
        route, real = route_and_id(platform, item_id)
        routes.add(route)
        if route == "aliyun":
            served = sb_aliyun.served_price(world, real, at)
        elif route == "aop":
            served = sb_aop.served_price(world, real, at)
        else:
            served = world.served_price(real, platform, at)
        assert (low, high, promo) == served, (route, item_id, at)
    assert routes == {"gateway", "top", "aliyun", "aop"}
    # backfill replay re-parses every route's archived bodies into identical rows
    dump = "SELECT * FROM price_snapshot ORDER BY listing_id, run_id"
    before = q(clean_db, dump)
    (lo, hi), = q(clean_db, "SELECT min(received_at), max(received_at) FROM raw_response")
    out = pipeline.backfill(since=lo, until=hi + timedelta(seconds=1), replay=True,
                                          config=str(setup.config))
    assert out["replay"]["responses"] == groups * 4 and out["replay"]["rejects"] == 0, out
    assert out["replay"]["snapshots_changed"] == 0 and q(clean_db, dump) == before
    leaked = q(clean_db, "SELECT count(*) FROM raw_response WHERE " + " OR ".join(
        f"request::text LIKE '%{s}%' OR body::text LIKE '%{s}%'"
        for s in (*SECRETS, "demo-top-secret", "demo-secret", "demo-aliyun-id")))
    assert leaked == [(0,)]
