"""Every process a command starts ends with it, however it is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.flowkit import CREDS, make_setup

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_run_leaves_no_process_behind(clean_db, database_url, tmp_path, sig):
    """`snapprice run --prefect` starts Prefect's temporary API server (uvicorn); SIGTERM used to kill
    the command and leave that server running with parent 1."""
    setup = make_setup(tmp_path, database_url, platforms=("taobao", "jd"), items=24, qps=4, concurrency=2)
    env = {**os.environ, **CREDS, "SNAPPRICE_CONFIG": str(setup.config),
           "PREFECT_HOME": str(tmp_path / "prefect-home"), "SNAPPRICE_LOG_FILE": str(tmp_path / "log")}
    env.pop("PREFECT_API_URL", None)
    env.pop("DATABASE_URL", None)
    out = (tmp_path / "out.txt").open("w")  # not a pipe: an orphan holding it would hang the test
    proc = subprocess.Popen([sys.executable, "-m", "snapprice", "run", "--prefect"], env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    started: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            started = psutil.Process(proc.pid).children(recursive=True)
            if any("uvicorn" in " ".join(p.cmdline()) for p in started if p.is_running()):
                break
            time.sleep(0.2)
        assert started, "the run started no helper process"
        time.sleep(2)  # into the run
        started = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(sig)
        proc.wait(60)
        time.sleep(1)
        left = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert left == [], [" ".join(p.cmdline())[:100] for p in left]
        assert proc.returncode != 0
    finally:
        setup.sandbox.stop()
        out.close()
        for p in started:
            if p.is_running():
                p.kill()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
