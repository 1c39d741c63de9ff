"""The batching writer: finished searches of a run committed many to a transaction.

Workers hand each finished search to ``submit`` and go on with the next call; one flusher
writes a batch when ``size`` are buffered or ``interval`` seconds after the first of them,
in one transaction that also adds the requests counted since the last batch: one COPY and
one statement per table for the whole batch (``runs.store_completions``). Batches are
written one after another, so a run's writes never wait on each other; while one is being
written the next fills, and a worker waits only when that one is full too. A kill loses at
most those two batches (a resume searches them again). A batch is written set-wise,
without a savepoint per item; only when the database refuses it is it written again item
by item, each under its savepoint, so that the one bad item becomes a reject and the
others are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from snapprice.errors import DatabaseUnavailable
from snapprice.store import runs

log = logging.getLogger("snapprice.search")
Write = Callable[..., Awaitable[Any]]  # (fn, *args): fn(conn, *args) in one transaction
Outcome = int | str  # what an item became: the snapshots it stored, or why it was not stored


class BatchWriter:
    def __init__(self, write: Write, run_id: int, *, size: int, interval: float) -> None:
        self._write = write
        self.run_id = run_id
        self.size = size
        self.interval = interval
        self._items: list[tuple[runs.Completion, asyncio.Future[Outcome]]] = []
        self._attempts: dict[tuple[int, str, int], int] = {}
        self._first = 0.0  # loop time of the buffer's oldest item
        self._closing = False
        self._cond = asyncio.Condition()
        self.batches = 0

    def attempted(self, group_id: int, platform: str, page: int) -> None:
        """One request of this task was sent: counted with the next batch."""
        key = (group_id, platform, page)
        self._attempts[key] = self._attempts.get(key, 0) + 1

    async def submit(self, item: runs.Completion) -> asyncio.Future[Outcome]:
        """Buffer ``item``; the future resolves once its batch is committed (or raises
        what ended the writer: DatabaseUnavailable)."""
        loop = asyncio.get_running_loop()
        async with self._cond:
            await self._cond.wait_for(lambda: len(self._items) < self.size)
            fut: asyncio.Future[Outcome] = loop.create_future()
            if not self._items:
                self._first = loop.time()
            self._items.append((item, fut))
            self._cond.notify_all()
        return fut

    async def close(self) -> None:
        """Flush what is buffered (and the attempts counted) and end ``run``."""
        async with self._cond:
            self._closing = True
            self._cond.notify_all()

    async def _take(self) -> list[tuple[runs.Completion, asyncio.Future[Outcome]]] | None:
        """The next batch, when it is due; None once closed and empty."""
        loop = asyncio.get_running_loop()
        async with self._cond:
            await self._cond.wait_for(lambda: bool(self._items) or self._closing)
            if not self._items and self._closing:
                return None
            left = self._first + self.interval - loop.time()
            if left > 0 and len(self._items) < self.size and not self._closing:
                with contextlib.suppress(TimeoutError):  # the interval is up: write what there is
                    await asyncio.wait_for(self._cond.wait_for(
                        lambda: len(self._items) >= self.size or self._closing), left)
            batch, self._items = self._items, []
            self._cond.notify_all()
            return batch

    async def run(self) -> None:
        """Write batches until closed; a write that fails for good fails every item of its
        batch and ends the writer with that error."""
        while (batch := await self._take()) is not None:
            await self._flush(batch)
        if self._attempts:
            await self._flush([])

    async def _flush(self, batch: list[tuple[runs.Completion, asyncio.Future[Outcome]]]) -> None:
        attempts, self._attempts = self._attempts, {}
        items = [c for c, _ in batch]
        try:
            try:
                results = await self._write(runs.complete_batch, self.run_id, items, attempts)
            except DatabaseUnavailable:
                raise
            except Exception:
                # Something in the batch was refused (its transaction is rolled back): write
                # it again with a savepoint per item, so that only that item is lost.
                log.warning("a batch of %d finished searches was refused; writing it again item by item",
                            len(items), exc_info=True)
                results = await self._write(runs.complete_batch, self.run_id, items, attempts, isolate=True)
        except asyncio.CancelledError:
            for _, fut in batch:
                fut.cancel()
            raise
        except Exception as exc:
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        self.batches += 1
        for (_, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)
