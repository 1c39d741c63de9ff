"""The vendors' own SDKs, unmodified, against the sandbox: what real clients send must pass,
and what the real services refuse must be refused with the vendor's error.

Aliyun: ``alibabacloud-imagesearch20210501`` on ``alibabacloud-tea-openapi`` (signature V3 by
default; ``signature_algorithm="v2"`` is its name for the RPC HMAC-SHA1 signature, our V1).
TOP: ``topsdk``, Taobao's generated Python SDK (md5, epoch-ms timestamp, ``partner_id``); it
ships no request class for the two methods the sandbox serves, so they are declared here the
way its generated classes are (a ``RestApi`` subclass naming the method and its fields).
No 1688 client on PyPI is maintained (docs/platforms.md), so none runs here.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
import warnings

import httpx
import pytest
from alibabacloud_imagesearch20210501 import models as image_search
from alibabacloud_imagesearch20210501.client import Client as ImageSearchClient
from alibabacloud_tea_openapi import models as open_api
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils import Utils as OpenApiUtils
from alibabacloud_tea_util.models import ExtendsParameters, RuntimeOptions
from darabonba.request import DaraRequest

with warnings.catch_warnings():
    # topsdk's base.py compares with `is not 200`: a SyntaxWarning when it is first compiled.
    warnings.simplefilter("ignore", SyntaxWarning)
    import top
    from top.api.base import RestApi, TopException

from snapprice.models import QueryImage
from snapprice.sandbox import start_in_thread
from snapprice.sandbox.aliyun import item_id_of
from snapprice.sandbox.testing import shared_world
from snapprice.search.platforms import AliyunImageSearchClient
from snapprice.search.platforms.signing import acs3_authorization
from snapprice.settings import PlatformSettings
from tests.sandbox.vectors import EMPTY_SHA256, V3_DOC_AUTHORIZATION, V3_DOC_HEADERS, V3_DOC_KEY, V3_DOC_QUERY

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world():
    return shared_world(60)


@pytest.fixture(scope="module")
def sandbox(world):
    with start_in_thread(world.config.model_copy(update={"qps": 100_000.0, "faults": {}}),
                         world=world) as handle:
        yield handle


@pytest.fixture(scope="module")
def late_sandbox(world):
    """A sandbox whose clock runs an hour ahead: every SDK's own timestamp is stale to it."""
    with start_in_thread(world.config.model_copy(update={"qps": 100_000.0, "faults": {}}),
                         world=world, clock=lambda: time.time() + 3600) as handle:
        yield handle


def a_product(world, platform="taobao"):
    return next(p.product_id for p in world.products[1:] if world.listings_for(p.product_id, platform))


def listings(world, product_id):
    return {x.item_id for x in world.listings_for(product_id, "taobao")}


# ------------------------------------------------------------------------------ Aliyun

def aliyun(sb, *, secret=None, signature_algorithm=None) -> ImageSearchClient:
    return ImageSearchClient(open_api.Config(
        access_key_id=sb.config.aliyun_access_key_id,
        access_key_secret=secret or sb.config.aliyun_access_key_secret,
        endpoint=sb.base_url.removeprefix("http://"), protocol="http", region_id="cn-shanghai",
        signature_algorithm=signature_algorithm, connect_timeout=5000, read_timeout=10000))


def by_pic(sb, product_id) -> image_search.SearchByPicRequest:
    return image_search.SearchByPicRequest(
        pic_content=base64.b64encode(sb.world.product_image_bytes(product_id)).decode(),
        pid=sb.config.aliyun_pids[0], num=20, fields="ItemId,Volume", crop=True, user_type=0)


@pytest.mark.parametrize("signature_algorithm", [None, "v2"], ids=["v3", "v1"])
def test_aliyun_sdk_searches_by_picture(sandbox, world, signature_algorithm):
    product = a_product(world)
    r = aliyun(sandbox, signature_algorithm=signature_algorithm).search_by_pic_with_options(
        by_pic(sandbox, product), RuntimeOptions())
    assert r.status_code == 200 and r.body.success and r.body.code == 0
    found = {item_id_of(sandbox.config, a.result.item_id) for a in r.body.data.auctions}
    assert found and found <= listings(world, product)


def test_aliyun_sdk_searches_by_url(sandbox, world):
    product = a_product(world)
    r = aliyun(sandbox).search_by_url_with_options(image_search.SearchByUrlRequest(
        pic_url=f"{sandbox.base_url}/img/product/{product}.jpg", pid=sandbox.config.aliyun_pids[0],
        num=5, fields="ItemId"), RuntimeOptions())
    found = {item_id_of(sandbox.config, a.result.item_id) for a in r.body.data.auctions}
    assert found and found <= listings(world, product)


def refusal(call) -> tuple[int, str]:
    with pytest.raises(ClientException) as info:
        call()
    return info.value.status_code, info.value.code


@pytest.mark.parametrize("signature_algorithm", [None, "v2"], ids=["v3", "v1"])
def test_aliyun_sdk_wrong_secret_and_stale_clock(sandbox, late_sandbox, world, signature_algorithm):
    product = a_product(world)
    wrong = aliyun(sandbox, secret="guess", signature_algorithm=signature_algorithm)
    assert refusal(lambda: wrong.search_by_pic_with_options(by_pic(sandbox, product), RuntimeOptions())) \
        == (400, "SignatureDoesNotMatch")
    late = aliyun(late_sandbox, signature_algorithm=signature_algorithm)
    assert refusal(lambda: late.search_by_pic_with_options(by_pic(late_sandbox, product), RuntimeOptions())) \
        == (400, "InvalidTimeStamp.Expired")


def test_aliyun_sdk_replayed_nonce(sandbox, world):
    # ExtendsParameters is the SDK's own way to set a request header; the nonce is then signed.
    runtime = RuntimeOptions(extends_parameters=ExtendsParameters(
        headers={"x-acs-signature-nonce": uuid.uuid4().hex}))
    client, request = aliyun(sandbox), by_pic(sandbox, a_product(world))
    assert client.search_by_pic_with_options(request, runtime).status_code == 200
    assert refusal(lambda: client.search_by_pic_with_options(request, runtime)) == (400, "SignatureNonceUsed")


def sdk_authorization(method, query, headers, payload_sha256, key_id, secret) -> str:
    """The SDK's own V3 signer (alibabacloud_tea_openapi.utils.Utils.get_authorization)."""
    request = DaraRequest()
    request.method, request.pathname, request.query, request.headers = method, "/", dict(query), dict(headers)
    return OpenApiUtils.get_authorization(request, "ACS3-HMAC-SHA256", payload_sha256, key_id, secret)


def test_sdk_signer_agrees_with_the_documented_example_and_ours():
    assert sdk_authorization("POST", V3_DOC_QUERY, V3_DOC_HEADERS, EMPTY_SHA256, *V3_DOC_KEY) \
        == V3_DOC_AUTHORIZATION
    body = b"Num=5&PicContent=QUJD%2B%2F%3D&Pid=mm_1_2_3"
    headers = {"host": "imagesearch.cn-shanghai.aliyuncs.com",
               "content-type": "application/x-www-form-urlencoded", "x-acs-action": "SearchByPic",
               "x-acs-version": "2021-05-01", "x-acs-date": "2026-01-02T03:04:05Z",
               "x-acs-signature-nonce": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
               "x-acs-content-sha256": hashlib.sha256(body).hexdigest()}
    digest = headers["x-acs-content-sha256"]
    assert sdk_authorization("POST", {"UserType": "1"}, headers, digest, "AK", "SK") == \
        acs3_authorization("POST", "/", {"UserType": "1"}, headers, digest, "AK", "SK")


@pytest.mark.parametrize("url", [None, "https://img.example.com/a b.jpg"])
def test_our_clients_v3_requests_are_signed_as_the_sdk_signs(url):
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"Success": True, "Code": 0, "Data": {"Auctions": []}})

    async def search() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            section = PlatformSettings(protocol="aliyun-imagesearch", platform="taobao",
                                       base_url="https://imagesearch.cn-shanghai.aliyuncs.com",
                                       options={"pid": "mm_1_2_3", "category_id": 88888888, "crop": True})
            client = AliyunImageSearchClient("a", section, {"access_key_id": "AK", "access_key_secret": "SK"}, http)
            await client.search(QueryImage(digest="d", data=bytes(range(256)), url=url), 3)

    asyncio.run(search())
    (r,) = sent
    signed = {k: v for k, v in r.headers.items() if k in ("host", "content-type") or k.startswith("x-acs-")}
    digest = hashlib.sha256(r.content).hexdigest()
    assert r.headers["x-acs-content-sha256"] == digest
    assert r.headers["authorization"] == sdk_authorization("POST", dict(r.url.params), signed, digest, "AK", "SK")


# ------------------------------------------------------------------------------ TOP

class ItemSearchImgRequest(RestApi):
    def __init__(self, domain, port):
        RestApi.__init__(self, domain, port)
        self.img = None
        self.page_size = None

    def getapiname(self):
        return "taobao.item.search.img"


class TbkDgPailitaoWidgetConvertRequest(RestApi):
    def __init__(self, domain, port):
        RestApi.__init__(self, domain, port)
        self.adzone_id = None

    def getapiname(self):
        return "taobao.tbk.dg.pailitao.widget.convert"


def top_request(cls, sb, *, secret=None):
    req = cls(sb.host, sb.port)
    req.set_app_info(top.appinfo(sb.config.top_app_key, secret or sb.config.top_app_secret))
    return req


def search_img(sb, product_id, *, secret=None):
    req = top_request(ItemSearchImgRequest, sb, secret=secret)
    req.img = base64.b64encode(sb.world.product_image_bytes(product_id)).decode()
    req.page_size = 20
    return req.getResponse(timeout=10)


def test_top_sdk_searches_by_picture_and_converts_the_widget(sandbox, world):
    product = a_product(world)
    found = search_img(sandbox, product)["item_search_img_response"]["result_list"]["map_data"]
    assert found and {x["num_iid"] for x in found} <= listings(world, product)
    convert = top_request(TbkDgPailitaoWidgetConvertRequest, sandbox)
    convert.adzone_id = 34567890
    assert convert.getResponse(timeout=10)["tbk_dg_pailitao_widget_convert_response"]["url"]


def test_top_sdk_wrong_secret_and_stale_clock(sandbox, late_sandbox, world):
    product = a_product(world)
    with pytest.raises(TopException) as info:
        search_img(sandbox, product, secret="guess")
    assert (info.value.errorcode, info.value.subcode) == (25, "isv.invalid-signature")
    with pytest.raises(TopException) as info:
        search_img(late_sandbox, product)
    assert info.value.errorcode == 31  # TOP signs no nonce: a replay within the window passes
