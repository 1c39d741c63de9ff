"""Scale-out on Prefect's own machinery: server, process work pool, two workers, a deployment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_workers_two_runs_one_budget(pg_server_url, tmp_path):
    script = Path(__file__).with_name("scaleout_check.py")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for name in ("DATABASE_URL", "PREFECT_API_URL", "PREFECT_HOME"):
        env.pop(name, None)
    # The script makes (and drops) a scratch database on the test session's server.
    proc = subprocess.run([sys.executable, str(script), "--server", pg_server_url], env=env,
                          capture_output=True, text=True, timeout=200)
    lines = [x for x in proc.stdout.splitlines() if x.startswith(("scale-out:", "FAILED:"))]
    print("\n" + "\n".join(lines))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert lines and lines[0].startswith("scale-out:")
