"""Fuzzing both protocols: whatever arrives, the answer is the protocol's envelope, never a 500."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapprice.sandbox.testing import top_params
from snapprice.sandbox.top import top_sign

pytestmark = pytest.mark.integration
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))


texts = st.text(max_size=40)
values = st.one_of(texts, st.integers(-5, 10**6).map(str), st.sampled_from(
    ["", "0", "1", "20", "bid", "_sale", "yes", "no", "http://127.0.0.1:1/x.jpg", "//127.0.0.1/x",
     "https://example.com/a.jpg", "data:image/png;base64,AAAA", "%%%", "1e9"]))
gateway_names = st.sampled_from(["key", "secret", "imgid", "page", "page_size", "sort", "cat", "cache",
                                 "lang", "imgcode", "x"])


def gateway_json(r):
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert isinstance(body["error_code"], str) and len(body["error_code"]) == 4
    return body


@FUZZ
@given(params=st.dictionaries(gateway_names, values, max_size=8), auth=st.booleans(),
       platform=st.sampled_from(["taobao", "1688", "jd", "pinduoduo", "vip"]),
       api=st.sampled_from(["item_search_img", "upload_img"]), post=st.booleans())
def test_gateway_never_500(sandbox, client, params, auth, platform, api, post):
    if auth:
        params = {**params, "key": "demo-key", "secret": "demo-secret"}
    url = f"{sandbox.base_url}/{platform}/{api}/"
    if post:
        query = {k: v for k, v in params.items() if k in ("key", "secret")}
        form = {k: v for k, v in params.items() if k not in query}
        r = client.post(url, params=query, data=form)
    else:
        r = client.get(url, params=params)
    gateway_json(r)


@FUZZ
@given(blob=st.binary(max_size=3000), as_b64=st.booleans(), junk_prefix=st.binary(max_size=8))
def test_gateway_upload_bytes_never_500(sandbox, client, blob, as_b64, junk_prefix):
    world = sandbox.world
    real = world.product_image_bytes(world.products[0].product_id)
    data = junk_prefix + real[: len(blob)] + blob if blob else real
    code = base64.b64encode(data).decode() if as_b64 else data.decode("latin-1")
    r = client.post(f"{sandbox.base_url}/jd/upload_img/", params={"key": "demo-key", "secret": "demo-secret"},
                    data={"imgcode": code})
    gateway_json(r)


top_names = st.sampled_from(["method", "app_key", "timestamp", "format", "v", "sign_method", "sign",
                             "session", "simplify", "img", "image_url", "image", "page_no", "page_size",
                             "sort", "cat", "adzone_id", "partner_id"])


@FUZZ
@given(overrides=st.dictionaries(top_names, values, max_size=6), drop=st.lists(top_names, max_size=3),
       resign=st.booleans(), file_bytes=st.one_of(st.none(), st.binary(max_size=2000)),
       method=st.sampled_from(["taobao.item.search.img", "taobao.tbk.dg.pailitao.widget.convert"]))
def test_top_never_500(sandbox, client, overrides, drop, resign, file_bytes, method):
    p = top_params(sandbox.config, method)
    p.update(overrides)
    for name in drop:
        p.pop(name, None)
    if resign and p.get("sign_method") in ("md5", "hmac", "hmac-sha256"):
        p["sign"] = top_sign(p, sandbox.config.top_app_secret, p["sign_method"])
    files = {"image": ("q.jpg", file_bytes, "image/jpeg")} if file_bytes is not None else None
    r = client.post(f"{sandbox.base_url}/router/rest", data=p, files=files)
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert len(body) >= 1
    if "error_response" in body:
        assert isinstance(body["error_response"]["code"], int)


@FUZZ
@given(body=st.binary(max_size=2000),
       ctype=st.sampled_from(["multipart/form-data", "multipart/form-data; boundary=xyz",
                              "application/x-www-form-urlencoded", "application/json", "text/plain", ""]),
       path=st.sampled_from(["/router/rest", "/taobao/item_search_img/", "/jd/upload_img/"]))
def test_raw_bodies_never_500(sandbox, client, body, ctype, path):
    r = client.post(f"{sandbox.base_url}{path}", content=body, headers={"content-type": ctype},
                    params={"key": "demo-key", "secret": "demo-secret"})
    assert r.status_code == 200, r.text[:300]
    r.json()
