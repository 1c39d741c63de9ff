"""Execute a run's search tasks: per-platform workers, finished tasks committed in batches."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from snapprice.errors import (
    DatabaseUnavailable,
    ImageRejected,
    PlatformFatal,
    RequestRejected,
    TransientError,
)
from snapprice.ingest.fetch import AddressGuard, image_client, is_url, origin, picture_client
from snapprice.ingest.images import load_image
from snapprice.models import CheckedResults, ListingSnapshot, QueryImage, SearchPage, SearchTask
from snapprice.normalize import normalize_page
from snapprice.normalize import storable as storable_text
from snapprice.progress import report as report_progress
from snapprice.search.batch import BatchWriter, Outcome
from snapprice.search.match_check import Thresholds
from snapprice.search.platforms.gate import on_admit
from snapprice.search.platforms.jsonbody import storable
from snapprice.search.platforms.registry import (
    PROTOCOLS,
    Searcher,
    build_searchers,
    close_searchers,
    make_http_client,
)
from snapprice.search.verify import CheckConfig, PictureChecker, SkuImage
from snapprice.settings import Settings
from snapprice.store import runs
from snapprice.store.database import redact_url
from snapprice.store.groups import GroupInfo, load_group_images, load_groups

log = logging.getLogger("snapprice.search")
Progress = Callable[[int, int], None]  # (done, total known so far)
# How long the executor waits out a database outage (a restart, a failover) before it
# fails the run; every write it retries is idempotent, so retrying cannot double a row.
DB_WAIT_SECONDS = 60.0
WRITER_THREADS = 2


@dataclass
class SearchSummary:
    done: int = 0
    failed: int = 0
    skipped: int = 0
    snapshots: int = 0
    stopped: dict[str, str] = field(default_factory=dict)  # platform -> why
    calls: dict[str, dict[str, int]] = field(default_factory=dict)


class _Images:
    """Query images of the run's groups, read once each (local file or URL) and kept only
    while tasks of their group are left: a run holds the pictures in flight, not all of them.
    A picture with a URL that the route sends as that URL is not read at all (ingest read
    and hashed it; the marketplace fetches it)."""

    def __init__(self, groups: dict[int, GroupInfo], settings: Settings) -> None:
        self.groups = groups
        self.settings = settings
        self._cache: dict[int, asyncio.Future[QueryImage]] = {}
        self._uses: dict[int, int] = {}  # group -> its tasks queued or under way
        self.http = image_client()

    def _load(self, gid: int) -> QueryImage:
        info = self.groups[gid]
        d = self.settings.dedupe
        img = load_image(info.image_ref, max_bytes=d.max_image_bytes, max_pixels=d.max_pixels,
                         timeout=d.fetch_timeout, http=self.http)
        return QueryImage(digest=img.digest, data=img.data,
                          url=info.image_ref if is_url(info.image_ref) else None, mime=img.mime)

    async def get(self, gid: int, url_only: bool = False) -> QueryImage:
        """The picture of group ``gid``; ``url_only``: the route sends a URL when there is one."""
        if url_only:
            info = self.groups[gid]
            if is_url(info.image_ref):
                return QueryImage(digest=info.digest, data=b"", url=info.image_ref)
        if gid not in self._cache:
            self._cache[gid] = asyncio.ensure_future(asyncio.to_thread(self._load, gid))
        return await self._cache[gid]

    def expect(self, gid: int) -> None:
        """One more task of ``gid`` is queued."""
        self._uses[gid] = self._uses.get(gid, 0) + 1

    def release(self, gid: int) -> None:
        """A task of ``gid`` ended; the last one drops the picture."""
        left = self._uses.get(gid, 0) - 1
        if left > 0:
            self._uses[gid] = left
        else:
            self._uses.pop(gid, None)
            self._cache.pop(gid, None)


def _picture_checker(settings: Settings, db: Any) -> PictureChecker:
    """Result pictures come from the marketplace: fetched within the [match_check] bounds,
    from public addresses only, or from a configured platform's own host and port (the
    sandbox serves its pictures on loopback; an operator configured it)."""
    m, d = settings.match_check, settings.dedupe
    guard = AddressGuard(origin(p.base_url) for p in settings.enabled_platforms().values())
    config = CheckConfig(
        min_score=m.min_score, thresholds=Thresholds(m.min_inliers, m.max_colour_shift),
        max_bytes=m.max_bytes, max_pixels=m.max_pixels, timeout=m.timeout,
        max_concurrency=m.max_concurrency, workers=m.workers, cache_days=m.cache_days,
        sku_max_bytes=d.max_image_bytes, sku_max_pixels=d.max_pixels, sku_timeout=d.fetch_timeout)
    return PictureChecker(picture_client(guard, max_connections=m.max_concurrency), db, config)


def _storable_page(page: SearchPage) -> SearchPage:
    """The page as the archive can keep it: jsonb refuses NUL and lone surrogates, and a
    non-finite number; ``quota`` is a text column."""
    quota = page.quota if isinstance(page.quota, str) else None
    return dataclasses.replace(page, body=storable(page.body), request=storable(page.request),
                               quota=None if quota is None else storable_text(quota))


class _Executor:
    def __init__(self, engine: Engine, settings: Settings, run_id: int,
                 searchers: dict[str, Searcher], progress: Progress | None,
                 db_wait: float = DB_WAIT_SECONDS) -> None:
        self.engine = engine
        self.db_wait = db_wait
        self._db_down_since: float | None = None
        self.settings = settings
        self.run_id = run_id
        self.searchers = searchers
        # Per platform: whether its route sends a picture's URL instead of its bytes.
        self.url_only = {name: bool(getattr(PROTOCOLS.get(settings.platforms[name].protocol), "sends_url", False))
                         for name in searchers if name in settings.platforms}
        self.progress = progress
        self.summary = SearchSummary()
        self.total = 0
        self.finished = 0
        self.by_platform: dict[str, list[int]] = {}  # platform -> [finished, total]
        self.writers = ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="snapprice-db")
        self._checker: PictureChecker | None = None
        self._sku_images: dict[int, list[SkuImage]] = {}
        s = settings.search
        self.batch = BatchWriter(self._db, run_id, size=s.write_batch, interval=s.write_interval_ms / 1000)

    def _tick(self, platform: str) -> None:
        self.finished += 1
        if self.progress:
            self.progress(self.finished, self.total)
        mine = self.by_platform.setdefault(platform, [0, 0])
        mine[0] += 1
        if len(self.by_platform) > 1:  # one platform's bar would repeat the run's
            report_progress(f"search:{platform}", mine[0], mine[1])

    def _write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` in its own transaction, reconnecting through a database outage."""
        pause = 0.2
        while True:
            try:
                with self.engine.begin() as conn:
                    out = fn(conn, *args, **kwargs)
                self._db_down_since = None
                return out
            except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
                now = time.monotonic()
                if self._db_down_since is None:  # shared: queued writes do not each wait anew
                    self._db_down_since = now
                if now + pause - self._db_down_since > self.db_wait:
                    first = (str(exc.orig or exc).strip().splitlines() or [""])[0][:300]
                    raise DatabaseUnavailable(
                        f"run {self.run_id}: PostgreSQL at {redact_url(str(self.engine.url))} "
                        f"unreachable for more than {self.db_wait:g} s ({first}); the run "
                        f"stopped, `snapprice run --resume {self.run_id}` finishes it") from None
                log.warning("database unreachable (%s), retrying in %.1f s",
                            type(exc.orig or exc).__name__, pause)
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One transaction on the small writer pool: few threads, so the event loop that
        drives the HTTP calls is not starved of the GIL."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.writers, functools.partial(self._write, fn, *args, **kwargs))

    async def _end(self, task: SearchTask, status: str, why: str) -> None:
        # A marketplace's error text may hold NUL or lone surrogates: last_error is text.
        await self._db(runs.end_task, task, status, storable_text(why))
        if status == "failed":
            self.summary.failed += 1
        else:
            self.summary.skipped += 1
        self._tick(task.platform)

    async def _one(self, task: SearchTask, queue: asyncio.Queue[SearchTask],
                   images: _Images) -> asyncio.Future[Outcome] | None:
        """Search ``task``; the future of its batch when it found results to store (the task
        is over once that batch is committed), None when it ended here."""
        searcher = self.searchers[task.platform]
        plat = self.settings.platforms[task.platform]
        if searcher.stopped is not None:
            await self._end(task, "skipped", f"platform stopped: {searcher.stopped}")
            return None
        try:
            image = await images.get(task.group_id, self.url_only.get(task.platform, False))
        except ImageRejected as exc:
            await self._end(task, "failed", f"query image unusable: {exc}")
            return None

        async def attempted() -> None:  # a request of this task is about to be sent
            self.batch.attempted(task.group_id, task.platform, task.page)

        requested_at = datetime.now(UTC)
        try:
            with on_admit(attempted):
                page = await searcher.search(image, task.page)
        except PlatformFatal as exc:
            self.summary.stopped.setdefault(task.platform, str(exc))
            await self._end(task, "skipped", f"platform stopped: {exc}")
            return None
        except (RequestRejected, TransientError) as exc:
            await self._end(task, "failed", f"{type(exc).__name__}: {exc}")
            return None
        received_at = datetime.now(UTC)
        marketplace = plat.platform or task.platform
        snaps, rejects = normalize_page(marketplace, page.items)
        checked: CheckedResults | None = None
        if self.settings.match_check.enabled:
            snaps, checked = await self._check(snaps, task.group_id, image)
        skus = images.groups[task.group_id].skus
        committed = await self.batch.submit(runs.Completion(
            task, _storable_page(page), snaps, rejects, skus=skus, checked=checked,
            marketplace=marketplace, protocol=plat.protocol, requested_at=requested_at,
            received_at=received_at, max_pages=plat.pages))
        more = page.has_more and task.page < plat.pages
        if not more:  # the picture is not needed while the batch waits (a next page would)
            images.release(task.group_id)
        committed.add_done_callback(functools.partial(self._stored, task, more, queue, images))
        return committed

    def _stored(self, task: SearchTask, more: bool, queue: asyncio.Queue[SearchTask],
                images: _Images, committed: asyncio.Future[Outcome]) -> None:
        """The batch holding ``task`` was committed: count it, queue its next page, and only
        then let it go (the queues drain only when every finished task is stored)."""
        if committed.cancelled() or committed.exception() is not None:
            return  # the writer failed for good: run() stops on that error
        result = committed.result()
        if isinstance(result, str):  # the database refused this task's results
            self.summary.failed += 1
        else:
            self.summary.done += 1
            self.summary.snapshots += result
            if more:
                self.total += 1
                self.by_platform.setdefault(task.platform, [0, 0])[1] += 1
                images.expect(task.group_id)
                queue.put_nowait(SearchTask(task.run_id, task.group_id, task.platform, task.page + 1))
        self._tick(task.platform)
        if more:
            images.release(task.group_id)
        queue.task_done()

    async def _check(self, snaps: list[ListingSnapshot], group_id: int,
                     image: QueryImage) -> tuple[list[ListingSnapshot], CheckedResults]:
        """Per-SKU match checks: every result's picture against each SKU's own picture in
        the group; only passing pairs become matches (the rest are stored as listings and
        snapshots all the same)."""
        if self._checker is None:
            self._checker = _picture_checker(self.settings, self._db)
        return await self._checker.check(snaps, self._sku_images.get(group_id, []), image)

    async def _worker(self, queue: asyncio.Queue[SearchTask], images: _Images) -> None:
        while True:
            task = await queue.get()
            committed = None
            try:
                committed = await self._one(task, queue, images)
            except DatabaseUnavailable:
                raise  # nothing can be recorded any more: run() stops every worker
            except Exception:
                log.exception("search task %s failed unexpectedly", task)
                await self._end(task, "failed", "internal error (see the run log)")
            finally:
                if committed is None:  # else _stored lets it go once its batch is committed
                    images.release(task.group_id)
                    queue.task_done()

    async def run(self) -> SearchSummary:
        with self.engine.connect() as conn:
            groups = load_groups(conn, self.run_id)
            if self.settings.match_check.enabled:
                self._sku_images = {g: [SkuImage(*row) for row in rows]
                                    for g, rows in load_group_images(conn, self.run_id).items()}
            todo = runs.open_tasks(conn, self.run_id, list(self.searchers))
        images = _Images(groups, self.settings)
        queues: dict[str, asyncio.Queue[SearchTask]] = {n: asyncio.Queue() for n in self.searchers}
        for t in todo:
            images.expect(t.group_id)
            queues[t.platform].put_nowait(t)
            self.by_platform.setdefault(t.platform, [0, 0])[1] += 1
        self.total = len(todo)
        workers = [
            asyncio.create_task(self._worker(q, images))
            for q in queues.values() for _ in range(self.settings.search.concurrency)
        ]
        writer = asyncio.create_task(self.batch.run())
        joined = asyncio.ensure_future(asyncio.gather(*(q.join() for q in queues.values())))
        try:
            # A worker or the writer only ends early by raising: then the queues would never
            # drain, so stop.
            watched: list[asyncio.Future[Any]] = [joined, writer, *workers]
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for w in (writer, *workers):
                if w.done() and not w.cancelled() and w.exception() is not None:
                    raise w.exception()  # type: ignore[misc]
            await self.batch.close()  # every task is stored: write the attempts still counted
            await writer
        finally:
            joined.cancel()
            for w in (writer, *workers):
                w.cancel()
            await asyncio.gather(joined, writer, *workers, return_exceptions=True)
            images.http.close()
            self.writers.shutdown(wait=True)
            if self._checker is not None:
                await self._checker.aclose()
        self.summary.calls = {n: dataclasses.asdict(s.calls) for n, s in self.searchers.items()}
        return self.summary


async def execute_async(engine: Engine, settings: Settings, run_id: int, *,
                        progress: Progress | None = None, limiter_dsn: str | None = None,
                        http: httpx.AsyncClient | None = None,
                        db_wait: float = DB_WAIT_SECONDS) -> SearchSummary:
    own_http = http is None
    client = http or make_http_client(settings)
    searchers = build_searchers(settings, client, dsn=limiter_dsn)
    try:
        return await _Executor(engine, settings, run_id, searchers, progress, db_wait).run()
    finally:
        await close_searchers(searchers)
        if own_http:
            await client.aclose()


def execute_searches(engine: Engine, settings: Settings, run_id: int, *,
                     progress: Progress | None = None, limiter_dsn: str | None = None,
                     db_wait: float = DB_WAIT_SECONDS) -> SearchSummary:
    """Run every open search task of ``run_id`` to done, failed or skipped.

    Raises DatabaseUnavailable when PostgreSQL stays unreachable for ``db_wait`` seconds
    (shorter outages are waited out); the run can then be resumed.
    """
    return asyncio.run(execute_async(engine, settings, run_id, progress=progress,
                                     limiter_dsn=limiter_dsn, db_wait=db_wait))
