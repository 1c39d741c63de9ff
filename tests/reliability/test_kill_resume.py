"""Kill and resume: SIGKILL a run while hashing, searching or loading; resume; compare tables."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from snapprice import run
from snapprice.sandbox import SandboxConfig, start_in_thread
from snapprice.sandbox.catalogs import generate_catalog
from snapprice.search import executor
from tests.conftest import DATA_TABLES
from tests.reliability.kit import (
    PlatformCfg,
    dump_tables,
    duplicates,
    one,
    run_pipeline,
    runner_cmd,
    runner_env,
    sandbox_reset,
    sandbox_stats,
    settings_for,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLATFORMS = ("taobao", "jd")
CONCURRENCY = 3
IN_FLIGHT = CONCURRENCY * len(PLATFORMS)  # searches that can be under way when the kill lands
# Finished searches not yet committed: the batch being written and the one filling.
WRITE_BATCH = 4
UNCOMMITTED = 2 * WRITE_BATCH
# (how, where): "hash"/"load"/"batch" kill the runner from inside at that point (load: in
# the middle of a batch's transaction; batch: between two batches); "time" kills it from
# outside at a random moment of its search stage.
TRIALS = ("hash", "hash", "load", "load", "load", "batch", "batch", "time", "time", "time", "time")


def _truncate(engine):
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))


def _calls(base_url):
    p = sandbox_stats(base_url)["protocols"]
    return p.get("gateway", {}).get("calls", 0), p.get("upload", {}).get("calls", 0)


def _killed_run(config, kind, rng, n_images, n_tasks, search_seconds):
    """Start the runner, SIGKILL it at the trial's moment; (run_id, where it died)."""
    args = []
    if kind == "hash":
        args = ["--kill-at", f"hash:{rng.randint(1, n_images - 1)}"]
    elif kind == "load":
        args = ["--kill-at", f"load:{rng.randint(1, n_tasks - 1)}"]
    elif kind == "batch":
        args = ["--kill-at", f"batch:{rng.randint(1, n_tasks // WRITE_BATCH - 1)}"]
    proc = subprocess.Popen(runner_cmd(config, *args), env=runner_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    run_id = None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("run "):
                run_id = int(line.split()[1])
            if kind == "time" and line.startswith("stage search"):
                # Within the first 60 % of the stage as the uninterrupted run took it: a
                # later kill may land after the run finished (then there is nothing to resume).
                time.sleep(rng.uniform(0.0, 0.6 * search_seconds))
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert run_id is not None, "".join(lines)[-3000:]
    return run_id, " ".join(args) or "search stage, random moment", proc.returncode


@pytest.fixture(scope="module")
def world(engine, database_url, tmp_path_factory):
    """Sandbox, catalog, config and the tables of one uninterrupted run (the reference)."""
    tmp = tmp_path_factory.mktemp("kill")
    with start_in_thread(SandboxConfig(seed=11, n_products=60, qps=200)) as sb:
        catalog = generate_catalog(sb.world, tmp / "catalog", 30, dup_rate=0.25,
                                   distractor_rate=0.1, seed=3)
        config = write_config(tmp / "snapprice.toml", database_url=database_url,
                              catalog=catalog.csv_path, base_url=sb.base_url,
                              concurrency=CONCURRENCY, write_batch=WRITE_BATCH,
                              platforms=[PlatformCfg(p, qps=40) for p in PLATFORMS])
        settings = settings_for(config)
        _truncate(engine)
        # run_pipeline's stages, with the search stage timed (where the "time" trials kill).
        run_id = run.start_run(engine, settings, kind="manual", catalog=str(catalog.csv_path))
        run.ingest(engine, settings, run_id, catalog.csv_path)
        started = time.monotonic()
        executor.execute_searches(engine, settings, run_id)
        search_seconds = time.monotonic() - started
        result = run.close_run(engine, run_id)
        assert result["status"] == "succeeded", result
        baseline = dump_tables(engine)
        n_tasks = one(engine, "SELECT count(*) FROM search_task")
        assert n_tasks > 20 and baseline["price_snapshot"]
        yield sb, catalog, config, settings, baseline, n_tasks, result["n_images"], search_seconds


def _resume_and_compare(engine, world, run_id, where):
    sb, catalog, _, settings, baseline, n_tasks, _, _ = world
    result = run_pipeline(engine, settings, catalog.csv_path, resume_run=run_id)
    searches, uploads = _calls(sb.base_url)
    assert result["status"] == "succeeded" and result["run_id"] == run_id, result
    assert dump_tables(engine) == baseline, f"tables differ after a kill at {where}"
    assert duplicates(engine) == 0
    repeated = searches - n_tasks
    assert 0 <= repeated <= IN_FLIGHT + UNCOMMITTED, (where, searches, n_tasks)
    assert uploads - n_tasks <= IN_FLIGHT + UNCOMMITTED, (where, uploads, n_tasks)  # one per task
    return repeated


def test_killed_runs_resume_to_the_uninterrupted_tables(engine, world):
    sb, _, config, _, baseline, n_tasks, n_images, search_seconds = world
    seed = int(os.environ.get("SNAPPRICE_TRIAL_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    report = []
    for kind in TRIALS:
        _truncate(engine)
        sandbox_reset(sb.base_url)
        run_id, where, code = _killed_run(config, kind, rng, n_images, n_tasks, search_seconds)
        assert code == -signal.SIGKILL, f"the runner was not killed ({where}): exit {code}"
        assert one(engine, "SELECT status FROM run WHERE run_id = :r", r=run_id) == "running"
        done_before = one(engine, "SELECT count(*) FROM search_task WHERE status = 'done'")
        searches_before, _ = _calls(sb.base_url)
        repeated = _resume_and_compare(engine, world, run_id, where)
        report.append(f"{where}: {done_before}/{n_tasks} done at the kill, "
                      f"{searches_before} calls before, {repeated} repeated")
    rows = sum(len(v) for v in baseline.values())
    print(f"\nkill and resume (seed {seed}, search stage {search_seconds:.2f} s): {len(TRIALS)} SIGKILL "
          "trials, each resumed to the "
          f"{rows} rows of the uninterrupted run ({len(baseline['price_snapshot'])} snapshots); "
          f"repeated search calls at most {IN_FLIGHT} (in flight) + {UNCOMMITTED} (two batches):\n  "
          + "\n  ".join(report))


def test_cli_run_killed_mid_search_resumes(engine, world, tmp_path):
    """The same through the real CLI (Prefect flow in a subprocess), resumed by the stages."""
    sb, _, config, _, _, n_tasks, _, _ = world
    _truncate(engine)
    sandbox_reset(sb.base_url)
    env = runner_env({"SNAPPRICE_CONFIG": str(config), "PREFECT_HOME": str(tmp_path / "ph"),
                      "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    env.pop("PREFECT_API_URL", None)
    # Its own process group: what the kill leaves behind can be found and cleaned up.
    proc = subprocess.Popen([sys.executable, "-m", "snapprice.cli", "run"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    target = random.randint(2, n_tasks // 2)
    orphans = False
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and proc.poll() is None and done < target:
            try:
                done = one(engine, "SELECT count(*) FROM search_task WHERE status = 'done'")
            except sa.exc.DBAPIError:
                done = 0
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        try:  # Prefect's ephemeral API server outlives a SIGKILLed CLI: end it here
            os.killpg(proc.pid, 0)
            orphans = True
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    (run_id, status), = [tuple(r) for r in engine.connect().execute(
        sa.text("SELECT run_id, status FROM run")).all()]
    assert status == "running"
    repeated = _resume_and_compare(engine, world, run_id, f"CLI, {done} searches done")
    print(f"\nkill and resume through the CLI: killed after {done}/{n_tasks} searches; resumed "
          f"to the uninterrupted run's tables; {repeated} repeated calls (in flight {IN_FLIGHT}, "
          f"uncommitted {UNCOMMITTED}); "
          f"processes left behind by the killed CLI: {'yes (ended)' if orphans else 'none'}")
