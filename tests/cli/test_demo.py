"""The demo keeps to its own workspace and database, and a new shape starts it afresh."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from snapprice.cli import demo


def test_a_new_shape_gets_a_new_catalog_and_database(tmp_path):
    first, reset = demo.prepare(tmp_path, products=20, items=8)
    first.sandbox.stop()
    assert not reset and first.database == tmp_path / "pgdata-20p-8i-s7"
    assert len(first.catalog.read_text().splitlines()) == 1 + 8
    same, reset = demo.prepare(tmp_path, products=20, items=8)
    same.sandbox.stop()
    assert not reset and same.database == first.database
    other, reset = demo.prepare(tmp_path, products=20, items=10)
    other.sandbox.stop()
    assert reset and other.database == tmp_path / "pgdata-20p-10i-s7"
    assert len(other.catalog.read_text().splitlines()) == 1 + 10
    chosen, _ = demo.prepare(tmp_path, tmp_path / "mine", products=20, items=10)
    chosen.sandbox.stop()
    assert chosen.database == tmp_path / "mine"


@pytest.mark.integration
def test_the_demo_never_touches_the_users_database(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "PREFECT_HOME": str(tmp_path / "prefect"),
           # A DATABASE_URL that answers nothing: the demo must not even try it.
           "DATABASE_URL": "postgresql://someone:pw@127.0.0.1:1/theirs"}
    for name in ("SNAPPRICE_CONFIG", "PREFECT_API_URL"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-m", "snapprice", "demo", "--items", "8", "--products", "20"],
                         capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ignores DATABASE_URL" in out.stdout and "run 1: succeeded — 8 images" in out.stdout
    workspace = tmp_path / "data" / "snapprice" / "demo"
    assert (workspace / "pgdata-20p-8i-s7").is_dir() and (workspace / "report.html").is_file()
    assert not (tmp_path / "data" / "snapprice" / "pgdata").exists()  # the user's own database
    assert f"--data-dir {workspace / 'pgdata-20p-8i-s7'} db query" in out.stdout
