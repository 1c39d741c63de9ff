"""Alerts to a webhook: JSON batches POSTed with retries; the URL never reaches a log."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from snapprice.alerts.rules import to_json
from snapprice.settings import AlertSettings, Settings

log = logging.getLogger(__name__)


def safe_url(url: str) -> str:
    """scheme://host[:port] only: webhook paths and queries often carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}/…"


class _Retryable(Exception):
    """A webhook answer worth retrying (5xx, 429)."""


class _Redact(logging.Filter):
    """Rewrites httpx's request log lines, which print the full URL (token, credentials).

    Any URL on the webhook's host is replaced, whatever form an earlier filter left it in.
    """

    _URL = re.compile(r"""https?://[^\s"'<>]+""")

    def __init__(self, host: str, shown: str) -> None:
        super().__init__()
        self.host, self.shown = host, shown

    def _mask(self, match: re.Match[str]) -> str:
        try:
            host = urlsplit(match.group(0)).hostname
        except ValueError:
            return self.shown
        return self.shown if host == self.host else match.group(0)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._URL.sub(self._mask, message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def notify(alerts: Sequence[Mapping[str, Any]], settings: Settings, secrets_env: Mapping[str, str]) -> int:
    """POST the alerts as JSON to the configured webhook, in batches, with retries.

    Returns how many alerts were delivered. A webhook that stays down is logged (without
    its URL's path, query or credentials) and does not raise: alerts stay in the table.
    """

    cfg = settings.alerts
    if not alerts or not cfg.webhook_url_env:
        return 0
    url = secrets_env.get(cfg.webhook_url_env, "")
    if not url.startswith(("http://", "https://")):
        log.warning("alerts.webhook_url_env names %s, which holds no http(s) URL: %d alert(s) not sent; "
                    "set that variable or clear webhook_url_env", cfg.webhook_url_env, len(alerts))
        return 0
    where = safe_url(url)
    redact = _Redact(urlsplit(url).hostname or "", where)
    httpx_log = logging.getLogger("httpx")
    httpx_log.addFilter(redact)
    try:
        return _post_batches(alerts, cfg, url, where)
    finally:
        httpx_log.removeFilter(redact)


def _post_batches(alerts: Sequence[Mapping[str, Any]], cfg: AlertSettings, url: str, where: str) -> int:
    import httpx
    import stamina

    sent = 0
    with httpx.Client(timeout=cfg.webhook_timeout, headers={"User-Agent": "snapprice-alerts"}) as client:
        for start in range(0, len(alerts), cfg.webhook_batch):
            batch = [to_json(a) for a in alerts[start:start + cfg.webhook_batch]]
            payload = json.dumps({"source": "snapprice", "count": len(batch), "alerts": batch},
                                 ensure_ascii=False, default=str)
            try:
                for attempt in stamina.retry_context(
                    on=(_Retryable, httpx.TransportError), attempts=cfg.webhook_attempts,
                    timeout=cfg.webhook_timeout * cfg.webhook_attempts * 2, wait_initial=0.5, wait_max=30,
                ):
                    with attempt:
                        resp = client.post(url, content=payload.encode(),
                                           headers={"Content-Type": "application/json"})
                        if resp.status_code == 429 or resp.status_code >= 500:
                            raise _Retryable(f"HTTP {resp.status_code}")
            except (_Retryable, httpx.TransportError) as exc:
                # str(exc) of httpx errors holds the full URL: only its type goes to the log
                detail = str(exc) if isinstance(exc, _Retryable) else type(exc).__name__
                log.warning("alert webhook %s failed after %d attempt(s) (%s): %d alert(s) not sent",
                            where, cfg.webhook_attempts, detail, len(alerts) - sent)
                return sent
            if resp.status_code >= 400:
                log.warning("alert webhook %s refused the alerts (HTTP %d): check the URL in %s",
                            where, resp.status_code, cfg.webhook_url_env)
                return sent
            sent += len(batch)
    log.info("sent %d alert(s) to %s", sent, where)
    return sent
