"""snapprice's own CPU per search: the search stage of a run, in this process, against the sandbox.

    python bench/bench_search_cpu.py [--items 250] [--qps 100] [--runs 3] [--concurrency 16]
                                     [--vs /other/checkout/.venv/bin/python]

The sandbox (its own process) and the catalog's pictures (a static file server, as a
merchant's CDN: each search is one API call) run beside it; a scratch database holds the
runs. Each run ingests the catalog (hash cache warm after the warm-up) and then runs
``execute_searches``; the figure is this process's CPU seconds (every thread: the event
loop, the database writers, the picture loads) over the searches done.

``--vs PYTHON`` pairs it with a baseline: each run is then a child process of this script
(the same stage, timed the same way), ours and the baseline interpreter's (another
checkout's venv, so its snapprice) alternating A B A B against the same sandbox, catalog
and database; it prints each side's median and the median of the paired ratios.

Profile it with
``py-spy record --gil -f raw -o out.txt -- python bench/bench_search_cpu.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench_e2e import free_port, serve_dir, url_catalog, wait_ready
from bench_load import scratch_database
from snapprice import run
from snapprice.sandbox import SandboxConfig, build_world
from snapprice.sandbox.catalogs import generate_catalog
from snapprice.search import executor
from snapprice.settings import load_settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=250)
    ap.add_argument("--qps", type=float, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--vs", metavar="PYTHON", help="baseline interpreter (another checkout's venv)")
    ap.add_argument("--child", nargs=2, metavar=("CONFIG", "CATALOG"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        settings = load_settings(args.child[0], environ={"K": "demo-key", "S": "demo-secret"})
        engine = sa.create_engine(settings.database.url)
        print("ms", one_run(engine, settings, Path(args.child[1]), args, f"child {sys.executable}"))
        engine.dispose()
        return
    tmp = Path(tempfile.mkdtemp(prefix="snapprice-searchcpu-"))
    products = max(200, args.items)
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "snapprice.sandbox", "--port", str(port), "--seed", "5",
         "--products", str(products), "--qps", str(args.qps * 2)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    gen = generate_catalog(build_world(SandboxConfig(seed=5, n_products=products)), tmp / "cat", args.items,
                           dup_rate=0.3, distractor_rate=0.1)
    wait_ready(url, sandbox)
    cdn, img_base = serve_dir(gen.out_dir)
    catalog = url_catalog(gen.csv_path, img_base, tmp / "catalog_urls.csv")
    per_search: list[float] = []
    base: list[float] = []
    try:
        with scratch_database("snapprice_searchcpu") as db_url:
            cfg = tmp / "snapprice.toml"
            cfg.write_text(
                f'[database]\nurl = "{db_url}"\n[search]\nconcurrency = {args.concurrency}\n'
                '[match_check]\nenabled = false\n'
                f'[platforms.taobao]\nprotocol = "gateway"\nbase_url = "{url}"\nqps = {args.qps}\n'
                'credentials = { key = "K", secret = "S" }\n', encoding="utf-8")
            if args.vs:
                for n in range(args.runs + 1):  # run 0: the warm-up of each side
                    ms = child_run(sys.executable, cfg, catalog, args)
                    old = child_run(args.vs, cfg, catalog, args)
                    if n:
                        per_search.append(ms)
                        base.append(old)
            else:
                settings = load_settings(cfg, environ={"K": "demo-key", "S": "demo-secret"})
                engine = sa.create_engine(db_url)
                for n in range(args.runs + 1):
                    ms = one_run(engine, settings, catalog, args, "warm-up" if n == 0 else f"run {n}")
                    if n:
                        per_search.append(ms)
                engine.dispose()
    finally:
        cdn.terminate()
        sandbox.terminate()
        sandbox.wait(10)
    print(f"snapprice CPU per search at {args.qps:g} QPS, median of {args.runs} runs (pid {os.getpid()}): "
          f"{statistics.median(per_search):.2f} ms [{min(per_search):.2f}-{max(per_search):.2f}]")
    if base:
        ratio = statistics.median(a / b for a, b in zip(per_search, base, strict=True))
        print(f"baseline ({args.vs}): {statistics.median(base):.2f} ms [{min(base):.2f}-{max(base):.2f}]; "
              f"paired ratio ours/baseline {ratio:.2f}")


def child_run(python: str, cfg: Path, catalog: Path, args: argparse.Namespace) -> float:
    """One run in a child process of ``python``; its CPU ms per search."""
    out = subprocess.run(
        [python, __file__, "--qps", str(args.qps), "--child", str(cfg), str(catalog)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)})
    lines = out.stdout.splitlines()
    print(*lines[:-1], sep="\n", flush=True)
    return float(lines[-1].split()[1])


def one_run(engine: sa.Engine, settings, catalog: Path, args: argparse.Namespace, label: str) -> float:
    """One run of the catalog (ingest, then the searches); CPU ms per search of the searches."""
    run_id = run.start_run(engine, settings, kind="manual", catalog=str(catalog))
    ing = run.ingest(engine, settings, run_id, catalog)
    t0, cpu0 = time.perf_counter(), time.process_time()
    summary = asyncio.run(executor.execute_async(engine, settings, run_id))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    run.close_run(engine, run_id)
    ms = cpu / max(summary.done, 1) * 1000
    print(f"[{label}] {summary.done} searches ({summary.failed} failed) in {wall:.2f} s "
          f"(floor {ing.groups / args.qps:.2f} s): {cpu:.2f} s CPU = {ms:.2f} ms per search", flush=True)
    return ms


if __name__ == "__main__":
    main()
