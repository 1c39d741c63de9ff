"""The sandbox's Onebound-style gateway: envelope, errors, paging, sort, cache, upload, limits."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from snapprice.sandbox import SandboxConfig, start_in_thread
from snapprice.sandbox.testing import shared_world

AUTH = {"key": "demo-key", "secret": "demo-secret"}


@pytest.fixture(scope="module")
def sandbox():
    world = shared_world(60)
    with start_in_thread(world.config, world=world) as handle:
        yield handle


def product_on(world, platform, *, least=1):
    return next(p for p in world.products if len(world.listings_for(p.product_id, platform)) >= least)


def product_off(world, platform):
    return next(p for p in world.products if not world.listings_for(p.product_id, platform))


def search(client, sandbox, platform="taobao", **params):
    r = client.get(f"{sandbox.base_url}/{platform}/item_search_img/", params={**AUTH, **params})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def img_url(sandbox, product_id):
    return f"{sandbox.base_url}/img/product/{product_id}.jpg"


@pytest.mark.parametrize("platform", ["taobao", "1688", "jd", "pinduoduo"])
def test_search_returns_the_products_listings_first(client, sandbox, platform):
    world = sandbox.world
    p = product_on(world, platform)
    body = search(client, sandbox, platform, imgid=img_url(sandbox, p.product_id))
    assert body["error_code"] == "0000" and body["reason"] == "ok" and body["error"] == ""
    own = {x.item_id for x in world.listings_for(p.product_id, platform)}
    items = body["items"]["item"]
    now = datetime.now(UTC)
    listed = {i for i in own if world.is_listed(i, platform, now)}
    assert {it["num_iid"] for it in items[: len(listed)]} == listed
    assert body["api_type"] == platform and body["cache"] in (0, 1)
    assert body["api_info"].startswith("today:")
    assert body["items"]["page"] == "1" and body["items"]["page_size"] == 20
    assert int(body["items"]["real_total_results"]) == len(items)
    for key in ("num_iid", "title", "pic_url", "price", "orginal_price", "promotion_price", "sales",
                "seller_nick", "seller_id", "detail_url", "area", "post_fee"):
        assert key in items[0]
    first = items[0]
    low, _high, _promo = world.served_price(first["num_iid"], platform, now)
    assert Decimal(str(first["price"]).split("-")[0]) == low


def test_absent_product_gives_2000(client, sandbox):
    p = product_off(sandbox.world, "jd")
    body = search(client, sandbox, "jd", imgid=img_url(sandbox, p.product_id))
    assert body["error_code"] == "2000"
    assert body["items"]["item"] == [] and body["items"]["real_total_results"] == "0"


@pytest.mark.parametrize(("params", "code"), [
    ({"key": "nope", "secret": "demo-secret"}, "4005"),
    ({"key": "demo-key", "secret": "wrong"}, "4005"),
    ({"key": "demo-key"}, "4014"),
    ({}, "4014"),
])
def test_bad_credentials(client, sandbox, params, code):
    r = client.get(f"{sandbox.base_url}/taobao/item_search_img/", params={**params, "imgid": "x"})
    assert r.status_code == 200 and r.json()["error_code"] == code


def test_key_in_form_body_is_not_accepted(client, sandbox):
    r = client.post(f"{sandbox.base_url}/taobao/item_search_img/", data={**AUTH, "imgid": "x"})
    assert r.json()["error_code"] == "4014"


@pytest.mark.parametrize(("params", "code"), [
    ({}, "4003"),
    ({"imgid": ""}, "4003"),
    ({"imgid": "12345"}, "4003"),
    ({"imgid": "http://example.com/a.jpg"}, "4003"),
    ({"imgid": "IMG", "page": "0"}, "4003"),
    ({"imgid": "IMG", "page": "abc"}, "4003"),
    ({"imgid": "IMG", "page_size": "500"}, "4003"),
    ({"imgid": "IMG", "sort": "cheapest"}, "4003"),
    ({"imgid": "IMG", "cat": "shoes"}, "4003"),
    ({"imgid": "http://127.0.0.1:1/nothing.jpg"}, "4003"),
])
def test_param_errors(client, sandbox, params, code):
    if params.get("imgid") == "IMG":
        params = {**params, "imgid": img_url(sandbox, sandbox.world.products[0].product_id)}
    body = search(client, sandbox, **params)
    assert body["error_code"] == code, body
    assert body["reason"] and body["error"]


def test_own_image_404_is_a_param_error(client, sandbox):
    body = search(client, sandbox, imgid=f"{sandbox.base_url}/img/taobao/999.jpg")
    assert body["error_code"] == "4003" and "404" in body["reason"]


def test_unknown_platform_and_api(client, sandbox):
    r = client.get(f"{sandbox.base_url}/amazon/item_search_img/", params={**AUTH, "imgid": "x"})
    assert r.json()["error_code"] == "4010"
    r = client.get(f"{sandbox.base_url}/taobao/item_get/", params=AUTH)
    assert r.json()["error_code"] == "4010"


def test_paging_and_page_size(client, sandbox):
    world = sandbox.world
    p = product_on(world, "taobao", least=3)
    url = img_url(sandbox, p.product_id)
    first = search(client, sandbox, imgid=url, page_size="2")
    total = int(first["items"]["real_total_results"])
    assert total >= 3 and len(first["items"]["item"]) == 2
    assert first["items"]["pagecount"] == str(-(-total // 2))
    second = search(client, sandbox, imgid=url, page_size="2", page="2")
    ids1 = [i["num_iid"] for i in first["items"]["item"]]
    ids2 = [i["num_iid"] for i in second["items"]["item"]]
    assert ids2 and not set(ids1) & set(ids2)
    beyond = search(client, sandbox, imgid=url, page_size="2", page="50")
    assert beyond["error_code"] == "2000"


@pytest.mark.parametrize(("sort", "key", "desc"), [("bid", "price", False), ("_bid", "price", True),
                                                   ("_sale", "sales", True)])
def test_sort(client, sandbox, sort, key, desc):
    world = sandbox.world
    p = product_on(world, "taobao", least=3)
    body = search(client, sandbox, imgid=img_url(sandbox, p.product_id), sort=sort, cache="no")
    now = datetime.now(UTC)
    if key == "price":
        vals = [world.served_price(i["num_iid"], "taobao", now)[0] for i in body["items"]["item"]]
    else:
        vals = [world.served_sales(i["num_iid"], "taobao", now)[1] for i in body["items"]["item"]]
    assert len(vals) >= 2 and vals == sorted(vals, reverse=desc)


def test_cat_filter(client, sandbox):
    world = sandbox.world
    p = product_on(world, "taobao")
    url = img_url(sandbox, p.product_id)
    assert search(client, sandbox, imgid=url, cat=p.cat)["error_code"] == "0000"
    other = next(c for c in ("16", "30", "50006843") if c != p.cat)
    assert search(client, sandbox, imgid=url, cat=other)["error_code"] == "2000"


def test_cache_flag(client, sandbox):
    p = product_on(sandbox.world, "1688")
    url = img_url(sandbox, p.product_id)
    a = search(client, sandbox, "1688", imgid=url, page_size="7")
    b = search(client, sandbox, "1688", imgid=url, page_size="7")
    c = search(client, sandbox, "1688", imgid=url, page_size="7", cache="no")
    assert (a["cache"], b["cache"], c["cache"]) == (0, 1, 0)
    assert a["items"] == b["items"] == c["items"]


def test_upload_then_search(client, sandbox):
    world = sandbox.world
    p = product_on(world, "jd")
    data = base64.b64encode(world.product_image_bytes(p.product_id)).decode()
    r = client.post(f"{sandbox.base_url}/jd/upload_img/", params=AUTH, data={"imgcode": data})
    body = r.json()
    assert body["error_code"] == "0000"
    imgid = body["items"]["item"]["name"]
    assert imgid.isdigit()
    found = search(client, sandbox, "jd", imgid=imgid)
    assert found["error_code"] == "0000"
    assert found["items"]["item"][0]["num_iid"] in {x.item_id for x in world.listings_for(p.product_id, "jd")}


@pytest.mark.parametrize(("imgcode", "code"), [("", "4003"), ("@@not base64@@", "4003"),
                                               (base64.b64encode(b"hello, not a picture").decode(), "4003")])
def test_upload_bad_input(client, sandbox, imgcode, code):
    r = client.post(f"{sandbox.base_url}/jd/upload_img/", params=AUTH, data={"imgcode": imgcode})
    assert r.status_code == 200 and r.json()["error_code"] == code


def test_oversized_upload_is_refused(client, sandbox):
    big = base64.b64encode(b"\xff" * (sandbox.config.max_image_bytes + 10)).decode()
    r = client.post(f"{sandbox.base_url}/jd/upload_img/", params=AUTH, data={"imgcode": big})
    assert r.status_code == 200 and r.json()["error_code"] == "4003"


def test_base64_imgid_on_jd(client, sandbox):
    p = product_on(sandbox.world, "jd")
    data = base64.b64encode(sandbox.world.product_image_bytes(p.product_id)).decode()
    r = client.post(f"{sandbox.base_url}/jd/item_search_img/", params=AUTH, data={"imgid": data})
    assert r.json()["error_code"] == "0000"


def test_qps_ban_and_daily_quota():
    world = shared_world(60)
    cfg = world.config.model_copy(update={"qps": 2.0, "ban_seconds": 3, "daily_quota": 1000})
    with start_in_thread(cfg, world=world) as sb, httpx.Client() as c:
        url = f"{sb.base_url}/taobao/item_search_img/"
        codes = [c.get(url, params={**AUTH, "imgid": "1"}).json()["error_code"] for _ in range(6)]
        assert codes[:2] == ["4003", "4003"]  # admitted (and billed), then refused for imgid
        assert set(codes[2:]) == {"4008"}
        stats = c.get(f"{sb.base_url}/_admin/stats").json()
        assert stats["platforms"]["taobao"]["refused"]["4008"] == 4
        assert stats["bans_started"] == 1
        # Other platforms have their own bucket.
        assert c.get(f"{sb.base_url}/jd/item_search_img/", params={**AUTH, "imgid": "1"}).json()[
            "error_code"] == "4003"
    cfg = world.config.model_copy(update={"daily_quota": 2})
    with start_in_thread(cfg, world=world) as sb, httpx.Client() as c:
        url = f"{sb.base_url}/taobao/item_search_img/"
        bodies = [c.get(url, params={**AUTH, "imgid": "1"}).json() for _ in range(3)]
        assert [b["error_code"] for b in bodies] == ["4003", "4003", "4013"]
        assert bodies[2]["api_info"].startswith("today:2 max:2")


def test_admin_reset(client, sandbox):
    search(client, sandbox, imgid="1")
    assert client.get(f"{sandbox.base_url}/_admin/stats").json()["protocols"]["gateway"]["calls"] > 0
    assert client.post(f"{sandbox.base_url}/_admin/reset").json() == {"ok": True}
    stats = client.get(f"{sandbox.base_url}/_admin/stats").json()
    assert stats["protocols"] == {} and stats["calls_by_key"] == {}


def test_world_config_mismatch_is_refused():
    world = shared_world(60)
    with pytest.raises(ValueError, match="seed"):
        start_in_thread(SandboxConfig(n_products=60, seed=99), world=world)
