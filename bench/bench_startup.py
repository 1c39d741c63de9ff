"""Fixed cost of `snapprice run`: start -> first search and last search -> exit, warm hash cache.

    python bench/bench_startup.py [--items 40] [--runs 3] [--qps 20] [--prefect] [--match-check]
                                  [--vs /other/checkout/.venv/bin/python]

Runs the real command line in a child process against the sandbox (its own process) and a
scratch database, once to warm the hash cache, then ``--runs`` times measured. The search
times are the run's own: ``raw_response.requested_at`` of its first call and
``received_at`` of its last, against this process's clock just before the child starts and
just after it exits (one machine, one clock). Also prints the search phase and the child's
CPU seconds. ``--prefect`` runs it as a Prefect flow run (``run --prefect``: Prefect's
temporary API server unless PREFECT_API_URL is set). ``--vs PYTHON`` alternates each run
with the same run of another checkout's interpreter (the baseline) and prints the pairs'
ratios: on a shared, busy machine only a paired ratio means much.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from bench_e2e import free_port, wait_ready
from bench_load import scratch_database
from snapprice.sandbox import SandboxConfig, build_world
from snapprice.sandbox.catalogs import generate_catalog


def one_run(cfg: Path, engine: sa.Engine, env: dict[str, str], prefect: bool,
            python: str = sys.executable) -> dict[str, float]:
    cmd = [python, "-m", "snapprice", "--config", str(cfg), "run", "--quiet", "--json",
           "--prefect" if prefect else "--no-prefect"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    end = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"snapprice run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    with engine.connect() as c:
        first, last, calls = c.execute(sa.text(
            "SELECT min(requested_at), max(received_at), count(*) FROM raw_response WHERE run_id = :r"),
            {"r": result["run_id"]}).one()
    if not calls:
        raise SystemExit(f"run {result['run_id']} made no search")
    return {"first": _ts(first) - start, "exit": end - _ts(last), "search": _ts(last) - _ts(first),
            "calls": calls, "wall": end - start,
            "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}


def _ts(value: datetime) -> float:
    return value.timestamp()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--qps", type=float, default=20)
    ap.add_argument("--prefect", action="store_true", help="run --prefect (a Prefect flow run)")
    ap.add_argument("--match-check", action="store_true", help="per-SKU match checks on")
    ap.add_argument("--vs", metavar="PYTHON", help="baseline interpreter (another checkout's venv)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="snapprice-startup-"))
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "snapprice.sandbox", "--port", str(port), "--seed", "5",
         "--products", "200", "--qps", str(args.qps)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    gen = generate_catalog(build_world(SandboxConfig(seed=5, n_products=200)), tmp / "cat", args.items,
                           dup_rate=0.3, distractor_rate=0.1)
    wait_ready(url, sandbox)
    env = {**os.environ, "K": "demo-key", "S": "demo-secret", "SNAPPRICE_LOG_FILE": str(tmp / "log")}
    env.pop("DATABASE_URL", None)
    try:
        with scratch_database("snapprice_startup") as db_url:
            cfg = tmp / "snapprice.toml"
            cfg.write_text(
                f'[database]\nurl = "{db_url}"\n[catalog]\npath = "{gen.csv_path}"\n'
                f'[match_check]\nenabled = {str(args.match_check).lower()}\n'
                f'[platforms.taobao]\nprotocol = "gateway"\nbase_url = "{url}"\nqps = {args.qps}\n'
                'credentials = { key = "K", secret = "S" }\n', encoding="utf-8")
            engine = sa.create_engine(db_url)
            one_run(cfg, engine, env, args.prefect)  # warm-up: fills the hash cache
            rows, base = [], []
            for _ in range(args.runs):
                rows.append(one_run(cfg, engine, env, args.prefect))
                if args.vs:
                    base.append(one_run(cfg, engine, env, args.prefect, args.vs))
            engine.dispose()
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    mode = "flow run (--prefect)" if args.prefect else "in process (--no-prefect)"
    print(f"snapprice run, {mode}, {args.items} items, {rows[0]['calls']} searches at {args.qps:g} QPS, "
          f"warm hash cache, {args.runs} runs (median [min-max]):")
    for key, what in (("first", "start -> first search"), ("exit", "last search -> exit"),
                      ("search", "search phase"), ("wall", "whole run"), ("cpu", "CPU (user+sys)")):
        vals = [r[key] for r in rows]
        line = f"  {what:22s} {statistics.median(vals):6.2f} s  [{min(vals):.2f}-{max(vals):.2f}]"
        if base:
            old = [r[key] for r in base]
            ratio = statistics.median(a / b for a, b in zip(vals, old, strict=True))
            line += f"   baseline {statistics.median(old):6.2f} s  [{min(old):.2f}-{max(old):.2f}]  ratio {ratio:.2f}"
        print(line)


if __name__ == "__main__":
    main()
