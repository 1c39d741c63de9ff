"""Who is calling the Aliyun POP route: signature V1 (RPC, HMAC-SHA1 in the parameters) and
V3 (``ACS3-HMAC-SHA256`` in the ``Authorization`` header), with the same checks and errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.requests import Request

from snapprice.sandbox.market import Market
from snapprice.sandbox.official import RouteState

VERSION = "2021-05-01"
ACTIONS = ("SearchByPic", "SearchByUrl")
ACS3 = "ACS3-HMAC-SHA256"


class PopError(Exception):
    """A POP error answer: HTTP ``status`` with ``{"RequestId","HostId","Code","Message"}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status


def missing(name: str) -> PopError:
    return PopError("MissingParameter",
                    f'The input parameter "{name}" that is mandatory for processing this request is not supplied.')


def invalid(name: str, why: str) -> PopError:
    return PopError(f"InvalidParameter.{name}", f"Specified parameter {name} is not valid: {why}")


def pop_percent(value: str) -> str:
    """RFC 3986 percent-encoding as POP signs it (space %20, ``*`` %2A, ``~`` kept)."""
    return quote(value, safe="-_.~")


def pop_signature(params: dict[str, str], secret: str, http_method: str = "POST") -> str:
    """V1: Base64 HMAC-SHA1 (key ``secret&``) of ``METHOD&%2F&encode(sorted k=v&…)``, Signature excluded."""
    canonical = "&".join(f"{pop_percent(k)}={pop_percent(params[k])}"
                         for k in sorted(params) if k != "Signature")
    to_sign = f"{http_method.upper()}&{pop_percent('/')}&{pop_percent(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def acs3_string_to_sign(method: str, path: str, query: list[tuple[str, str]],
                        headers: dict[str, str], payload_sha256: str) -> str:
    """V3: ``ACS3-HMAC-SHA256\\n`` + hex SHA-256 of the canonical request, whose lines are the
    method, the encoded path, the sorted encoded query, ``name:value\\n`` of each signed
    header (``headers``: lower-case names, trimmed values), their names joined by ``;`` and
    the hex SHA-256 of the body."""
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(
        (pop_percent(k), pop_percent(v)) for k, v in query))
    names = sorted(headers)
    canonical_request = "\n".join((
        method.upper(), quote(path, safe="/-_.~"), canonical_query,
        "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), payload_sha256))
    return f"{ACS3}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"


def acs3_signature(string_to_sign: str, secret: str) -> str:
    """V3: hex HMAC-SHA256 of the string to sign, keyed with the AccessKey secret itself."""
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated call: the action asked for and the AccessKeyId that signed it."""

    action: str
    key: str


def _timestamp(raw: str) -> datetime:
    try:
        at = datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise PopError("InvalidTimeStamp.Format",
                       "Specified time stamp or date header is not in the ISO 8601 format "
                       "yyyy-MM-ddTHH:mm:ssZ (UTC).") from None
    return at.replace(tzinfo=UTC)


def _action_and_version(action: str, version: str, names: tuple[str, str], fmt: str) -> str:
    if not action:
        raise missing(names[0])
    if action not in ACTIONS:
        raise PopError("InvalidAction.NotFound",
                       "Specified api is not found, please check your url and method.", 404)
    if not version:
        raise missing(names[1])
    if version != VERSION:
        raise PopError("InvalidVersion", f"Specified parameter Version is not valid; use {VERSION}.")
    if fmt.upper() != "JSON":
        raise invalid("Format", "the sandbox answers JSON only")
    return action


def _known_key(market: Market, key: str) -> None:
    if key != market.config.aliyun_access_key_id:
        raise PopError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)


def _fresh(market: Market, raw: str) -> None:
    window = market.config.timestamp_window
    skew = abs((_timestamp(raw) - market.now()).total_seconds())
    if skew > window:
        raise PopError("InvalidTimeStamp.Expired",
                       f"Specified time stamp or date header is expired: {int(skew)} s from "
                       f"server time (limit {window} s).")


def _first_use(state: RouteState, key: str, nonce: str) -> None:
    if not state.nonces.first_use(key, nonce):  # only signed requests consume a nonce
        raise PopError("SignatureNonceUsed", "Specified signature nonce was used already.")


def _mismatch(detail: str = "") -> PopError:
    return PopError("SignatureDoesNotMatch",
                    "Specified signature is not matched with our calculation." + detail)


def check_v1(market: Market, state: RouteState, p: dict[str, str], http_method: str) -> Caller:
    """The RPC common parameters, in the order the gateway reports them."""
    action = _action_and_version(p.get("Action", ""), p.get("Version", ""), ("Action", "Version"),
                                 p.get("Format", "JSON"))
    key = p.get("AccessKeyId", "")
    if not key:
        raise missing("AccessKeyId")
    _known_key(market, key)
    if not p.get("Signature"):
        raise PopError("IncompleteSignature",
                       "The request signature does not conform to Aliyun standards: no Signature.")
    if p.get("SignatureMethod", "") != "HMAC-SHA1":
        raise PopError("IncompleteSignature", "SignatureMethod must be HMAC-SHA1.")
    if p.get("SignatureVersion", "") != "1.0":
        raise PopError("IncompleteSignature", "SignatureVersion must be 1.0.")
    if not p.get("Timestamp"):
        raise missing("Timestamp")
    _fresh(market, p["Timestamp"])
    nonce = p.get("SignatureNonce", "")
    if not nonce:
        raise missing("SignatureNonce")
    expected = pop_signature(p, market.config.aliyun_access_key_secret, http_method)
    if not hmac.compare_digest(expected.encode(), p["Signature"].encode()):
        raise _mismatch()
    _first_use(state, key, nonce)
    return Caller(action, key)


def _authorization(raw: str) -> tuple[str, str, list[str], str]:
    """(algorithm, AccessKeyId, signed header names, signature) of an ``Authorization`` value."""
    algorithm, _, rest = raw.strip().partition(" ")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if eq:
            fields[name] = value.strip()
    if not all(fields.get(k) for k in ("Credential", "SignedHeaders", "Signature")):
        raise PopError("IncompleteSignature", "The request signature does not conform to Aliyun "
                       "standards: Authorization needs Credential=, SignedHeaders= and Signature=.")
    return algorithm, fields["Credential"], fields["SignedHeaders"].split(";"), fields["Signature"]


def _signed_headers(request: Request, names: list[str]) -> dict[str, str]:
    """The canonical value of each signed header; host and every x-acs-* header must be signed."""
    signed = {n.strip().lower() for n in names if n.strip()}
    if "authorization" in signed:
        raise PopError("IncompleteSignature", "Authorization itself cannot be a signed header.")
    present = {k.lower() for k in request.headers}
    unsigned = sorted(n for n in present if n == "host" or n.startswith("x-acs-"))
    unsigned = [n for n in unsigned if n not in signed]
    if unsigned:
        raise PopError("IncompleteSignature", "The request signature does not conform to Aliyun "
                       f"standards: header(s) {', '.join(unsigned)} must be in SignedHeaders.")
    absent = sorted(signed - present)
    if absent:
        raise PopError("IncompleteSignature", f"Signed header(s) {', '.join(absent)} are not in the request.")
    return {n: ",".join(sorted(v.strip() for v in request.headers.getlist(n))) for n in signed}


def check_v3(market: Market, state: RouteState, request: Request, p: dict[str, str],
             body: bytes) -> Caller:
    """The V3 headers, in V1's order: action, version, key, signature form, date, nonce,
    body digest, signature, replay."""
    h = request.headers
    action = _action_and_version(h.get("x-acs-action", ""), h.get("x-acs-version", ""),
                                 ("x-acs-action", "x-acs-version"), p.get("Format", "JSON"))
    algorithm, key, names, signature = _authorization(h["authorization"])
    _known_key(market, key)
    if algorithm != ACS3:
        raise PopError("IncompleteSignature", f"Signature algorithm {algorithm!r} is not supported; use {ACS3}.")
    headers = _signed_headers(request, names)
    if not h.get("x-acs-date"):
        raise missing("x-acs-date")
    _fresh(market, h["x-acs-date"])
    nonce = h.get("x-acs-signature-nonce", "")
    if not nonce:
        raise missing("x-acs-signature-nonce")
    if not h.get("x-acs-content-sha256"):
        raise missing("x-acs-content-sha256")
    payload = hashlib.sha256(body).hexdigest()
    if h["x-acs-content-sha256"] != payload:
        raise _mismatch(" x-acs-content-sha256 is not the hex SHA-256 of the request body.")
    to_sign = acs3_string_to_sign(request.method, request.url.path, request.query_params.multi_items(),
                                  headers, payload)
    expected = acs3_signature(to_sign, market.config.aliyun_access_key_secret)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise _mismatch(" server string to sign is:" + to_sign)
    _first_use(state, key, nonce)
    return Caller(action, key)


def authenticate(market: Market, state: RouteState, request: Request, p: dict[str, str],
                 body: bytes) -> Caller:
    """V3 when the request has an ``Authorization`` header, else V1."""
    if "authorization" in request.headers:
        return check_v3(market, state, request, p, body)
    return check_v1(market, state, p, request.method)
