"""Opt-in measurement for docs/scaling.md: how many finished search tasks per second one run
can store (``runs.complete_batch`` of one task, one transaction each, by 1, 2 and 4 writer threads; then
``runs.complete_batch``, ``--batch`` tasks a transaction, as the executor writes them, with
the read path's triggers on and off), and the bytes per snapshot row.

    python tests/reliability/write_rate.py [--tasks 600] [--items 20] [--batch 64]

Uses the PostgreSQL on 127.0.0.1:5432 (or --server URL) in a scratch database it drops.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--tasks", type=int, default=600)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()

    import sqlalchemy as sa

    from snapprice import run
    from snapprice.models import SearchItem, SearchPage, SearchTask
    from snapprice.normalize import normalize_page
    from snapprice.settings import Settings
    from snapprice.store import runs
    from snapprice.store.database import make_engine
    from tests.reliability.kit import one, scratch_database

    rng = random.Random(1)
    universe = [f"{n:012d}" for n in range(args.tasks * args.items // 3)]  # listings recur

    def page(n: int) -> SearchPage:
        items = [SearchItem(item_id=i, title=f"商品 {i}", pic_url=f"//img.example/{i}.jpg",
                            price=f"{rng.uniform(5, 500):.2f}", sales="1000+人付款",
                            shop="shop", rank=r + 1)
                 for r, i in enumerate(rng.sample(universe, args.items))]
        return SearchPage("taobao", 1, items, False, body={"items": {"item": [it.item_id for it in items]}},
                          request={"url": "https://example/search"})

    with scratch_database(args.server) as url:
        engine = make_engine(url, pool_size=8)
        for threads in (1, 2, 4):
            run_id = run.start_run(engine, Settings(), kind="manual", catalog="bench")
            pages = [page(n) for n in range(args.tasks)]

            def store(n: int, run_id: int = run_id, pages: list[SearchPage] = pages) -> None:
                task = SearchTask(run_id, n, "taobao", 1)
                snaps, rejects = normalize_page("taobao", pages[n].items)
                now = datetime.now(UTC)
                with engine.begin() as conn:
                    runs.complete_batch(conn, run_id, [runs.Completion(
                        task, pages[n], snaps, rejects, skus=[f"SKU-{n}"], marketplace="taobao",
                        protocol="gateway", requested_at=now, received_at=now, max_pages=1)])

            started = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(store, range(args.tasks)))
            secs = time.perf_counter() - started
            rows = one(engine, "SELECT count(*) FROM price_snapshot WHERE run_id = :r", r=run_id)
            print(f"{threads} writer thread(s): {args.tasks} tasks x {args.items} items in {secs:.2f} s"
                  f" = {args.tasks / secs:.0f} tasks/s, {rows / secs:.0f} snapshot rows/s")
        for triggers in ("on", "off", "on"):
            with engine.begin() as conn:
                for table in ("price_snapshot", "match"):
                    conn.execute(sa.text(f"ALTER TABLE {table} {'ENABLE' if triggers == 'on' else 'DISABLE'}"
                                         " TRIGGER USER"))
            run_id = run.start_run(engine, Settings(), kind="manual", catalog="bench")
            pages = [page(n) for n in range(args.tasks)]
            now = datetime.now(UTC)
            items = []
            for n in range(args.tasks):
                snaps, rejects = normalize_page("taobao", pages[n].items)
                items.append(runs.Completion(SearchTask(run_id, n, "taobao", 1), pages[n], snaps, rejects,
                                             skus=[f"SKU-{n}"], marketplace="taobao", protocol="gateway",
                                             requested_at=now, received_at=now, max_pages=1))
            started = time.perf_counter()
            for b in range(0, len(items), args.batch):
                with engine.begin() as conn:
                    runs.complete_batch(conn, run_id, items[b:b + args.batch])
            secs = time.perf_counter() - started
            print(f"batches of {args.batch}, read-path triggers {triggers}: {args.tasks} tasks in {secs:.2f} s"
                  f" = {args.tasks / secs:.0f} tasks/s ({secs / args.tasks * 1000:.2f} ms a task)")
        size = one(engine, "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i"
                           " JOIN pg_class c ON c.oid = i.inhrelid"
                           " WHERE i.inhparent = 'price_snapshot'::regclass")
        n = one(engine, "SELECT count(*) FROM price_snapshot")
        raw = one(engine, "SELECT pg_total_relation_size('raw_response')")
        n_raw = one(engine, "SELECT count(*) FROM raw_response")
        print(f"storage: {size / n:.0f} bytes per snapshot row with indexes ({n} rows); "
              f"{raw / n_raw:.0f} bytes per archived response of {args.items} item ids")
        engine.dispose()


if __name__ == "__main__":
    main()
