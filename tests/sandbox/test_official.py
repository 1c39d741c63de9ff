"""The sandbox's official routes: Aliyun ImageSearch (POP RPC) and 1688 AOP imageQuery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapprice.sandbox import start_in_thread
from snapprice.sandbox.aliyun import decrypt_item_id, encrypt_item_id, item_id_of
from snapprice.sandbox.aliyun_auth import pop_signature
from snapprice.sandbox.aop1688 import NAMESPACE, aop_signature
from snapprice.sandbox.testing import shared_world
from snapprice.search.platforms.signing import aop_sign, pop_sign

pytestmark = pytest.mark.integration
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))

# Aliyun's documented RPC example (DescribeRegions, AccessKeyId testid, secret testsecret).
POP_DOC = {"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
           "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
           "SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"}
AOP_PATH = "param2/1/com.alibaba.fenxiao.crossborder/product.search.imageQuery/1234567"
AOP_PARAMS = {"access_token": "tok",
              "offerQueryParam": '{"imageId":"1","beginPage":1,"pageSize":20,"country":"en"}'}


def independent_pop(params, secret, method):
    """Written from the POP v1 text: sort, RFC 3986 encode, METHOD&%2F&encode(query), key secret&."""
    enc = lambda s: quote(s, safe="~").replace("%7E", "~")  # noqa: E731 - quote keeps -_. itself
    query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{enc('/')}&{enc(query)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def independent_aop(path, params, secret):
    s = path + "".join(k + params[k] for k in sorted(params))
    return hmac.new(secret.encode(), s.encode(), hashlib.sha1).hexdigest().upper()


@pytest.mark.parametrize(("method", "expected"), [
    ("GET", "OLeaidS1JvxuMvnyHOwuJ+uX5qY="),  # the value Aliyun's documentation prints
    ("POST", "MxbnVAM4w6sft9xjVpe/GCKueuk="),
])
def test_pop_signature_vector(method, expected):
    assert independent_pop(POP_DOC, "testsecret", method) == expected
    assert pop_signature(POP_DOC, "testsecret", method) == expected  # sandbox
    assert pop_sign(POP_DOC, "testsecret", method) == expected  # client
    assert pop_sign({**POP_DOC, "Signature": expected}, "testsecret", method) == expected


def test_pop_percent_encoding_of_reserved_characters():
    p = {"A": "a b*c~d/é", "B": "x+y=z&"}
    assert pop_sign(p, "s") == independent_pop(p, "s", "POST") == pop_signature(p, "s")


def test_aop_signature_vector():
    expected = "A50FF38E2E21716D936A84F8C17A35BEA204D346"  # reference §4.1
    assert independent_aop(AOP_PATH, AOP_PARAMS, "testsecret") == expected
    assert aop_signature(AOP_PATH, AOP_PARAMS, "testsecret") == expected
    assert aop_sign(AOP_PATH, AOP_PARAMS, "testsecret") == expected
    assert aop_sign(AOP_PATH, {**AOP_PARAMS, "_aop_signature": expected}, "testsecret") == expected


def test_item_ids_are_opaque_per_pid_and_reversible():
    token = encrypt_item_id(7, "mm_1_2_3", "638566147973")
    assert "638566147973" not in token and len(token) >= 20
    assert decrypt_item_id(7, "mm_1_2_3", token) == "638566147973"
    assert decrypt_item_id(7, "mm_9_9_9", token) is None
    assert encrypt_item_id(7, "mm_9_9_9", "638566147973") != token
    assert decrypt_item_id(7, "mm_1_2_3", "not-a-token!") is None


# ------------------------------------------------------------------------------ fixtures

def picture(world, n=1):
    pid = next(p.product_id for p in world.products[n:] if world.listings_for(p.product_id, "taobao")
               and world.listings_for(p.product_id, "1688"))
    return pid, world.product_image_bytes(pid)


def pop_form(cfg, *, method="POST", secret=None, at=None, nonce=None, **business):
    p = {"Action": "SearchByPic", "Version": "2021-05-01", "Format": "JSON",
         "AccessKeyId": cfg.aliyun_access_key_id, "SignatureMethod": "HMAC-SHA1",
         "SignatureVersion": "1.0", "SignatureNonce": nonce or uuid.uuid4().hex,
         "Timestamp": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "Pid": cfg.aliyun_pids[0], **business}
    p = {k: v for k, v in p.items() if v is not None}
    p["Signature"] = independent_pop(p, secret or cfg.aliyun_access_key_secret, method)
    return p


def aop_call(client, sb, api, business, *, token=None, secret=None, app_key=None, ts=None):
    cfg = sb.config
    key = app_key or cfg.aop_app_key
    path = f"param2/1/{NAMESPACE}/{api}/{key}"
    form = {**business, "access_token": token or cfg.aop_access_tokens[0],
            "_aop_timestamp": ts or str(int(time.time() * 1000))}
    form["_aop_signature"] = independent_aop(path, form, secret or cfg.aop_app_secret)
    return client.post(f"{sb.base_url}/openapi/{path}", data=form)


def upload(client, sb, data: bytes) -> str:
    r = aop_call(client, sb, "product.image.upload",
                 {"uploadImageParam": json.dumps({"imageBase64": base64.b64encode(data).decode()})})
    assert r.status_code == 200, r.text
    return r.json()["result"]["result"]


def query(client, sb, image_id, **q):
    return aop_call(client, sb, "product.search.imageQuery", {"offerQueryParam": json.dumps(
        {"imageId": image_id, "beginPage": 1, "pageSize": 20, "country": "en", **q})})


# ------------------------------------------------------------------------------ Aliyun

def test_aliyun_search_by_pic_serves_taobao_listings_of_the_product(sandbox, client):
    world = sandbox.world
    pid, data = picture(world)
    r = client.post(sandbox.base_url + "/", data=pop_form(
        sandbox.config, PicContent=base64.b64encode(data).decode(), Num="20",
        Fields="ItemId,Volume,Nick"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["Success"] is True and body["Code"] == 0
    auctions = body["Data"]["Auctions"]
    ids = {item_id_of(sandbox.config, a["Result"]["ItemId"]) for a in auctions}
    assert ids and ids <= {x.item_id for x in world.listings_for(pid, "taobao")}
    first = auctions[0]["Result"]
    assert set(first) == {"ItemId", "Volume", "Nick", "PicUrl", "ReservePrice", "Title", "Url",
                          "ZkFinalPrice"}
    assert isinstance(first["Volume"], int) and auctions[0]["RankScore"] >= 0.88
    assert client.get(first["PicUrl"]).status_code == 200


def test_aliyun_paging_with_start_and_num(sandbox, client):
    _pid, data = picture(sandbox.world, 3)
    pic = base64.b64encode(data).decode()
    whole = client.post(sandbox.base_url + "/", data=pop_form(sandbox.config, PicContent=pic,
                                                               Num="20", Fields="ItemId")).json()
    ids = [a["Result"]["ItemId"] for a in whole["Data"]["Auctions"]]
    parts = []
    for start in range(0, len(ids), 1):
        got = client.post(sandbox.base_url + "/", data=pop_form(
            sandbox.config, PicContent=pic, Start=str(start), Num="1", Fields="ItemId")).json()
        parts += [a["Result"]["ItemId"] for a in got["Data"]["Auctions"]]
    assert parts == ids


def test_aliyun_search_by_url_signed_with_get(sandbox, client):
    pid, _ = picture(sandbox.world)
    url = f"{sandbox.base_url}/img/product/{pid}.jpg"
    p = pop_form(sandbox.config, method="GET", Action="SearchByUrl", PicUrl=url, Num="5")
    r = client.get(sandbox.base_url + "/", params=p)
    assert r.status_code == 200 and r.json()["Data"]["Auctions"], r.text


def _aliyun_case(cfg, case):
    stale = datetime.now(UTC) - timedelta(hours=1)
    pic = base64.b64encode(b"\xff\xd8 not a jpeg").decode()
    return {
        "missing_action": pop_form(cfg, Action=None, PicContent=pic) | {"Action": ""},
        "unknown_action": pop_form(cfg, Action="DeleteAll", PicContent=pic),
        "bad_version": pop_form(cfg, Version="2020-01-01", PicContent=pic),
        "unknown_key": pop_form(cfg, AccessKeyId="LTAI-nobody", PicContent=pic),
        "wrong_secret": pop_form(cfg, secret="guess", PicContent=pic),
        "stale": pop_form(cfg, at=stale, PicContent=pic),
        "bad_timestamp": {**pop_form(cfg, PicContent=pic), "Timestamp": "2024-01-01 10:00:00"},
        "no_signature": {k: v for k, v in pop_form(cfg, PicContent=pic).items() if k != "Signature"},
        "unknown_pid": pop_form(cfg, Pid="mm_0_0_0", PicContent=pic),
        "start_too_far": pop_form(cfg, Start="500", PicContent=pic),
        "num_too_big": pop_form(cfg, Num="21", PicContent=pic),
        "not_a_picture": pop_form(cfg, PicContent=pic),
        "no_picture": pop_form(cfg),
        "url_not_loopback": pop_form(cfg, Action="SearchByUrl", PicUrl="https://example.com/a.jpg"),
    }[case]


@pytest.mark.parametrize(("case", "status", "code"), [
    ("missing_action", 400, "MissingParameter"),
    ("unknown_action", 404, "InvalidAction.NotFound"),
    ("bad_version", 400, "InvalidVersion"),
    ("unknown_key", 404, "InvalidAccessKeyId.NotFound"),
    ("wrong_secret", 400, "SignatureDoesNotMatch"),
    ("stale", 400, "InvalidTimeStamp.Expired"),
    ("bad_timestamp", 400, "InvalidTimeStamp.Format"),
    ("no_signature", 400, "IncompleteSignature"),
    ("unknown_pid", 403, "Forbidden.InvalidPid"),
    ("start_too_far", 400, "InvalidParameter.Start"),
    ("num_too_big", 400, "InvalidParameter.Num"),
    ("not_a_picture", 200, 1001),
    ("no_picture", 400, "MissingParameter"),
    ("url_not_loopback", 400, "InvalidParameter.PicUrl"),
])
def test_aliyun_rules(sandbox, client, case, status, code):
    r = client.post(sandbox.base_url + "/", data=_aliyun_case(sandbox.config, case))
    assert (r.status_code, r.json()["Code"]) == (status, code), r.text
    if status == 200:
        assert r.json()["Success"] is False
    else:
        assert r.json()["RequestId"] and r.json()["Message"]


def test_aliyun_replayed_nonce_is_refused(sandbox, client):
    _pid, data = picture(sandbox.world)
    form = pop_form(sandbox.config, PicContent=base64.b64encode(data).decode(), Num="1")
    assert client.post(sandbox.base_url + "/", data=form).status_code == 200
    again = client.post(sandbox.base_url + "/", data=form)
    assert (again.status_code, again.json()["Code"]) == (400, "SignatureNonceUsed")


def test_aliyun_throttling_and_quota():
    world = shared_world(60)
    with start_in_thread(world.config.model_copy(update={"qps": 2.0, "daily_quota": 3}),
                         world=world) as sb, httpx.Client(timeout=15) as c:
        pic = base64.b64encode(b"x" * 10).decode()
        codes = [c.post(sb.base_url + "/", data=pop_form(sb.config, PicContent=pic)).json()["Code"]
                 for _ in range(3)]
        assert codes[:2] == [1001, 1001] and codes[2] == "Throttling.User"  # burst of 2, no ban
        time.sleep(0.6)
        assert c.post(sb.base_url + "/", data=pop_form(sb.config, PicContent=pic)).json()["Code"] == 1001
        time.sleep(0.6)
        r = c.post(sb.base_url + "/", data=pop_form(sb.config, PicContent=pic))
        assert (r.status_code, r.json()["Code"]) == (403, "QuotaExhausted")
        stats = sb.stats()["protocols"]["aliyun"]
        assert stats["bans"] == 1 and stats["refused"]["QuotaExhausted"] == 1


# ------------------------------------------------------------------------------ 1688

def test_aop_upload_then_query_pages(sandbox, client):
    world = sandbox.world
    pid, data = picture(world, 2)
    image_id = upload(client, sandbox, data)
    assert image_id.isdigit()
    first = query(client, sandbox, image_id, pageSize=1).json()["result"]
    assert first["success"] == "true"
    inner = first["result"]
    truth = {x.item_id for x in world.listings_for(pid, "1688")}
    assert inner["totalPage"] == inner["totalRecords"] >= 1
    seen = []
    for page in range(1, inner["totalPage"] + 1):
        got = query(client, sandbox, image_id, pageSize=1, beginPage=page).json()["result"]["result"]
        seen += [str(o["offerId"]) for o in got["data"]]
    assert len(seen) == len(set(seen)) == inner["totalRecords"]
    assert set(seen) <= truth
    offer = got["data"][0]
    assert isinstance(offer["offerId"], int) and isinstance(offer["priceInfo"]["price"], str)
    asc = query(client, sandbox, image_id, sort=json.dumps({"price": "asc"})).json()["result"]["result"]
    prices = [float(o["priceInfo"]["price"]) for o in asc["data"]]
    assert prices == sorted(prices)


@pytest.mark.parametrize(("case", "status", "code"), [
    ("unknown_app_key", 400, "gw.AppKeyNotFound"),
    ("unsupported_api", 400, "gw.APIUnsupported"),
    ("no_signature", 400, "gw.SignatureMissing"),
    ("wrong_secret", 400, "gw.SignatureInvalid"),
    ("stale_timestamp", 400, "gw.TimestampExpired"),
    ("missing_app_key", 400, "gw.AppKeyMissing"),
])
def test_aop_gateway_rules(sandbox, client, case, status, code):
    body = {"offerQueryParam": json.dumps({"imageId": "1", "country": "en"})}
    if case == "unknown_app_key":
        r = aop_call(client, sandbox, "product.search.imageQuery", body, app_key="999")
    elif case == "unsupported_api":
        r = aop_call(client, sandbox, "product.search.keywordQuery", body)
    elif case == "no_signature":
        path = f"param2/1/{NAMESPACE}/product.search.imageQuery/{sandbox.config.aop_app_key}"
        r = client.post(f"{sandbox.base_url}/openapi/{path}", data={**body, "access_token": "demo-aop-token"})
    elif case == "wrong_secret":
        r = aop_call(client, sandbox, "product.search.imageQuery", body, secret="guess")
    elif case == "stale_timestamp":
        r = aop_call(client, sandbox, "product.search.imageQuery", body,
                     ts=str(int((time.time() - 3600) * 1000)))
    else:
        r = client.post(f"{sandbox.base_url}/openapi/param2/1/{NAMESPACE}/product.search.imageQuery", data=body)
    assert (r.status_code, r.json()["error_code"]) == (status, code), r.text


def test_aop_bad_token_is_401(sandbox, client):
    r = aop_call(client, sandbox, "product.search.imageQuery", {"offerQueryParam": "{}"}, token="expired")
    assert r.status_code == 401 and "Request need user authenticated" in r.text


@pytest.mark.parametrize(("offer_query", "code"), [
    (None, "400"),
    ("not json", "400"),
    ({"imageId": "12345", "country": "en"}, "404"),
    ({"imageId": "UPLOADED", "country": "en", "pageSize": 51}, "400"),
    ({"imageId": "UPLOADED"}, "400"),
    ({"imageId": "UPLOADED", "country": "en", "sort": "{\"monthSold\":\"desc\"}"}, "400"),
])
def test_aop_business_errors(sandbox, client, offer_query, code):
    image_id = upload(client, sandbox, picture(sandbox.world)[1])
    business = {}
    if isinstance(offer_query, dict):
        offer_query = json.dumps({k: image_id if v == "UPLOADED" else v for k, v in offer_query.items()})
    if offer_query is not None:
        business["offerQueryParam"] = offer_query
    r = aop_call(client, sandbox, "product.search.imageQuery", business)
    assert r.status_code == 200
    assert r.json()["result"]["success"] == "false" and r.json()["result"]["code"] == code


def test_aop_data_uri_upload_gives_an_empty_id(sandbox, client):
    data = picture(sandbox.world)[1]
    r = aop_call(client, sandbox, "product.image.upload", {"uploadImageParam": json.dumps(
        {"imageBase64": "data:image/jpeg;base64," + base64.b64encode(data).decode()})})
    assert r.json()["result"]["result"] == ""


def test_aop_acl_qps_and_quota():
    world = shared_world(60)
    cfg = world.config.model_copy(update={"qps": 2.0, "daily_quota": 3,
                                          "aop_granted_apis": ("product.image.upload",)})
    with start_in_thread(cfg, world=world) as sb, httpx.Client(timeout=15) as c:
        body = {"offerQueryParam": "{}"}
        r = aop_call(c, sb, "product.search.imageQuery", body)
        assert (r.status_code, r.json()["error_code"], r.json()["error_message"]) == \
            (400, "gw.APIACLDecline", "AppKey is not allowed(acl)")
        up = {"uploadImageParam": json.dumps({"imageBase64": "AAAA"})}
        codes = [aop_call(c, sb, "product.image.upload", up).json() for _ in range(3)]
        assert [x.get("error_code") for x in codes] == [None, None, "gw.QpsOverrun"]
        time.sleep(0.6)
        aop_call(c, sb, "product.image.upload", up)
        time.sleep(0.6)
        r = aop_call(c, sb, "product.image.upload", up)
        assert (r.status_code, r.json()["error_code"]) == (400, "gw.NoUsageLeftError")
        assert r.json()["error_message"] == "SLA bill has no usage left"
        assert sb.stats()["protocols"]["aop_upload"]["bans"] == 1


def test_aop_and_aliyun_faults_are_injected():
    world = shared_world(60)
    cfg = world.config.model_copy(update={"faults": {"aliyun": {"code15": 1.0},
                                                     "aop": {"http_503": 1.0}}})
    with start_in_thread(cfg, world=world) as sb, httpx.Client(timeout=15) as c:
        r = c.post(sb.base_url + "/", data=pop_form(sb.config, PicContent="AAAA"))
        assert (r.status_code, r.json()["Code"]) == (500, "InternalError")
        r = aop_call(c, sb, "product.image.upload", {"uploadImageParam": "{}"})
        assert r.status_code == 503
        stats = sb.stats()["protocols"]
        assert stats["aliyun"]["faults"] == {"code15": 1} and stats["aop_upload"]["faults"] == {"http_503": 1}


# ------------------------------------------------------------------------------ fuzz

values = st.one_of(st.text(max_size=30), st.integers(-5, 10**6).map(str), st.sampled_from(
    ["", "0", "1", "20", "499", "500", "JSON", "XML", "HMAC-SHA1", "1.0", "2021-05-01", "SearchByPic",
     "SearchByUrl", "http://127.0.0.1:1/x.jpg", "https://example.com/a.jpg", "AAAA", "²", "true",
     "{}", "[]", "null", '{"imageId":"1","country":"en"}', '{"imageBase64":"AAAA"}']))
pop_names = st.sampled_from(["Action", "Version", "Format", "AccessKeyId", "SignatureMethod",
                             "SignatureVersion", "SignatureNonce", "Timestamp", "Signature", "Pid",
                             "PicContent", "PicUrl", "Start", "Num", "Fields", "CategoryId", "Crop",
                             "Region"])


@FUZZ
@given(overrides=st.dictionaries(pop_names, values, max_size=6), drop=st.lists(pop_names, max_size=3),
       resign=st.booleans(), get=st.booleans())
def test_aliyun_never_500(sandbox, client, overrides, drop, resign, get):
    p = pop_form(sandbox.config, method="GET" if get else "POST", PicContent="AAAA")
    p.update(overrides)
    for name in drop:
        p.pop(name, None)
    if resign:
        p.pop("Signature", None)
        p["Signature"] = independent_pop(p, sandbox.config.aliyun_access_key_secret,
                                         "GET" if get else "POST")
    r = client.get(sandbox.base_url + "/", params=p) if get else client.post(sandbox.base_url + "/", data=p)
    assert r.status_code < 500, r.text[:300]
    body = r.json()
    assert "Code" in body and body["RequestId"]


aop_names = st.sampled_from(["offerQueryParam", "uploadImageParam", "access_token", "_aop_timestamp",
                             "_aop_signature", "x"])
query_fields = st.dictionaries(st.sampled_from(["imageId", "beginPage", "pageSize", "country", "sort",
                                                "categoryId"]),
                               st.one_of(values, st.integers(-3, 100), st.none(), st.booleans()),
                               max_size=5)


@FUZZ
@given(params=st.dictionaries(aop_names, values, max_size=5), q=st.one_of(st.none(), query_fields),
       api=st.sampled_from(["product.image.upload", "product.search.imageQuery", "x.y"]),
       sign=st.booleans(), app_key=st.sampled_from(["7654321", "1", "%20"]))
def test_aop_never_500(sandbox, client, params, q, api, sign, app_key):
    if q is not None:
        params["offerQueryParam"] = json.dumps(q)
    params.setdefault("access_token", "demo-aop-token")
    path = f"param2/1/{NAMESPACE}/{api}/{app_key}"
    if sign:
        params["_aop_signature"] = independent_aop(path, {k: v for k, v in params.items()
                                                          if k != "_aop_signature"},
                                                   sandbox.config.aop_app_secret)
    r = client.post(f"{sandbox.base_url}/openapi/{path}", data=params)
    assert r.status_code in (200, 400, 401), r.text[:300]
    if r.status_code != 401:
        body = r.json()
        assert "error_code" in body or body["result"]["success"] in ("true", "false")
