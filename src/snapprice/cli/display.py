"""The terminal's view of a run: a progress bar per stage on a terminal, a plain line now and
then otherwise (a log, CI), nothing with --quiet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from snapprice.progress import watching

LABELS = {"load": "reading images", "hash": "hashing", "search": "searching"}


def _label(stage: str) -> str:
    """``search:taobao`` (one platform's searches) → ``  taobao``."""
    return "  " + stage.split(":", 1)[1] if stage.startswith("search:") else LABELS.get(stage, stage)
LINE_EVERY = 10.0  # seconds between plain progress lines


class _Lines:
    """Plain lines: each stage's start and end, and at most one line per LINE_EVERY seconds."""

    def __init__(self, out: TextIO, qps: float, platform_qps: dict[str, float]) -> None:
        self.out = out
        self.qps = qps
        self.platform_qps = platform_qps
        self.started: dict[str, float] = {}
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        first = stage not in self.started
        self.started.setdefault(stage, now)
        if stage.startswith("search:"):  # a platform's line only when it is through
            if done >= total:
                elapsed = now - self.started[stage]
                name = stage.split(":", 1)[1]
                rate = f", {done / elapsed:.1f}/s (budget {self.platform_qps.get(name, 0):g}/s)" if elapsed else ""
                print(f"searching {name}: {done}/{total} done{rate}", file=self.out, flush=True)
            return
        if not (first or done >= total or now - self.last >= LINE_EVERY):
            return
        self.last = now
        elapsed = now - self.started[stage]
        rate = done / elapsed if elapsed > 0 else 0.0
        line = f"{_label(stage)}: {done}/{total}"
        if stage == "search" and done and elapsed > 0:
            eta = (total - done) / rate if rate else 0.0
            line += f", {rate:.1f}/s (budget {self.qps:g}/s), about {eta:.0f} s left"
        print(line, file=self.out, flush=True)


@contextmanager
def run_progress(console: Console, *, qps: float, quiet: bool,
                 platform_qps: dict[str, float] | None = None) -> Iterator[None]:
    """Show the stages' progress while the block runs (the run is started inside it): a
    bar per stage, and one per platform under "searching" when several are searched."""
    platform_qps = platform_qps or {}
    if quiet:
        yield
        return
    if not console.is_terminal:
        with watching(_Lines(console.file, qps, platform_qps)):
            yield
        return
    with Progress(TextColumn("{task.description:<15}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        tasks: dict[str, int] = {}
        started: dict[str, float] = {}

        def show(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(_label(stage), total=total, rate="")
                started[stage] = time.monotonic()
            elapsed = time.monotonic() - started[stage]
            budget = qps if stage == "search" else platform_qps.get(stage.partition(":")[2])
            rate = f"{done / elapsed:.1f}/s of {budget:g}" if budget and elapsed > 0 else ""
            bar.update(tasks[stage], completed=done, total=total, rate=rate)

        with watching(show):
            yield
