"""End-to-end: sandbox + real PostgreSQL + the Prefect flows under the test harness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from snapprice import pipeline
from tests.flowkit import CREDS, make_setup

pytestmark = pytest.mark.integration
PLATFORMS = ("taobao", "1688", "jd", "pinduoduo")


@pytest.fixture
def creds(monkeypatch):
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    # The flows read the environment: a DATABASE_URL there would win over the test config's.
    monkeypatch.delenv("DATABASE_URL", raising=False)


def q(engine, sql, **params):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


def test_snapshot_flow_matches_sandbox_ground_truth(prefect_harness, clean_db, database_url,
                                                    tmp_path, creds):
    setup = make_setup(tmp_path, database_url, platforms=PLATFORMS)
    world = setup.sandbox.world
    try:
        result = pipeline.snapshot(kind="manual", config=str(setup.config))
        stats = httpx.get(f"{setup.sandbox.base_url}/_admin/stats").json()
    finally:
        setup.sandbox.stop()
    truth = setup.catalog
    n_pictures = len(truth.product_of) - sum(len(g) - 1 for g in truth.duplicate_groups)
    assert result["status"] == "succeeded", result
    assert result["n_images"] == len(truth.product_of)
    # dedupe: never a false merge; a missed near-duplicate costs one search, so allow a few
    picture_of = {sku: i for i, g in enumerate(truth.duplicate_groups) for sku in g}
    for (skus,) in q(clean_db, "SELECT array_agg(c.sku) FROM image_group_member m JOIN catalog_item c"
                               " USING (catalog_item_id) GROUP BY m.group_id"):
        assert len({picture_of.get(s, s) for s in skus}) == 1, skus
    assert n_pictures <= result["n_groups"] <= n_pictures * 1.15
    assert result["n_searches"] == result["n_groups"] * len(PLATFORMS)
    assert stats["protocols"]["gateway"]["calls"] == result["n_searches"]  # no call wasted
    print(f"\ne2e: {result['n_images']} images, {result['n_groups']} groups, "
          f"{result['n_searches']} searches, {result['n_snapshots']} snapshots")

    matched = {}
    for sku, platform, item_id in q(clean_db, "SELECT m.sku, l.platform, l.item_id FROM match m "
                                              "JOIN listing l USING (listing_id)"):
        matched.setdefault((sku, platform), set()).add(item_id)
    (started,) = q(clean_db, "SELECT started_at FROM run")[0]
    expected_pairs = 0
    for sku, product in truth.product_of.items():
        for platform in PLATFORMS:
            if product is None:
                continue
            listed = {x.item_id for x in world.listings_for(product, platform)
                      if world.is_listed(x.item_id, platform, started)}
            if listed:
                expected_pairs += 1
                assert matched.get((sku, platform), set()) & listed, (sku, platform, listed)
    assert expected_pairs > 20

    rows = q(clean_db, "SELECT l.platform, l.item_id, s.captured_at, s.price_low, s.price_high,"
                       " s.promo_price FROM price_snapshot s JOIN listing l USING (listing_id)")
    assert len(rows) == result["n_snapshots"] > 0
    for platform, item_id, at, low, high, promo in rows:
        served = world.served_price(item_id, platform, at)
        assert (low, high, promo) == served, (platform, item_id, at)
    assert q(clean_db, "SELECT count(*) - count(DISTINCT (listing_id, run_id)) FROM price_snapshot") == [(0,)]
    assert q(clean_db, "SELECT count(*) FROM raw_response") == [(result["n_searches"],)]

    # Bait and outliers (the world's deposits, accessories and decoys) are flagged; honest
    # listings, their clearances included, are not.
    flagged = {"deposit": [0, 0], "accessory": [0, 0], "decoy": [0, 0], "honest": [0, 0], "clearance": [0, 0]}
    for platform, item_id, flag in q(clean_db, "SELECT l.platform, l.item_id, s.price_flag FROM price_snapshot s "
                                               "JOIN listing l USING (listing_id)"):
        counts = flagged[world.listing(item_id, platform).kind]
        counts[0] += flag != "ok"
        counts[1] += 1
    bait = [sum(flagged[k][i] for k in ("deposit", "accessory", "decoy")) for i in (0, 1)]
    honest = [sum(flagged[k][i] for k in ("honest", "clearance")) for i in (0, 1)]
    print(f"flags: {flagged}")
    assert bait[1] >= 5 and bait[0] >= 0.95 * bait[1], flagged
    assert honest[0] <= 0.01 * honest[1], flagged
    leaked = q(clean_db, "SELECT count(*) FROM raw_response WHERE request::text LIKE '%demo-secret%'"
                         " OR body::text LIKE '%demo-secret%'")
    assert leaked == [(0,)]


def test_backfill_replay_restores_identical_rows(prefect_harness, clean_db, database_url, tmp_path,
                                                 creds):
    setup = make_setup(tmp_path, database_url, platforms=("taobao", "pinduoduo"), items=12)
    try:
        pipeline.snapshot(kind="manual", config=str(setup.config))
    finally:
        setup.sandbox.stop()
    dump = "SELECT * FROM price_snapshot ORDER BY listing_id, run_id"
    before = q(clean_db, dump)
    assert before
    with clean_db.begin() as conn:  # a "parser bug" corrupted values, and some rows are lost
        conn.execute(sa.text("UPDATE price_snapshot SET price_low = price_low + 1, price_high = price_high + 1,"
                             " sales_text = 'x'"
                             " WHERE listing_id % 2 = 0"))
        conn.execute(sa.text("DELETE FROM price_snapshot WHERE listing_id % 3 = 0"))
    assert q(clean_db, dump) != before
    (lo, hi), = q(clean_db, "SELECT min(received_at), max(received_at) FROM raw_response")
    out = pipeline.backfill(since=lo, until=hi + timedelta(seconds=1), replay=True,
                                          config=str(setup.config))
    assert out["replay"]["responses"] == q(clean_db, "SELECT count(*) FROM raw_response")[0][0]
    assert q(clean_db, dump) == before
    again = pipeline.backfill(since=lo, until=hi + timedelta(seconds=1), replay=True,
                                            config=str(setup.config))
    assert again["replay"]["snapshots_changed"] == 0
    assert q(clean_db, dump) == before


def test_resume_after_sigkill_repeats_nothing(prefect_harness, clean_db, database_url, tmp_path,
                                              creds):
    concurrency = 2
    setup = make_setup(tmp_path, database_url, platforms=("taobao", "jd"), items=24, qps=4,
                       concurrency=concurrency)
    env = {**os.environ, **CREDS, "SNAPPRICE_CONFIG": str(setup.config),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_HOME": str(tmp_path / "ph")}
    env.pop("PREFECT_API_URL", None)
    env.pop("DATABASE_URL", None)
    # Its own process group: the kill also takes Prefect's temporary server with it.
    proc = subprocess.Popen([sys.executable, "-m", "snapprice.cli", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                done = q(clean_db, "SELECT count(*) FROM search_task WHERE status = 'done'")[0][0]
            except sa.exc.DBAPIError:
                done = 0
            if done >= 6:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert done >= 6, "the run never reached its search stage"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    (run_id, status), = q(clean_db, "SELECT run_id, status FROM run")
    assert status == "running"
    tasks_total = q(clean_db, "SELECT count(*) FROM search_task")[0][0]
    open_before = q(clean_db, "SELECT count(*) FROM search_task WHERE status <> 'done'")[0][0]
    assert open_before > 0
    calls_before = httpx.get(f"{setup.sandbox.base_url}/_admin/stats").json()["protocols"]["gateway"]["calls"]

    try:
        result = pipeline.snapshot(resume=True, config=str(setup.config))
        stats = httpx.get(f"{setup.sandbox.base_url}/_admin/stats").json()
    finally:
        setup.sandbox.stop()
    assert result["run_id"] == run_id and result["status"] == "succeeded", result
    assert q(clean_db, "SELECT count(*) FROM search_task WHERE status = 'done'") == [(tasks_total,)]
    calls_after = stats["protocols"]["gateway"]["calls"] - calls_before
    repeated = calls_before + calls_after - tasks_total
    in_flight = concurrency * 2
    print(f"\nresume: killed after {done} searches; {open_before} open; resume made {calls_after} "
          f"calls; repeated calls {repeated} (in flight at most {in_flight})")
    assert calls_after <= open_before
    assert 0 <= repeated <= in_flight
    assert q(clean_db, "SELECT count(*) - count(DISTINCT (listing_id, run_id)) FROM price_snapshot") == [(0,)]
    assert q(clean_db, "SELECT count(*) FROM raw_response") == [(tasks_total,)]


def test_deploy_puts_the_configured_schedule_on_the_entrypoints(prefect_harness, tmp_path):
    """`snapprice deploy` makes the two deployments from flows/ with [schedule] of the config:
    the schedule is written once, in the config."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = tmp_path / "deploy.toml"
    config.write_text('[schedule]\ncron = "15 6 * * 1-5"\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="snapprice-test", type="process"))
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    out = subprocess.run([sys.executable, "-m", "snapprice", "--config", str(config), "deploy",
                          "--pool", "snapprice-test", "--source", repo],
                         capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    with get_client(sync_client=True) as client:
        snap = client.read_deployment_by_name("snapshot/snapshot-daily")
        back = client.read_deployment_by_name("backfill/backfill")
    assert snap.entrypoint == "flows/snapshot.py:snapshot" and back.entrypoint == "flows/backfill.py:backfill"
    assert snap.work_pool_name == back.work_pool_name == "snapprice-test"
    [schedule] = snap.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("15 6 * * 1-5", "Europe/Berlin")
    assert snap.parameters == {"kind": "scheduled", "config": str(config.resolve()), "data_dir": None}
    assert back.schedules == []


@pytest.mark.parametrize(("error", "retried"), [
    ("CatalogError", False), ("ConfigError", False), ("MigrationError", False),
    ("DatabaseUnavailable", True), ("OperationalError", True),
])
def test_tasks_retry_what_a_retry_can_mend(error, retried):
    """A missing catalog or a bad config fails at once (it used to be retried twice, 10 s
    lost); a database that went away is retried."""
    import sqlalchemy.exc
    from prefect.states import Failed

    from snapprice import errors

    exc = (sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
           if error == "OperationalError" else getattr(errors, error)("x"))
    assert pipeline._worth_retrying(None, None, Failed(data=exc)) is retried


def test_a_run_of_chosen_platforms_searches_only_them(prefect_harness, clean_db, database_url, tmp_path,
                                                        creds, monkeypatch):
    setup = make_setup(tmp_path, database_url, platforms=("taobao", "jd"), items=8)
    monkeypatch.delenv("SNAPPRICE_GATEWAY_SECRET")  # needed by both; chosen or not, still needed
    with pytest.raises(Exception, match="SNAPPRICE_GATEWAY_SECRET is not set"):
        pipeline.snapshot(kind="manual", config=str(setup.config), platforms=["jd"])
    monkeypatch.setenv("SNAPPRICE_GATEWAY_SECRET", CREDS["SNAPPRICE_GATEWAY_SECRET"])
    try:
        result = pipeline.snapshot(kind="manual", config=str(setup.config), platforms=["jd"])
    finally:
        setup.sandbox.stop()
    assert result["status"] == "succeeded", result
    assert q(clean_db, "SELECT DISTINCT platform FROM search_task") == [("jd",)]
    assert result["n_searches"] == result["n_groups"]
