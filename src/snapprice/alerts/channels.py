"""Alerts to the channels people read — Telegram, e-mail, DingTalk, WeCom, ntfy, Slack and
the rest Apprise speaks: one digest per run, one Apprise URL per channel. The URLs carry
tokens, so they are secrets: ``[alerts] channels`` names the variables (or secrets-file
lines) that hold them, and no URL reaches a log.

>>> title, body = digest([{"rule": "new_low", "sku": "SKU-1", "message": "taobao 42: 9.90 CNY, a new 90-day low"}], 7)
>>> title
'snapprice run 7: 1 price alert'
>>> body
'new_low  SKU-1  taobao 42: 9.90 CNY, a new 90-day low'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from snapprice.redact import scrub
from snapprice.settings import Settings

log = logging.getLogger(__name__)
DIGEST_LINES = 50  # alerts listed in one digest; the rest are counted


def digest(alerts: Sequence[Mapping[str, Any]], run_id: int) -> tuple[str, str]:
    """The title and plain-text body of one run's digest."""
    n = len(alerts)
    title = f"snapprice run {run_id}: {n} price alert{'' if n == 1 else 's'}"
    lines = [f"{a['rule']}  {a.get('sku') or '-'}  {a['message']}" for a in alerts[:DIGEST_LINES]]
    if n > DIGEST_LINES:
        lines.append(f"… and {n - DIGEST_LINES} more (table `alert`)")
    return title, "\n".join(lines)


class _Scrub(logging.Filter):
    """Log lines without the channels' tokens, whatever form of the URL they quote."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage(), self.secrets)
        record.args = None
        return True


def _secret_pieces(url: str) -> list[str]:
    """The URL and each piece of it that can hold a token (user info, path segments, query
    values), longest first; the scheme and host stay readable."""
    rest = url.split("://", 1)[-1]
    userinfo, _, rest = rest.rpartition("@")
    _, _, tail = rest.partition("/")
    pieces = {url, userinfo, *userinfo.split(":"), *re.split(r"[/?&=#]", tail)}
    return sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True)


@contextmanager
def _quiet_and_scrubbed(urls: Sequence[str]) -> Iterator[None]:
    """While sending: Apprise's and urllib3's request logs (which quote whole URLs) held to
    warnings, and those scrubbed of every token piece."""
    scrubber = _Scrub([piece for url in urls for piece in _secret_pieces(url)])
    loggers = [logging.getLogger(name) for name in ("apprise", "urllib3")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addFilter(scrubber)
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeFilter(scrubber)
            lg.setLevel(level)


def deliver(alerts: Sequence[Mapping[str, Any]], settings: Settings, run_id: int) -> int:
    """Send the run's digest to every configured channel; returns how many took it. A
    channel that refuses is logged by its kind (``tgram``, ``mailto``…), never its URL."""
    channels = settings.alert_channels()
    if not alerts or not channels:
        return 0
    import apprise

    title, body = digest(alerts, run_id)
    sent = 0
    with _quiet_and_scrubbed([url for _, url in channels]):
        for name, url in channels:
            kind = url.split("://", 1)[0] if "://" in url else "?"
            box = apprise.Apprise()
            if not box.add(url):
                log.warning("alerts.channels: %s holds no URL Apprise knows (kind %r); digest not sent",
                            name, kind)
                continue
            if box.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT):
                sent += 1
            else:
                log.warning("alerts.channels: the %s channel in %s refused the digest of run %s",
                            kind, name, run_id)
    return sent
