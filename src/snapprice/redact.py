"""Keeping secrets out of text: database URLs shown without their password, known secret
values scrubbed from messages before they are printed, logged or stored."""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "***"


def _userinfo(url: str) -> tuple[str, str, str]:
    """(before, userinfo, after) of a database URL, split the way a password cannot fool:
    the userinfo runs from the scheme to the LAST ``@`` (a password may hold ``@``, ``:``,
    spaces, anything), and there is none without an ``@``."""
    start = url.find("://")
    start = start + 3 if start >= 0 else 0
    at = url.rfind("@", start)
    if at < 0:
        return url, "", ""
    return url[:start], url[start:at], url[at:]


def _params(query: str) -> list[tuple[str, str, str]]:
    """``a=1&password=x`` → [(name, "=", value), …]; ``_is_password(name)`` tells the secret ones."""
    return [part.partition("=") for part in query.split("&")] if query else []


def _is_password(name: str) -> bool:
    return name.strip().lower() == "password"


def redact_url(url: str) -> str:
    """The URL with its password (and any ``password=`` parameter) replaced by ``***``, for
    messages and logs; parsed, so a malformed URL leaks nothing.

    >>> redact_url("postgresql://user:pa ss@W0rd@db.example:5432/prices")
    'postgresql://user:***@db.example:5432/prices'
    >>> redact_url("postgres:pass word@W0rd@host")
    'postgres:***@host'
    >>> redact_url("postgresql://db.example/prices?sslmode=require&password=s3cret")
    'postgresql://db.example/prices?sslmode=require&password=***'
    """
    before, userinfo, after = _userinfo(url)
    user, colon, _ = userinfo.partition(":")
    text = f"{before}{user}{':***' if colon else ''}{after}" if userinfo else url
    base, sep, query = text.partition("?")
    if not sep:
        return text
    return base + "?" + "&".join(f"{k}={REDACTED}" if _is_password(k) else f"{k}{eq}{v}"
                                 for k, eq, v in _params(query))


def secret_parts(url: str) -> list[str]:
    """Every piece of the URL's password a driver message might quote (``pa ss@W0rd`` may
    come back as ``pa ss``), longest first; for scrubbing such messages."""
    _, userinfo, _ = _userinfo(url)
    passwords = [userinfo.partition(":")[2]]
    passwords += [v for k, _, v in _params(url.partition("?")[2]) if _is_password(k)]
    pieces = {piece for pw in passwords for piece in (pw, *pw.replace(":", "@").split("@"))}
    return sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every literal secret value replaced by ``***``.

    >>> scrub("login failed for s3cret-key", ["s3cret-key", ""])
    'login failed for ***'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text
