"""How far a run's long stages are, told to whoever watches: the terminal's progress display
(``snapprice run``/``demo``), Prefect's progress artifact.

A process-wide list of watchers, because the stages run inside Prefect tasks, which take
only serializable parameters; the command that starts the flow in its own process attaches
a watcher around the call.

>>> seen = []
>>> with watching(lambda stage, done, total: seen.append((stage, done, total))):
...     report("search", 3, 10)
>>> report("search", 4, 10)  # nobody watches any more
>>> seen
[('search', 3, 10)]
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

# (stage, done so far, total known so far): "load" and "hash" count images, "search" searches.
Watcher = Callable[[str, int, int], None]

_watchers: list[Watcher] = []
_lock = threading.Lock()


@contextlib.contextmanager
def watching(watcher: Watcher) -> Iterator[None]:
    """Tell ``watcher`` about every stage's progress while the block runs."""
    with _lock:
        _watchers.append(watcher)
    try:
        yield
    finally:
        with _lock:
            _watchers.remove(watcher)


def report(stage: str, done: int, total: int) -> None:
    """``done`` of ``total`` of ``stage`` are through."""
    for watcher in list(_watchers):
        watcher(stage, done, total)


def counter() -> Callable[[str, int, int], None]:
    """A dedupe-style ``(stage, advance, total)`` callback that reports running totals."""
    done: dict[str, int] = {}

    def advance(stage: str, n: int, total: int) -> None:
        done[stage] = done.get(stage, 0) + n
        report(stage, done[stage], total)

    return advance
