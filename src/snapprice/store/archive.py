"""The raw response archive: each search's redacted request and exact JSON body, once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import Connection

from snapprice.models import SearchPage, SearchTask
from snapprice.store.sql import statement

_dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode


class Response(Protocol):
    """What the archive keeps of a finished search (``runs.Completion`` is one)."""

    @property
    def task(self) -> SearchTask: ...
    @property
    def page(self) -> SearchPage: ...
    @property
    def marketplace(self) -> str: ...
    @property
    def protocol(self) -> str: ...
    @property
    def requested_at(self) -> datetime: ...
    @property
    def received_at(self) -> datetime: ...


def archive_responses(conn: Connection, run_id: int, responses: Sequence[Response]) -> list[int]:
    """Archive the (redacted) responses of tasks of ``run_id`` in one statement; their
    raw_ids in the same order (the stored one for a task archived before: a rerun)."""
    if not responses:
        return []
    keys = [(r.task.group_id, r.task.platform, r.task.page) for r in responses]
    params = {
        "run": run_id, "groups": [k[0] for k in keys], "platforms": [k[1] for k in keys],
        "pages": [k[2] for k in keys],
        "marketplaces": [r.marketplace for r in responses], "protocols": [r.protocol for r in responses],
        "requested": [r.requested_at for r in responses], "received": [r.received_at for r in responses],
        "statuses": [r.page.http_status for r in responses], "cached": [r.page.cached for r in responses],
        "quotas": [r.page.quota for r in responses],
        "requests": _dumps([r.page.request for r in responses]),
        "bodies": _dumps([r.page.body for r in responses]),
    }
    ids = {(g, p, n): raw for g, p, n, raw in conn.execute(statement("store/archive_responses"), params)}
    if len(ids) < len(set(keys)):
        ids.update({(g, p, n): raw for g, p, n, raw in conn.execute(
            statement("store/raw_response_ids"),
            {"run": run_id, "groups": params["groups"], "platforms": params["platforms"],
             "pages": params["pages"]})})
    return [int(ids[k]) for k in keys]

