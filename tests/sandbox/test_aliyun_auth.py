"""The sandbox's Aliyun route authenticates signature V3 (``ACS3-HMAC-SHA256``) with V1's checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapprice.sandbox import start_in_thread
from snapprice.sandbox.aliyun import item_id_of
from snapprice.sandbox.aliyun_auth import acs3_signature, acs3_string_to_sign
from snapprice.sandbox.testing import shared_world
from snapprice.search.platforms.signing import acs3_authorization
from tests.sandbox.vectors import (
    EMPTY_SHA256,
    V3_DOC_AUTHORIZATION,
    V3_DOC_HEADERS,
    V3_DOC_KEY,
    V3_DOC_QUERY,
)

pytestmark = pytest.mark.integration
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def independent_acs3(method, query, headers, body, key_id, secret):
    """Written from the V3 page: canonical request, SHA-256 of it, hex HMAC-SHA256 with the secret."""
    enc = lambda s: quote(s, safe="~")  # noqa: E731 - RFC 3986: only A-Za-z0-9-_.~ stay
    h = {k.lower(): v.strip() for k, v in headers.items()}
    names = ";".join(sorted(h))
    canonical = "\n".join([method, "/", "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(query.items())),
                           "".join(f"{k}:{h[k]}\n" for k in sorted(h)), names,
                           hashlib.sha256(body).hexdigest()])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    sig = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders={names},Signature={sig}"


def test_the_documented_v3_example():
    assert independent_acs3("POST", V3_DOC_QUERY, V3_DOC_HEADERS, b"", *V3_DOC_KEY) == V3_DOC_AUTHORIZATION
    assert acs3_authorization("POST", "/", V3_DOC_QUERY, V3_DOC_HEADERS, EMPTY_SHA256,
                              *V3_DOC_KEY) == V3_DOC_AUTHORIZATION  # client
    to_sign = acs3_string_to_sign("POST", "/", list(V3_DOC_QUERY.items()), V3_DOC_HEADERS, EMPTY_SHA256)
    assert V3_DOC_AUTHORIZATION.endswith("Signature=" + acs3_signature(to_sign, V3_DOC_KEY[1]))  # sandbox


def test_v3_encodes_reserved_characters_as_rfc_3986():
    query = {"A": "a b*c~d/é", "B": "x+y=z&"}
    headers = {"Host": " h:1 ", "X-Acs-Action": "SearchByPic"}
    client = acs3_authorization("GET", "/", query, headers, EMPTY_SHA256, "k", "s")
    assert client == independent_acs3("GET", query, headers, b"", "k", "s")
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    sandbox = acs3_signature(acs3_string_to_sign("GET", "/", list(query.items()), lower, EMPTY_SHA256), "s")
    assert client.endswith("Signature=" + sandbox)


# ------------------------------------------------------------------------------ the route

def picture_b64(world, n=1):
    pid = next(p.product_id for p in world.products[n:] if world.listings_for(p.product_id, "taobao"))
    return pid, base64.b64encode(world.product_image_bytes(pid)).decode()


def v3_call(client, sb, business=None, *, method="POST", query=None, secret=None, key_id=None,
            at=None, nonce=None, set_headers=None, drop=(), unsigned=(), algorithm=None,
            sent_body=None, authorization=None):
    """One V3 request signed as the V3 page says; the keywords bend one rule each."""
    cfg = sb.config
    business = {"Pid": cfg.aliyun_pids[0], **(business or {})}
    body = urlencode(sorted(business.items())).encode() if method == "POST" else b""
    query = query or {}
    headers = {"host": sb.base_url.removeprefix("http://"),
               "x-acs-action": "SearchByPic", "x-acs-version": "2021-05-01",
               "x-acs-date": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
               "x-acs-content-sha256": hashlib.sha256(body).hexdigest()}
    if method == "POST":
        headers["content-type"] = "application/x-www-form-urlencoded"
    headers.update(set_headers or {})
    for name in drop:
        headers.pop(name, None)
    signed = {k: v for k, v in headers.items() if k not in unsigned}
    auth = independent_acs3(method, query, signed, body, key_id or cfg.aliyun_access_key_id,
                            secret or cfg.aliyun_access_key_secret)
    if algorithm:
        auth = auth.replace("ACS3-HMAC-SHA256", algorithm, 1)
    headers["authorization"] = authorization or auth
    return client.request(method, sb.base_url + "/", params=query, headers=headers,
                          content=body if sent_body is None else sent_body)


def test_v3_search_by_pic_serves_the_products_listings(sandbox, client):
    world = sandbox.world
    pid, pic = picture_b64(world)
    r = v3_call(client, sandbox, {"PicContent": pic, "Num": "20", "Fields": "ItemId"})
    assert r.status_code == 200, r.text
    ids = {item_id_of(sandbox.config, a["Result"]["ItemId"]) for a in r.json()["Data"]["Auctions"]}
    assert ids and ids <= {x.item_id for x in world.listings_for(pid, "taobao")}


def test_v3_get_with_business_parameters_in_the_query(sandbox, client):
    pid, _ = picture_b64(sandbox.world)
    r = v3_call(client, sandbox, method="GET", set_headers={"x-acs-action": "SearchByUrl"}, query={
        "Pid": sandbox.config.aliyun_pids[0], "PicUrl": f"{sandbox.base_url}/img/product/{pid}.jpg"})
    assert r.status_code == 200 and r.json()["Data"]["Auctions"], r.text


def _v3_case(sb, case):
    stale = datetime.now(UTC) - timedelta(hours=1)
    junk = {"PicContent": base64.b64encode(b"\xff\xd8 not a jpeg").decode()}
    return {
        "missing_action": {"drop": ("x-acs-action",)},
        "unknown_action": {"set_headers": {"x-acs-action": "DeleteAll"}},
        "missing_version": {"drop": ("x-acs-version",)},
        "bad_version": {"set_headers": {"x-acs-version": "2020-01-01"}},
        "xml_format": {"query": {"Format": "XML"}},
        "unknown_key": {"key_id": "LTAI-nobody"},
        "wrong_secret": {"secret": "guess"},
        "other_algorithm": {"algorithm": "ACS3-HMAC-SM3"},
        "no_credential": {"authorization": "ACS3-HMAC-SHA256 Signature=00"},
        "host_unsigned": {"unsigned": ("host",)},
        "date_unsigned": {"unsigned": ("x-acs-date",)},
        "no_date": {"drop": ("x-acs-date",)},
        "bad_date": {"set_headers": {"x-acs-date": "2024-01-01 10:00:00"}},
        "stale": {"at": stale},
        "no_nonce": {"drop": ("x-acs-signature-nonce",)},
        "no_body_digest": {"drop": ("x-acs-content-sha256",)},
        "body_changed": {"sent_body": b"Pid=" + sb.config.aliyun_pids[0].encode() + b"&Num=20"},
        "digest_of_other_body": {"set_headers": {"x-acs-content-sha256": EMPTY_SHA256}},
        "unknown_pid": {"business": {"Pid": "mm_0_0_0", **junk}},
        "num_too_big": {"business": {"Num": "21", **junk}},
        "not_a_picture": {"business": junk},
        "no_picture": {},
    }[case]


@pytest.mark.parametrize(("case", "status", "code"), [
    ("missing_action", 400, "MissingParameter"),
    ("unknown_action", 404, "InvalidAction.NotFound"),
    ("missing_version", 400, "MissingParameter"),
    ("bad_version", 400, "InvalidVersion"),
    ("xml_format", 400, "InvalidParameter.Format"),
    ("unknown_key", 404, "InvalidAccessKeyId.NotFound"),
    ("wrong_secret", 400, "SignatureDoesNotMatch"),
    ("other_algorithm", 400, "IncompleteSignature"),
    ("no_credential", 400, "IncompleteSignature"),
    ("host_unsigned", 400, "IncompleteSignature"),
    ("date_unsigned", 400, "IncompleteSignature"),
    ("no_date", 400, "MissingParameter"),
    ("bad_date", 400, "InvalidTimeStamp.Format"),
    ("stale", 400, "InvalidTimeStamp.Expired"),
    ("no_nonce", 400, "MissingParameter"),
    ("no_body_digest", 400, "MissingParameter"),
    ("body_changed", 400, "SignatureDoesNotMatch"),
    ("digest_of_other_body", 400, "SignatureDoesNotMatch"),
    ("unknown_pid", 403, "Forbidden.InvalidPid"),
    ("num_too_big", 400, "InvalidParameter.Num"),
    ("not_a_picture", 200, 1001),
    ("no_picture", 400, "MissingParameter"),
])
def test_v3_rules(sandbox, client, case, status, code):
    r = v3_call(client, sandbox, **_v3_case(sandbox, case))
    assert (r.status_code, r.json()["Code"]) == (status, code), r.text
    if status != 200:
        assert r.json()["RequestId"] and r.json()["HostId"] and r.json()["Message"]


def test_v3_mismatch_tells_the_servers_string_to_sign(sandbox, client):
    r = v3_call(client, sandbox, secret="guess")
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in r.json()["Message"]
    assert sandbox.config.aliyun_access_key_secret not in r.text


def test_v3_replayed_nonce_is_refused_and_v1_shares_the_nonces(sandbox, client):
    _pid, pic = picture_b64(sandbox.world)
    nonce = uuid.uuid4().hex
    assert v3_call(client, sandbox, {"PicContent": pic, "Num": "1"}, nonce=nonce).status_code == 200
    again = v3_call(client, sandbox, {"PicContent": pic, "Num": "1"}, nonce=nonce)
    assert (again.status_code, again.json()["Code"]) == (400, "SignatureNonceUsed")
    refused = v3_call(client, sandbox, {"PicContent": pic}, nonce=uuid.uuid4().hex, secret="guess")
    assert refused.json()["Code"] == "SignatureDoesNotMatch"  # an unsigned call spends no nonce


def test_v3_throttling_counts_with_v1_calls():
    world = shared_world(60)
    with start_in_thread(world.config.model_copy(update={"qps": 2.0}), world=world) as sb, \
            httpx.Client(timeout=15) as c:
        codes = [v3_call(c, sb, {"PicContent": "eA=="}).json()["Code"] for _ in range(3)]
        assert codes == [1001, 1001, "Throttling.User"]
        assert sb.stats()["calls_by_key"][f"aliyun:{sb.config.aliyun_access_key_id}"] == 3


header_names = st.sampled_from(["host", "x-acs-action", "x-acs-version", "x-acs-date",
                                "x-acs-signature-nonce", "x-acs-content-sha256", "content-type",
                                "x-acs-extra"])
printable = st.characters(min_codepoint=32, max_codepoint=126)
header_values = st.one_of(st.text(alphabet=printable, max_size=30),
                          st.sampled_from(["", "SearchByPic", "SearchByUrl", "2021-05-01",
                                           "2026-01-01T00:00:00Z", EMPTY_SHA256]))


@FUZZ
@given(overrides=st.dictionaries(header_names, header_values, max_size=4),
       drop=st.lists(header_names, max_size=2, unique=True), unsigned=st.lists(header_names, max_size=2),
       auth=st.one_of(st.none(), st.text(alphabet=printable, max_size=40).map(
           lambda t: f"ACS3-HMAC-SHA256 {t}".strip())))
def test_v3_never_500(sandbox, client, overrides, drop, unsigned, auth):
    kw = {"set_headers": {k: v.strip() or "x" for k, v in overrides.items()},
          "drop": [d for d in drop if d not in overrides],
          "unsigned": unsigned, "authorization": auth}
    r = v3_call(client, sandbox, {"PicContent": "AAAA"}, **kw)
    assert r.status_code < 500, r.text[:300]
    assert "Code" in r.json() and r.json()["RequestId"]
