"""The batching writer on the real database: one refused item, a fault mid-batch, backpressure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from snapprice.models import SearchItem, SearchPage, SearchTask
from snapprice.normalize import normalize_page
from snapprice.search import executor
from snapprice.search.batch import BatchWriter
from snapprice.settings import Settings
from snapprice.store import runs

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _run_with_tasks(engine, n: int) -> int:
    with engine.begin() as conn:
        run_id = runs.create_run(conn, kind="manual", catalog="c", config_digest="d")
        item = conn.execute(sa.text("INSERT INTO catalog_item (sku, image_ref) VALUES ('SKU', 'a.jpg')"
                                    " RETURNING catalog_item_id")).scalar_one()
        for g in range(n):
            conn.execute(sa.text("INSERT INTO image_group (run_id, group_id, representative_id,"
                                 " representative_digest, n_members) VALUES (:r, :g, :i, 'd', 1)"),
                         {"r": run_id, "g": g, "i": item})
        runs.plan_tasks(conn, run_id, ["taobao"])
    return run_id


def _completion(run_id: int, g: int, body: object = None) -> runs.Completion:
    items = [SearchItem(item_id=f"{g}-{k}", title=f"item {g}-{k}", pic_url=None, price=f"{10 + k}.00",
                        sales="100+", shop="shop", rank=k + 1) for k in range(3)]
    page = SearchPage("taobao", 1, items, False, body=body if body is not None else {"g": g},
                      request={"url": "https://example/search"})
    snaps, rejects = normalize_page("taobao", items)
    return runs.Completion(SearchTask(run_id, g, "taobao", 1), page, snaps, rejects, skus=["SKU"],
                           marketplace="taobao", protocol="gateway", requested_at=NOW,
                           received_at=NOW, max_pages=1)


def _q(engine, sql: str, **params):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


async def _write_all(ex: executor._Executor, items, size: int = 64, interval: float = 0.05):
    writer = BatchWriter(ex._db, ex.run_id, size=size, interval=interval)
    flusher = asyncio.create_task(writer.run())
    futures = [await writer.submit(c) for c in items]
    await writer.close()
    await flusher
    return writer, [f.result() for f in futures]


def _executor(engine, run_id: int, db_wait: float = 10.0) -> executor._Executor:
    return executor._Executor(engine, Settings(), run_id, {}, None, db_wait=db_wait)


def test_one_bad_item_is_a_reject_and_the_others_are_kept(clean_db):
    run_id = _run_with_tasks(clean_db, 5)
    items = [_completion(run_id, g) for g in range(5)]
    items[2] = _completion(run_id, 2, body={"text": "NUL \x00 in the body"})  # jsonb refuses it
    ex = _executor(clean_db, run_id)
    writer, results = asyncio.run(_write_all(ex, items))
    assert writer.batches == 1  # written once whole (refused), then again item by item
    assert isinstance(results[2], str) and "results not stored" in results[2]
    assert [r.snapshots for i, r in enumerate(results) if i != 2] == [3, 3, 3, 3]
    tasks = _q(clean_db, "SELECT group_id, status FROM search_task WHERE run_id = :r ORDER BY group_id",
               r=run_id)
    assert tasks == [(0, "done"), (1, "done"), (2, "failed"), (3, "done"), (4, "done")]
    assert _q(clean_db, "SELECT count(*), count(DISTINCT group_id) FROM price_snapshot WHERE run_id = :r",
              r=run_id) == [(12, 4)]
    assert _q(clean_db, "SELECT group_id FROM raw_response WHERE run_id = :r ORDER BY 1", r=run_id) == [
        (0,), (1,), (3,), (4,)]
    (reason,), = _q(clean_db, "SELECT reason FROM reject WHERE run_id = :r AND stage = 'load'", r=run_id)
    assert reason == "task_not_stored"


def test_a_database_fault_mid_batch_retries_the_whole_batch(clean_db, monkeypatch):
    run_id = _run_with_tasks(clean_db, 6)
    original = runs.complete_task
    calls: list[int] = []

    def cut_connection_at_the_fourth(conn, task, *a, **kw):
        calls.append(task.group_id)
        result = original(conn, task, *a, **kw)
        if len(calls) == 4:  # the server ends this session: a real OperationalError
            conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return result

    monkeypatch.setattr(runs, "complete_task", cut_connection_at_the_fourth)
    ex = _executor(clean_db, run_id)
    ex.batch.attempted(0, "taobao", 1)
    ex.batch.attempted(0, "taobao", 1)
    items = [_completion(run_id, g) for g in range(6)]

    async def go():
        flusher = asyncio.create_task(ex.batch.run())
        futures = [await ex.batch.submit(c) for c in items]
        await ex.batch.close()
        await flusher
        return [f.result() for f in futures]

    results = asyncio.run(go())
    # The first try stored 4 items and died uncommitted; the retry wrote all 6 once each.
    assert calls == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5]
    assert ex.batch.batches == 1 and all(r.snapshots == 3 for r in results)
    assert _q(clean_db, "SELECT count(*), count(DISTINCT (listing_id, run_id)) FROM price_snapshot") == [(18, 18)]
    assert _q(clean_db, "SELECT count(*) FROM raw_response") == [(6,)]
    # The attempts counted before the batch are added once, with the batch that succeeded.
    assert _q(clean_db, "SELECT group_id, status, attempts FROM search_task ORDER BY 1") == [
        (0, "done", 2), (1, "done", 0), (2, "done", 0), (3, "done", 0), (4, "done", 0), (5, "done", 0)]


def test_batches_are_cut_at_the_size_and_workers_wait_when_two_are_pending(clean_db):
    run_id = _run_with_tasks(clean_db, 10)
    ex = _executor(clean_db, run_id)
    writer, results = asyncio.run(_write_all(ex, [_completion(run_id, g) for g in range(10)],
                                             size=4, interval=60))
    assert writer.batches == 3  # 4 + 4 + the 2 left at close, not a minute later
    assert all(r.snapshots == 3 for r in results)
    assert _q(clean_db, "SELECT count(*) FROM search_task WHERE status = 'done'") == [(10,)]


def test_a_write_that_fails_for_good_fails_every_item_of_its_batch(clean_db):
    run_id = _run_with_tasks(clean_db, 2)

    async def never(fn, *args, **kwargs):
        raise RuntimeError("database gone")

    async def go():
        writer = BatchWriter(never, run_id, size=8, interval=0.01)
        flusher = asyncio.create_task(writer.run())
        futures = [await writer.submit(_completion(run_id, g)) for g in range(2)]
        with pytest.raises(RuntimeError, match="database gone"):
            await flusher
        return futures

    futures = asyncio.run(go())
    assert all(isinstance(f.exception(), RuntimeError) for f in futures)
    assert _q(clean_db, "SELECT count(*) FROM search_task WHERE status = 'done'") == [(0,)]
