"""The README's command blocks work as written, in a fresh checkout.

Block 1 (install + demo, install + tests) is what CI itself runs on a clean clone; the
real-account block needs real credentials. Every other block runs here, in a clone of this
repository, with the installed `snapprice` on PATH.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)


def _kind(block: str) -> str:
    if "python3 -m venv .venv" in block:
        return "ci"  # .ci/run runs these two lines on a clean clone
    if "…" in block:
        return "real accounts"  # placeholders for real credentials
    return "local"


def test_the_readme_blocks_are_the_expected_ones():
    assert [_kind(b) for b in BLOCKS] == ["ci", "local", "real accounts"]


@pytest.mark.integration
@pytest.mark.parametrize("block", [b for b in BLOCKS if _kind(b) == "local"])
def test_a_local_block_runs_in_a_fresh_checkout(block, clean_db, database_url, tmp_path):
    checkout = tmp_path / "checkout"
    if (REPO / ".git").exists():
        subprocess.run(["git", "clone", "-q", str(REPO), str(checkout)], check=True)
    else:
        shutil.copytree(REPO, checkout, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(tmp_path / "home"), "DATABASE_URL": database_url,
           "SNAPPRICE_LOG_FILE": str(tmp_path / "snapprice.log")}
    for name in ("SNAPPRICE_CONFIG", "PREFECT_API_URL"):
        env.pop(name, None)
    script = "set -e\n" + block + "\nsnapprice db query 'SELECT count(*) AS searches FROM search_task' --json\n"
    log = tmp_path / "out.txt"
    with log.open("w") as sink:  # not a pipe: the block's background sandbox would hold it open
        proc = subprocess.Popen(["bash", "-c", script], cwd=checkout, env=env, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=240)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the block's background sandbox
    out = log.read_text()
    assert "cannot serve" not in out, "port 8765 (the README's) is taken by something else"
    assert proc.returncode == 0, out[-3000:]
    assert re.search(r"run 1: succeeded — 40 images", out), out[-3000:]
    assert re.search(r'\{"searches": [1-9]\d*\}', out), out[-2000:]
