"""Request signatures of every protocol: TOP (md5, hmac, hmac-sha256), Aliyun POP (V1: RPC
HMAC-SHA1, percent-encoded; V3: ``ACS3-HMAC-SHA256`` header) and 1688 AOP
(``_aop_signature``, HMAC-SHA1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")


def canonical_string(params: Mapping[str, Any]) -> str:
    """``name + value`` of every non-empty parameter except ``sign``, sorted by name.

    File parameters must not be in ``params``: TOP never signs them.

    >>> canonical_string({"b": 2, "a": "x", "sign": "S", "c": ""})
    'axb2'
    """
    items = {k: str(v) for k, v in params.items() if k != "sign" and v is not None and str(v)}
    return "".join(f"{k}{items[k]}" for k in sorted(items))


def top_sign(params: Mapping[str, Any], secret: str, sign_method: str) -> str:
    """Upper-case hex signature of ``params`` with ``secret`` by ``sign_method``."""
    s = canonical_string(params).encode("utf-8")
    key = secret.encode("utf-8")
    if sign_method == "md5":
        digest = hashlib.md5(key + s + key).hexdigest()
    elif sign_method == "hmac":
        digest = hmac.new(key, s, hashlib.md5).hexdigest()
    elif sign_method == "hmac-sha256":
        digest = hmac.new(key, s, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"sign_method {sign_method!r} is not one of {', '.join(SIGN_METHODS)}")
    return digest.upper()


def pop_percent(value: str) -> str:
    """RFC 3986 percent-encoding of POP signatures: only ``A-Za-z0-9-_.~`` stay as they are.

    >>> pop_percent("a b*c~/")
    'a%20b%2Ac~%2F'
    """
    return quote(value, safe="-_.~")


def pop_sign(params: Mapping[str, Any], secret: str, http_method: str = "POST") -> str:
    """The POP RPC (V1) ``Signature``: Base64 HMAC-SHA1, key ``secret + "&"``, over
    ``METHOD&%2F&percent(sorted percent(k)=percent(v) joined by &)``."""
    pairs = sorted((pop_percent(str(k)), pop_percent(str(v))) for k, v in params.items()
                   if k != "Signature")
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    to_sign = "&".join((http_method.upper(), pop_percent("/"), pop_percent(canonical)))
    mac = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


ACS3_ALGORITHM = "ACS3-HMAC-SHA256"


def acs3_authorization(method: str, path: str, query: Mapping[str, Any], headers: Mapping[str, str],
                       payload_sha256: str, access_key_id: str, secret: str) -> str:
    """The POP V3 ``Authorization`` header value signing ``headers`` (all of them: pass host,
    content-type and every ``x-acs-*`` header that is sent).

    Canonical request = method, percent-encoded path, sorted ``percent(k)=percent(v)`` query
    joined by ``&``, ``name:value\n`` per header (lower-case, trimmed, sorted), the names
    joined by ``;``, hex SHA-256 of the body, one per line; string to sign =
    ``ACS3-HMAC-SHA256\n`` + its hex SHA-256; signature = hex HMAC-SHA256 keyed with the
    secret itself (no ``&``, unlike V1).

    >>> acs3_authorization("GET", "/", {}, {"Host": "a.example"}, "e3b0", "AK", "s")[:60]
    'ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature='
    """
    canon = {k.lower(): str(v).strip() for k, v in headers.items()}
    names = sorted(canon)
    query_line = "&".join(f"{k}={v}" for k, v in sorted(
        (pop_percent(str(k)), pop_percent(str(v))) for k, v in query.items()))
    canonical_request = "\n".join((
        method.upper(), quote(path, safe="/-_.~"), query_line,
        "".join(f"{n}:{canon[n]}\n" for n in names), ";".join(names), payload_sha256))
    to_sign = f"{ACS3_ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"{ACS3_ALGORITHM} Credential={access_key_id},SignedHeaders={';'.join(names)},"
            f"Signature={signature}")


def aop_sign(url_path: str, params: Mapping[str, Any], secret: str) -> str:
    """``_aop_signature``: upper hex HMAC-SHA1(secret, urlPath + sorted ``key+value`` strings).

    ``url_path`` is ``param2/1/{namespace}/{api}/{appKey}`` (no ``/openapi/``).
    """
    pieces = sorted(f"{k}{v}" for k, v in params.items() if k != "_aop_signature")
    mac = hmac.new(secret.encode(), (url_path + "".join(pieces)).encode(), hashlib.sha1)
    return mac.hexdigest().upper()
