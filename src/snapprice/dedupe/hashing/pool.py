"""Hashing many images on a process pool, and only those a hash cache does not hold yet.

Each worker hashes chunks of BATCH images (``batch.hash_chunk``) with one BLAS thread: the
matrices are small, and BLAS threads would only fight the pool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from itertools import islice
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from typing import TypeVar

from threadpoolctl import ThreadpoolController

from snapprice.dedupe.hashing.batch import BATCH, hash_chunk
from snapprice.dedupe.hashing.decode import ImageSource
from snapprice.dedupe.hashing.records import HashCache, HashRecord, Result
from snapprice.errors import ImageRejected

CACHE_CHUNK = 4096  # images hashed between two writes to the hash cache
# What a worker runs (hash_chunk, _one_blas_thread): a forkserver imports these once for all
# its workers. A name that fails to import is skipped silently, so tests check them.
WORKER_MODULES = ["snapprice.dedupe.hashing.batch", "snapprice.dedupe.hashing.pool"]
T = TypeVar("T")


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    """The loaded BLAS libraries, found once (a few ms) and inherited by forked workers."""
    return ThreadpoolController()


def _one_blas_thread() -> None:
    """Initializer of workers that are not forked: the matrices here are small, BLAS threads
    would only fight the pool."""
    _blas().limit(limits=1, user_api="blas")


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _pool_context() -> BaseContext:
    """fork while this process has one thread (fast: nothing re-imported); else forkserver.

    Forking a threaded process (Prefect, httpx pools) can copy a held lock into the child;
    forkserver avoids that at the price of importing the caller's main module per worker.
    """
    if os.name != "posix":
        return get_context("spawn")
    if threading.active_count() == 1:
        return get_context("fork")
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(WORKER_MODULES)
    return ctx


def hash_many(
    images: Iterable[tuple[str, ImageSource]],
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
    on_error: Callable[[str, ImageRejected], None] | None = None,
) -> dict[str, HashRecord]:
    """Hash (digest, bytes-or-path) pairs on a process pool; ``workers`` 0 means every core.

    Images that cannot be hashed are left out of the result and passed to ``on_error``.
    ``progress`` is called with the number of images finished since its last call.
    """
    n_workers = workers or default_workers()
    out: dict[str, HashRecord] = {}

    def collect(results: Iterable[Result]) -> None:
        for res in results:
            if isinstance(res, HashRecord):
                out[res.digest] = res
            elif on_error is not None:
                on_error(res.digest, ImageRejected(res.reason, res.detail))
            if progress is not None:
                progress(1)

    # One BLAS thread here too while the pool runs, so that forked workers inherit it: setting
    # it in a forked worker starts BLAS threads there that spin for ~0.1 s on the pool's cores.
    with _blas().limit(limits=1, user_api="blas"):
        if n_workers == 1:
            for chunk in _chunks(images, BATCH):
                collect(hash_chunk(chunk))
            return out
        ctx = _pool_context()
        init = None if ctx.get_start_method() == "fork" else _one_blas_thread
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=init) as pool:
            for results in pool.map(hash_chunk, _chunks(images, BATCH)):
                collect(results)
    return out


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def hash_with_cache(
    images: Iterable[tuple[str, ImageSource]],
    cache: HashCache,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
    on_error: Callable[[str, ImageRejected], None] | None = None,
) -> tuple[dict[str, HashRecord], int]:
    """Records for every image, hashing only digests the cache lacks; (records, n_computed).

    >>> import io
    >>> from PIL import Image
    >>> from snapprice.dedupe.hashing.records import MemoryHashCache
    >>> buf = io.BytesIO()
    >>> Image.new("RGB", (64, 64), "teal").save(buf, "PNG")
    >>> cache, items = MemoryHashCache(), [("a", buf.getvalue())]
    >>> hash_with_cache(items, cache, workers=1)[1], hash_with_cache(items, cache, workers=1)[1]
    (1, 0)
    """
    todo = dict(images)
    records = cache.get_many(list(todo))
    missing = [(d, src) for d, src in todo.items() if d not in records]
    if progress is not None and records:
        progress(len(records))
    computed = 0
    # Saved chunk by chunk: a run killed while hashing keeps what it had hashed.
    for start in range(0, len(missing), CACHE_CHUNK):
        fresh = hash_many(missing[start:start + CACHE_CHUNK], workers, progress, on_error)
        if fresh:
            cache.put_many(list(fresh.values()))
        records.update(fresh)
        computed += len(fresh)
    return records, computed
