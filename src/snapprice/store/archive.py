"""The raw response archive: each search's redacted request and exact JSON body, once."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from snapprice.models import SearchPage, SearchTask


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
        "r": task.run_id, "g": task.group_id, "p": task.platform, "n": task.page,
        "m": marketplace, "proto": protocol, "req_at": requested_at, "rec_at": received_at,
        "status": page.http_status, "cached": page.cached, "quota": page.quota,
        "request": json.dumps(page.request, ensure_ascii=False, default=str),
        "body": json.dumps(page.body, ensure_ascii=False, default=str),
    }
    raw_id = conn.execute(
        text(
            "INSERT INTO raw_response (run_id, group_id, platform, page, marketplace, protocol,"
            " requested_at, received_at, http_status, cached, quota, request, body) "
            "VALUES (:r, :g, :p, :n, :m, :proto, :req_at, :rec_at, :status, :cached, :quota,"
            " CAST(:request AS jsonb), CAST(:body AS jsonb)) "
            "ON CONFLICT (run_id, group_id, platform, page) DO NOTHING RETURNING raw_id"
        ),
        params,
    ).scalar_one_or_none()
    if raw_id is None:
        raw_id = conn.execute(
            text(
                "SELECT raw_id FROM raw_response WHERE (run_id, group_id, platform, page)"
                " = (:r, :g, :p, :n)"
            ),
            params,
        ).scalar_one()
    return int(raw_id)
