"""The raw response archive: each search's redacted request and exact JSON body, once."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.engine import Connection

from snapprice.models import SearchPage, SearchTask
from snapprice.store.sql import statement


def archive_response(
    conn: Connection,
    task: SearchTask,
    page: SearchPage,
    *,
    marketplace: str,
    protocol: str,
    requested_at: datetime,
    received_at: datetime,
) -> int:
    """Archive the (redacted) response of a task; returns its raw_id (existing one on rerun)."""
    params = {
        "run": task.run_id, "group": task.group_id, "platform": task.platform, "page": task.page,
        "marketplace": marketplace, "protocol": protocol, "requested_at": requested_at,
        "received_at": received_at, "http_status": page.http_status, "cached": page.cached, "quota": page.quota,
        "request": json.dumps(page.request, ensure_ascii=False, default=str),
        "body": json.dumps(page.body, ensure_ascii=False, default=str),
    }
    raw_id = conn.execute(statement("store/archive_response"), params).scalar_one_or_none()
    if raw_id is None:
        raw_id = conn.execute(statement("store/raw_response_id"), params).scalar_one()
    return int(raw_id)
