"""The sandbox's TOP router: signatures, system-parameter checks, limits and envelopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from snapprice.sandbox import start_in_thread
from snapprice.sandbox.testing import shared_world, top_params
from snapprice.sandbox.top import response_name, top_sign

CHINA = timezone(timedelta(hours=8))
VECTOR_PARAMS = {"adzone_id": "111222333", "app_key": "12345678", "format": "json",
                 "method": "taobao.tbk.dg.pailitao.widget.convert", "timestamp": "2024-01-01 12:00:00",
                 "type": "0", "v": "2.0"}


def reference_sign(params, secret, method):
    """Written from the reference text, independently of the sandbox's code."""
    s = "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign" and params[k] != "")
    if method == "md5":
        return hashlib.md5(f"{secret}{s}{secret}".encode()).hexdigest().upper()
    digest = hashlib.md5 if method == "hmac" else hashlib.sha256
    return hmac.new(secret.encode(), s.encode(), digest).hexdigest().upper()


@pytest.mark.parametrize(("params", "secret", "method", "expected"), [
    ({**VECTOR_PARAMS, "sign_method": "md5"}, "testsecret", "md5", "97B287673A43706F7AAE2384CCDE13BB"),
    ({**VECTOR_PARAMS, "sign_method": "hmac"}, "testsecret", "hmac", "82C5A90A785BB6C8B992F86FE757632D"),
    ({**VECTOR_PARAMS, "sign_method": "hmac-sha256"}, "testsecret", "hmac-sha256",
     "EA33045137DB565B382AEBF56A228AEEC1F7E3F0F77F1B4E9C42E6F11CAFAE0F"),
    ({"foo": "1", "bar": "2", "foo_bar": "3", "foobar": "4"}, "helloworld", "md5",
     "5AAF1C690262A24768F5478B084C2C8A"),
])
def test_sign_vectors(params, secret, method, expected):
    assert reference_sign(params, secret, method) == expected
    assert top_sign(params, secret, method) == expected


def test_empty_values_are_not_signed():
    p = {"a": "1", "b": ""}
    assert top_sign(p, "s", "md5") == top_sign({"a": "1"}, "s", "md5")


@pytest.mark.parametrize(("method", "name"), [
    ("taobao.item.search.img", "item_search_img_response"),
    ("taobao.tbk.dg.pailitao.widget.convert", "tbk_dg_pailitao_widget_convert_response"),
    ("aliexpress.social.ins.imgsearch", "aliexpress_social_ins_imgsearch_response"),
])
def test_response_name(method, name):
    assert response_name(method) == name


@pytest.fixture(scope="module")
def sandbox():
    world = shared_world(60)
    with start_in_thread(world.config, world=world) as handle:
        yield handle


def call(client, sandbox, params, files=None, data=None):
    """System params in the query string, business params in the form, files in multipart."""
    system = {"method", "app_key", "timestamp", "format", "v", "sign_method", "sign", "session", "simplify"}
    query = {k: v for k, v in params.items() if k in system}
    form = {k: v for k, v in params.items() if k not in system}
    form.update(data or {})
    r = client.post(f"{sandbox.base_url}/router/rest", params=query, data=form, files=files)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def product_on_taobao(world, least=1):
    return next(p for p in world.products if len(world.listings_for(p.product_id, "taobao")) >= least)


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_search_by_multipart_image(client, sandbox, sign_method):
    world = sandbox.world
    p = product_on_taobao(world)
    params = top_params(sandbox.config, sign_method=sign_method)
    body = call(client, sandbox, params,
                files={"image": ("q.jpg", world.product_image_bytes(p.product_id), "image/jpeg")})
    res = body["item_search_img_response"]
    assert res["request_id"] and res["page_no"] == 1 and res["page_size"] == 20
    items = res["result_list"]["map_data"]
    assert res["total_results"] == len(items) >= 1
    assert items[0]["num_iid"] in {x.item_id for x in world.listings_for(p.product_id, "taobao")}
    assert items[0]["pic_url"].startswith("http://")


def test_search_by_base64_and_by_url_simplified(client, sandbox):
    world = sandbox.world
    p = product_on_taobao(world)
    img = base64.b64encode(world.product_image_bytes(p.product_id)).decode()
    a = call(client, sandbox, top_params(sandbox.config, img=img))
    url = f"{sandbox.base_url}/img/product/{p.product_id}.jpg"
    b = call(client, sandbox, top_params(sandbox.config, image_url=url, simplify="true"))
    assert isinstance(b["result_list"], list) and "request_id" in b
    assert [i["num_iid"] for i in a["item_search_img_response"]["result_list"]["map_data"]] == \
        [i["num_iid"] for i in b["result_list"]]


def test_no_match_is_an_empty_success(client, sandbox):
    world = sandbox.world
    p = next(p for p in world.products if not world.listings_for(p.product_id, "taobao"))
    url = f"{sandbox.base_url}/img/product/{p.product_id}.jpg"
    res = call(client, sandbox, top_params(sandbox.config, image_url=url))["item_search_img_response"]
    assert res["total_results"] == 0 and res["result_list"]["map_data"] == []


def _stale():
    return datetime.now(CHINA) - timedelta(minutes=11)


CASES = [
    # (what, params mutator, code, sub_code pattern)
    ("missing method", lambda p: p.pop("method"), 21, None),
    ("unknown method", lambda p: p.update(method="taobao.nope"), 22, None),
    ("missing app_key", lambda p: p.pop("app_key"), 28, None),
    ("unknown app_key", lambda p: p.update(app_key="999"), 29, None),
    ("missing sign", lambda p: p.pop("sign"), 24, None),
    ("wrong sign", lambda p: p.update(sign="0" * 64), 25, "isv.invalid-signature"),
    ("bad sign_method", lambda p: p.update(sign_method="sha1"), 25, None),
    ("missing timestamp", lambda p: p.pop("timestamp"), 30, None),
    ("garbled timestamp", lambda p: p.update(timestamp="yesterday"), 31, "isv.invalid-parameter:timestamp"),
    ("missing v", lambda p: p.pop("v"), 32, None),
    ("bad v", lambda p: p.update(v="two"), 33, None),
    ("old v", lambda p: p.update(v="1.0"), 34, None),
    ("xml format", lambda p: p.update(format="xml"), 23, None),
    ("ungranted method", lambda p: p.update(method="taobao.tbk.item.info.get"), 11, "isv.permission"),
]


@pytest.mark.parametrize(("what", "mutate", "code", "sub"), CASES, ids=[c[0] for c in CASES])
def test_system_param_errors(client, sandbox, what, mutate, code, sub):
    p = top_params(sandbox.config, img="AAAA")
    mutate(p)
    if what in ("unknown method", "bad v", "old v", "xml format", "ungranted method"):
        p["sign"] = top_sign(p, sandbox.config.top_app_secret, p["sign_method"])  # only that is wrong
    err = call(client, sandbox, p)["error_response"]
    assert err["code"] == code, err
    assert err["msg"] and err["request_id"]
    if sub:
        assert err["sub_code"].startswith(sub)


def test_stale_timestamp_is_31(client, sandbox):
    err = call(client, sandbox, top_params(sandbox.config, at=_stale(), img="AAAA"))["error_response"]
    assert err["code"] == 31 and "600" in err["sub_msg"]


def test_epoch_millisecond_timestamp_is_accepted(client, sandbox):
    p = top_params(sandbox.config, img="AAAA")
    p["timestamp"] = str(int(datetime.now(CHINA).timestamp() * 1000))
    p["sign"] = top_sign(p, sandbox.config.top_app_secret, p["sign_method"])
    err = call(client, sandbox, p)["error_response"]
    assert err["code"] == 41  # past the timestamp check; only the picture is wrong


def test_file_part_is_not_signed(client, sandbox):
    """Signing the image bytes (a common client bug) is wrong; the correct sign ignores them."""
    world = sandbox.world
    data = world.product_image_bytes(world.products[0].product_id)
    p = top_params(sandbox.config)
    body = call(client, sandbox, p, files={"image": ("q.jpg", data, "image/jpeg")})
    assert "item_search_img_response" in body


@pytest.mark.parametrize(("business", "code", "sub"), [
    ({}, 40, "isv.missing-parameter:image"),
    ({"img": "@@@"}, 41, "isv.invalid-parameter:img"),
    ({"img": base64.b64encode(b"plain text").decode()}, 41, "isv.invalid-parameter:img"),
    ({"img": "AAAA", "image_url": "http://127.0.0.1/x.jpg"}, 41, "isv.invalid-parameter:image"),
    ({"image_url": "http://example.com/x.jpg"}, 41, "isv.invalid-parameter:image_url"),
    ({"image_url": "http://127.0.0.1:1/x.jpg"}, 15, "isv.image-download-failed"),
    ({"img": "AAAA", "sort": "best"}, 41, "isv.invalid-parameter:sort"),
    ({"img": "AAAA", "page_no": "0"}, 41, "isv.invalid-parameter:page_no"),
    ({"img": "AAAA", "cat": "x"}, 41, "isv.invalid-parameter:cat"),
])
def test_business_param_errors(client, sandbox, business, code, sub):
    err = call(client, sandbox, top_params(sandbox.config, **business))["error_response"]
    assert err["code"] == code and err["sub_code"] == sub, err


def test_widget_convert(client, sandbox):
    m = "taobao.tbk.dg.pailitao.widget.convert"
    body = call(client, sandbox, top_params(sandbox.config, m, adzone_id="123"))
    assert body["tbk_dg_pailitao_widget_convert_response"]["url"].startswith("https://")
    err = call(client, sandbox, top_params(sandbox.config, m))["error_response"]
    assert err["code"] == 40


def test_get_and_form_only_requests_work(client, sandbox):
    p = top_params(sandbox.config, "taobao.tbk.dg.pailitao.widget.convert", adzone_id="1")
    assert "tbk_dg_pailitao_widget_convert_response" in client.get(
        f"{sandbox.base_url}/router/rest", params=p).json()
    assert "tbk_dg_pailitao_widget_convert_response" in client.post(
        f"{sandbox.base_url}/router/rest", data=p).json()
    r = client.put(f"{sandbox.base_url}/router/rest", params=p)
    assert r.json()["error_response"]["code"] == 9


def test_qps_ban_is_code_7_with_seconds():
    world = shared_world(60)
    cfg = world.config.model_copy(update={"qps": 1.0, "ban_seconds": 4})
    with start_in_thread(cfg, world=world) as sb, httpx.Client() as c:
        m = "taobao.tbk.dg.pailitao.widget.convert"
        bodies = [c.post(f"{sb.base_url}/router/rest", data=top_params(cfg, m, adzone_id="1")).json()
                  for _ in range(3)]
        assert "tbk_dg_pailitao_widget_convert_response" in bodies[0]
        err = bodies[1]["error_response"]
        assert err["code"] == 7 and err["msg"] == "App Call Limited"
        assert err["sub_code"].startswith("accesscontrol.")
        n = int(re.fullmatch(r"This ban will last for (\d+) more seconds", err["sub_msg"])[1])
        assert 1 <= n <= 4
        assert bodies[2]["error_response"]["code"] == 7
        assert sb.stats()["platforms"]["taobao"]["refused"]["7"] == 2


def test_session_required_when_configured():
    world = shared_world(60)
    cfg = world.config.model_copy(update={"top_sessions": ("sess-1",)})
    with start_in_thread(cfg, world=world) as sb, httpx.Client() as c:
        m = "taobao.tbk.dg.pailitao.widget.convert"
        url = f"{sb.base_url}/router/rest"
        assert c.post(url, data=top_params(cfg, m, adzone_id="1")).json()["error_response"]["code"] == 26
        bad = top_params(cfg, m, adzone_id="1", session="nope")
        assert c.post(url, data=bad).json()["error_response"]["code"] == 27
        good = top_params(cfg, m, adzone_id="1", session="sess-1")
        assert "tbk_dg_pailitao_widget_convert_response" in c.post(url, data=good).json()
