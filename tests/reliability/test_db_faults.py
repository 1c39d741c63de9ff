"""Database faults: PostgreSQL (an embedded server of this test's own) stopped and started
again in the middle of a run."""

from __future__ import annotations

import tempfile
import threading
import time
import warnings

import pytest

from snapprice import run
from snapprice.errors import DatabaseUnavailable
from snapprice.sandbox import SandboxConfig, start_in_thread
from snapprice.sandbox.catalogs import generate_catalog
from snapprice.search import executor
from snapprice.store import migrate
from snapprice.store.database import make_engine, to_sqlalchemy
from tests.reliability.kit import (
    PlatformCfg,
    duplicates,
    one,
    run_pipeline,
    sandbox_stats,
    settings_for,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLATFORMS = ("taobao", "jd")
CONCURRENCY = 3
# Results are committed in batches: a run stopped by the database loses at most the batch
# being written and the one filling (docs/reliability.md), searched again on resume.
WRITE_BATCH = 4


@pytest.fixture(scope="module")
def own_pg():
    """An embedded PostgreSQL only these tests use (they stop it; never the shared one)."""
    import pgserver
    from pgserver._commands import pg_ctl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(tempfile.mkdtemp(prefix="snapprice-dbfault-"),
                                     cleanup_mode="delete")
    url = to_sqlalchemy(server.get_uri())
    migrate.upgrade(url)

    class Pg:
        def stop(self) -> None:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)

        def start(self) -> None:
            server.ensure_postgres_running()

    try:
        yield url, Pg()
    finally:
        server.cleanup()


def _empty(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE run, catalog_item, image_hash, listing, match, reject"
                             " RESTART IDENTITY CASCADE")


def _wait_done(engine, n, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if one(engine, "SELECT count(*) FROM search_task WHERE status = 'done'") >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} searches done after {timeout} s")


def _setup(tmp_path, url):
    sb = start_in_thread(SandboxConfig(seed=11, n_products=60, qps=200))
    catalog = generate_catalog(sb.world, tmp_path / "catalog", 30, seed=3)
    config = write_config(tmp_path / "snapprice.toml", database_url=url, catalog=catalog.csv_path,
                          base_url=sb.base_url, concurrency=CONCURRENCY, write_batch=WRITE_BATCH,
                          platforms=[PlatformCfg(p, qps=10) for p in PLATFORMS])
    return sb, catalog, settings_for(config)


def _check_tables(engine, run_id):
    tasks = one(engine, "SELECT count(*) FROM search_task WHERE run_id = :r", r=run_id)
    assert one(engine, "SELECT count(*) FROM search_task WHERE status = 'done'") == tasks
    assert one(engine, "SELECT count(*) FROM raw_response WHERE run_id = :r", r=run_id) == tasks
    assert duplicates(engine) == 0
    return tasks


def test_short_outage_is_waited_out(own_pg, tmp_path):
    url, pg = own_pg
    engine = make_engine(url)
    _empty(engine)
    sb, catalog, settings = _setup(tmp_path, url)
    out: dict = {}

    def work() -> None:
        try:
            out["result"] = run_pipeline(engine, settings, catalog.csv_path)
        except BaseException as exc:  # handed to the test thread
            out["error"] = exc

    try:
        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        _wait_done(engine, 8)
        pg.stop()
        time.sleep(2.0)
        pg.start()
        worker.join(90)
        assert not worker.is_alive(), "the run hangs after the database came back"
        calls = sandbox_stats(sb.base_url)["protocols"]["gateway"]["calls"]
    finally:
        sb.stop()
    assert "error" not in out, out.get("error")
    result = out["result"]
    assert result["status"] == "succeeded", result
    tasks = _check_tables(engine, result["run_id"])
    assert calls == tasks  # the outage cost no repeated search
    engine.dispose()
    print(f"\ndatabase restart mid-run (2 s down): reconnected and completed; {tasks} searches, "
          f"{calls} calls, {result['n_snapshots']} snapshots, 0 duplicates")


def test_long_outage_fails_clearly_and_resumes(own_pg, tmp_path):
    url, pg = own_pg
    engine = make_engine(url)
    _empty(engine)
    sb, catalog, settings = _setup(tmp_path, url)
    out: dict = {}
    run_id = run.start_run(engine, settings, kind="manual", catalog=str(catalog.csv_path))
    run.ingest(engine, settings, run_id, catalog.csv_path)

    def search() -> None:
        try:
            executor.execute_searches(engine, settings, run_id, db_wait=1.5)
        except BaseException as exc:
            out["error"] = exc

    try:
        worker = threading.Thread(target=search, daemon=True)
        worker.start()
        _wait_done(engine, 8)
        pg.stop()
        stopped = time.monotonic()
        worker.join(30)
        gave_up = time.monotonic() - stopped
        assert not worker.is_alive(), "the run hangs while the database is down"
        pg.start()
        before = sandbox_stats(sb.base_url)["protocols"]["gateway"]["calls"]
        result = run_pipeline(engine, settings, catalog.csv_path, resume_run=run_id)
        calls = sandbox_stats(sb.base_url)["protocols"]["gateway"]["calls"]
    finally:
        sb.stop()
    error = out.get("error")
    assert isinstance(error, DatabaseUnavailable), repr(error)
    assert f"--resume {run_id}" in str(error) and "unreachable" in str(error)
    assert result["status"] == "succeeded" and result["run_id"] == run_id, result
    tasks = _check_tables(engine, run_id)
    repeated = calls - tasks
    assert 0 <= repeated <= CONCURRENCY * len(PLATFORMS) + 2 * WRITE_BATCH
    engine.dispose()
    print(f"\ndatabase down longer than db_wait (1.5 s): the run stopped after {gave_up:.1f} s with "
          f"`{error}`; resumed to {tasks} searches ({before} calls before, {repeated} repeated, "
          "0 duplicates)")
