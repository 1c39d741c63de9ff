"""TOP request signatures (md5, hmac, hmac-sha256) over the sorted, non-empty parameters."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")


def canonical_string(params: Mapping[str, Any]) -> str:
    """``name + value`` of every non-empty parameter except ``sign``, sorted by name.

    File parameters must not be in ``params``: TOP never signs them.
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
