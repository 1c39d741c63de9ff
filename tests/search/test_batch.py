"""The batching writer on the real database: set-based writes, one refused item, a fault mid-batch,
backpressure."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

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


def _completion(run_id: int, g: int, body: object = None, ids: list[str] | None = None,
                at: datetime = NOW, skus: tuple[str, ...] = ("SKU",)) -> runs.Completion:
    ids = ids if ids is not None else [f"{g}-{k}" for k in range(3)]
    items = [SearchItem(item_id=i, title=f"item {i} seen by {g}", pic_url=None, price=f"{10 + k + g}.00",
                        sales="100+", shop="shop", rank=k + 1) for k, i in enumerate(ids)]
    page = SearchPage("taobao", 1, items, False, body=body if body is not None else {"g": g},
                      request={"url": "https://example/search"})
    snaps, rejects = normalize_page("taobao", items)
    return runs.Completion(SearchTask(run_id, g, "taobao", 1), page, snaps, rejects, skus=list(skus),
                           marketplace="taobao", protocol="gateway", requested_at=at,
                           received_at=at, max_pages=1)


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
    assert [r for i, r in enumerate(results) if i != 2] == [3, 3, 3, 3]
    tasks = _q(clean_db, "SELECT group_id, status FROM search_task WHERE run_id = :r ORDER BY group_id",
               r=run_id)
    assert tasks == [(0, "done"), (1, "done"), (2, "failed"), (3, "done"), (4, "done")]
    assert _q(clean_db, "SELECT count(*), count(DISTINCT group_id) FROM price_snapshot WHERE run_id = :r",
              r=run_id) == [(12, 4)]
    assert _q(clean_db, "SELECT group_id FROM raw_response WHERE run_id = :r ORDER BY 1", r=run_id) == [
        (0,), (1,), (3,), (4,)]
    (reason,), = _q(clean_db, "SELECT reason FROM reject WHERE run_id = :r AND stage = 'load'", r=run_id)
    assert reason == "task_not_stored"


def test_a_bad_row_in_the_set_wise_load_keeps_the_other_items(clean_db):
    # PostgreSQL's text refuses NUL: the batch's one COPY fails, not a statement of its own.
    run_id = _run_with_tasks(clean_db, 4)
    items = [_completion(run_id, g) for g in range(4)]
    bad = items[1].snapshots[0]
    items[1] = dataclasses.replace(items[1], snapshots=[dataclasses.replace(bad, title="a \x00 b"),
                                                        *items[1].snapshots[1:]])
    ex = _executor(clean_db, run_id)
    _, results = asyncio.run(_write_all(ex, items))
    assert isinstance(results[1], str) and "results not stored" in results[1]
    assert [results[i] for i in (0, 2, 3)] == [3, 3, 3]
    assert _q(clean_db, "SELECT group_id, status FROM search_task WHERE run_id = :r ORDER BY group_id",
              r=run_id) == [(0, "done"), (1, "failed"), (2, "done"), (3, "done")]
    assert _q(clean_db, "SELECT count(*) FROM listing WHERE item_id LIKE '1-%'") == [(0,)]
    assert _q(clean_db, "SELECT count(*) FROM price_snapshot WHERE run_id = :r", r=run_id) == [(9,)]


def test_a_database_fault_mid_batch_retries_the_whole_batch(clean_db, monkeypatch):
    run_id = _run_with_tasks(clean_db, 6)
    original = runs.store_completions
    calls: list[list[int]] = []

    def cut_connection_after_the_rows(conn, run, items):
        out = original(conn, run, items)
        calls.append([c.task.group_id for c in items])
        if len(calls) == 1:  # the rows are written; the server ends the session before the commit
            conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return out

    monkeypatch.setattr(runs, "store_completions", cut_connection_after_the_rows)
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
    # The first try wrote all 6 set-wise and died uncommitted; the retry wrote the same 6 again.
    assert calls == [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]]
    assert ex.batch.batches == 1 and results == [3] * 6
    assert _q(clean_db, "SELECT count(*), count(DISTINCT (listing_id, run_id)) FROM price_snapshot") == [(18, 18)]
    assert _q(clean_db, "SELECT count(*) FROM raw_response") == [(6,)]
    # The attempts counted before the batch are added once, with the batch that succeeded.
    assert _q(clean_db, "SELECT group_id, status, attempts FROM search_task ORDER BY 1") == [
        (0, "done", 2), (1, "done", 0), (2, "done", 0), (3, "done", 0), (4, "done", 0), (5, "done", 0)]


def _statements_of_a_batch(engine, run_id: int, items) -> list[str]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.split(None, 1)[0].upper())

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        with engine.begin() as conn:
            assert runs.complete_batch(conn, run_id, items) == [3] * len(items)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return seen


def test_a_batch_costs_the_same_statements_whatever_its_size(clean_db):
    run_id = _run_with_tasks(clean_db, 34)
    small = _statements_of_a_batch(clean_db, run_id, [_completion(run_id, g) for g in range(2)])
    big = _statements_of_a_batch(clean_db, run_id, [_completion(run_id, g) for g in range(2, 34)])
    assert small == big and len(big) < 25, big
    # ...and the snapshot triggers ran once for the 32 tasks: one statement inserted 96 rows.
    assert _q(clean_db, "SELECT count(*), count(DISTINCT raw_id) FROM price_snapshot") == [(102, 34)]


def test_a_listing_seen_by_two_tasks_of_one_batch(clean_db):
    run_id = _run_with_tasks(clean_db, 2)
    later = NOW + timedelta(seconds=1)
    first = _completion(run_id, 0, ids=["shared", "a"], skus=("SKU-A",))
    second = _completion(run_id, 1, ids=["b", "shared"], at=later, skus=("SKU-A", "SKU-B"))
    with clean_db.begin() as conn:
        assert runs.complete_batch(conn, run_id, [first, second]) == [2, 1]
    # One snapshot per (listing, run): the first task's; the listing has the newest title.
    assert _q(clean_db, "SELECT s.group_id, s.price_low, s.captured_at = :now FROM price_snapshot AS s"
                        " JOIN listing AS l USING (listing_id) WHERE l.item_id = 'shared'", now=NOW) == [
        (0, 10, True)]
    assert _q(clean_db, "SELECT title, first_seen = :now, last_seen = :later FROM listing"
                        " WHERE item_id = 'shared'", now=NOW, later=later) == [
        ("item shared seen by 1", True, True)]
    # One match row per (SKU, listing): best rank of both sightings, the newest one's rank last.
    assert _q(clean_db, "SELECT m.sku, m.best_rank, m.last_rank, m.times_seen FROM match AS m"
                        " JOIN listing AS l USING (listing_id) WHERE l.item_id = 'shared' ORDER BY 1") == [
        ("SKU-A", 1, 2, 1), ("SKU-B", 2, 2, 1)]
    # Written again (a retried batch after a lost commit, a resume): nothing doubles.
    with clean_db.begin() as conn:
        assert runs.complete_batch(conn, run_id, [first, second]) == [0, 0]
    assert _q(clean_db, "SELECT count(*) FROM price_snapshot") == [(3,)]
    assert _q(clean_db, "SELECT count(*), sum(times_seen) FROM match") == [(5, 5)]


def test_batches_are_cut_at_the_size_and_workers_wait_when_two_are_pending(clean_db):
    run_id = _run_with_tasks(clean_db, 10)
    ex = _executor(clean_db, run_id)
    writer, results = asyncio.run(_write_all(ex, [_completion(run_id, g) for g in range(10)],
                                             size=4, interval=60))
    assert writer.batches == 3  # 4 + 4 + the 2 left at close, not a minute later
    assert results == [3] * 10
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
