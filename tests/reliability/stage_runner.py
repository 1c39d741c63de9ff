"""A snapshot run without Prefect, as its own process: the reliability tests SIGKILL it.

    python tests/reliability/stage_runner.py --config C [--resume RUN_ID] [--kill-at STAGE:N]

``--kill-at hash:N`` SIGKILLs this process after N images were hashed, ``load:N`` inside the
load of the batch holding the N-th finished search (after the batch's rows were written,
before its commit),
``batch:N`` between batches (after N batches were committed, before the next one). It
prints ``run <id>``, ``stage <name>`` and, at the end, ``result <json>`` (flushed at once).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from typing import Any


def _say(*parts: Any) -> None:
    print(*parts, flush=True)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--resume", type=int, default=None)
    ap.add_argument("--kill-at", default="")
    args = ap.parse_args()
    stage, _, n = args.kill_at.partition(":")
    kill_after = int(n) if n else 0

    from snapprice import run
    from snapprice.search import executor
    from snapprice.settings import load_settings
    from snapprice.store import runs
    from snapprice.store.database import make_engine

    settings = load_settings(args.config)
    engine = make_engine(settings.database.url)
    count = {"hash": 0, "load": 0, "batch": 0}

    def progress(name: str, advance: int, total: int) -> None:
        if name == "hash":
            count["hash"] += advance
            if stage == "hash" and count["hash"] >= kill_after:
                _die()

    if stage == "load":
        original = runs.store_completions

        def store_then_die(conn, run_id, items):  # type: ignore[no-untyped-def]
            result = original(conn, run_id, items)
            count["load"] += len(items)
            if count["load"] >= kill_after:
                _die()  # the transaction holding these tasks' rows is never committed
            return result

        runs.store_completions = store_then_die  # type: ignore[assignment]

    if stage == "batch":
        whole = runs.complete_batch

        def die_before_batch(conn, run_id, items, *a, **kw):  # type: ignore[no-untyped-def]
            if items and count["batch"] >= kill_after:
                _die()  # the N batches before this one are committed, this one never starts
            result = whole(conn, run_id, items, *a, **kw)
            count["batch"] += bool(items)
            return result

        runs.complete_batch = die_before_batch  # type: ignore[assignment]

    if args.resume is None:
        run_id = run.start_run(engine, settings, kind="manual", catalog=settings.catalog.path)
    else:
        run_id = run.resume_target(engine, args.resume)
    _say("run", run_id)
    _say("stage ingest")
    run.ingest(engine, settings, run_id, settings.catalog.path, progress=progress)
    _say("stage search")
    dsn = settings.database.url if settings.search.limiter == "postgres" else None
    summary = executor.execute_searches(engine, settings, run_id, limiter_dsn=dsn)
    result = run.close_run(engine, run_id)
    result["calls"] = summary.calls
    _say("result", json.dumps(result, default=str))
    engine.dispose()


if __name__ == "__main__":
    main()
