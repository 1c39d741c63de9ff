"""bench_e2e's light mode: the pipeline against bench/light_server.py (see bench_e2e --help)."""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import sqlalchemy as sa
from PIL import Image

from bench_e2e import free_port, serve_dir
from bench_load import scratch_database
from snapprice import run
from snapprice.search import executor
from snapprice.settings import load_settings

PLATFORMS = ("taobao", "jd", "1688", "pinduoduo", "tmall", "vip", "suning", "kaola")


def _catalog(root: Path, n: int) -> Path:
    """``n`` distinct pictures (noise at different scales: no two are near-duplicates)."""
    rng = np.random.default_rng(7)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(small).resize((256, 256), Image.Resampling.BILINEAR).save(root / f"p{i}.jpg", quality=85)
    return root


def _start_server(qps: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    here = Path(__file__).resolve().parent
    proc = subprocess.Popen([sys.executable, str(here / "light_server.py"), "--port", str(port), "--qps", str(qps)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_stats", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the light server did not start")


def _backend_cpu(monitor: sa.Engine) -> dict[int, float]:
    """CPU seconds of every backend connected to the run's database, by pid (``monitor``
    has no pool: its own backend is not one of the run's)."""
    with monitor.connect() as c:
        pids = c.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                 " AND pid <> pg_backend_pid()")).scalars().all()
    out = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def _config(path: Path, db_url: str, base: str, platforms: list[str], qps: float, concurrency: int) -> Path:
    body = (f'[database]\nurl = "{db_url}"\n[search]\nconcurrency = {concurrency}\n'
            "[match_check]\nenabled = false\n[alerts]\nenabled = false\n")
    for p in platforms:
        body += (f'[platforms.{p}]\nprotocol = "gateway"\nbase_url = "{base}"\nqps = {qps}\npages = 1\n'
                 'credentials = { key = "K", secret = "S" }\n')
    path.write_text(body, encoding="utf-8")
    return path


def _one(engine: sa.Engine, db_url: str, tmp: Path, url_csv: Path, label: str, platforms: list[str],
         qps: float, args: argparse.Namespace) -> dict[str, float]:
    server, base = _start_server(qps)
    try:
        cfg = _config(tmp / f"{label}.toml", db_url, base, platforms, qps, args.concurrency)
        settings = load_settings(cfg, environ={"K": "demo-key", "S": "demo-secret"})
        engine.dispose()  # the run's connections are new: their backends' CPU is the run's
        me, srv = psutil.Process(), psutil.Process(server.pid)
        started = time.time()
        run_id = run.start_run(engine, settings, kind="manual", catalog=str(url_csv))
        ing = run.ingest(engine, settings, run_id, url_csv)
        monitor = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
        pg0 = _backend_cpu(monitor)
        cpu0, srv0, host0 = me.cpu_times(), srv.cpu_times(), psutil.cpu_times()
        summary = executor.execute_searches(engine, settings, run_id)
        cpu1, srv1, host1 = me.cpu_times(), srv.cpu_times(), psutil.cpu_times()
        pg1 = _backend_cpu(monitor)
        returned = time.time()
        result = run.close_run(engine, run_id)
        ended = time.time()
        stats = httpx.get(f"{base}/_stats").json()
    finally:
        server.terminate()
        server.wait(10)
    calls = stats["calls"]
    total_qps = qps * len(platforms)
    phase = stats["last"] - stats["first"]
    floor = (calls - 1) / total_qps
    ours = (cpu1.user + cpu1.system - cpu0.user - cpu0.system)
    pg = sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items())
    server_cpu = srv1.user + srv1.system - srv0.user - srv0.system
    busy = sum(getattr(host1, f) - getattr(host0, f) for f in ("user", "system", "nice", "irq", "softirq"))
    wall = sum(host1) - sum(host0)
    row = {"label": label, "calls": calls, "ratio": phase / floor, "phase": phase, "floor": floor,
           "cpu_ms": ours / calls * 1000, "pg_ms": pg / calls * 1000,
           "first": stats["first"] - started, "exit": ended - stats["last"],
           "searched": returned - stats["last"], "close": ended - returned,
           "server_ms": server_cpu / calls * 1000, "busy": busy / wall if wall else 0.0}
    print(f"[{label}] {ing.groups} groups x {len(platforms)} platform(s) at {qps:g} QPS: {summary.done} done, "
          f"{summary.failed} failed, {result['n_snapshots']} snapshots, {calls} calls, refused "
          f"{stats['refused'] or 0}, bans {stats['bans']}")
    print(f"[{label}] search phase / floor = {phase:.2f} / {floor:.2f} s = {row['ratio']:.3f} (goal <= 1.10); "
          f"per search: snapprice {row['cpu_ms']:.1f} ms CPU, PostgreSQL {row['pg_ms']:.1f} ms, "
          f"server {row['server_ms']:.1f} ms; machine {row['busy'] * 100:.0f} % busy; "
          f"start -> first search {row['first']:.2f} s, last search -> exit {row['exit']:.2f} s "
          f"(search stage returned after {row['searched']:.2f} s, close_run {row['close']:.2f} s)")
    return row


def light_main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="snapprice-light-"))
    n = args.items if args.items != 2000 else 1000  # bench_e2e's default is the sandbox's
    t0 = time.perf_counter()
    root = _catalog(tmp / "cat", n)
    cdn, img_base = serve_dir(root)
    url_csv = tmp / "catalog.csv"
    with url_csv.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "image", "title"])
        for i in range(n):
            w.writerow([f"SKU-{i}", f"{img_base}/p{i}.jpg", f"product {i}"])
    print(f"setup: {n} distinct pictures in {time.perf_counter() - t0:.1f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    qps_list = [float(q) for q in args.light_qps.split(",") if q]
    shared = list(PLATFORMS[: args.light_platforms])
    plan = [("warm-up", ["taobao"], max(qps_list))]
    plan += [(f"{q:g} QPS", ["taobao"], q) for q in qps_list]
    if args.light_platforms > 1:
        plan.append((f"{len(shared)} x {args.light_shared_qps:g} QPS", shared, args.light_shared_qps))
    rows = []
    try:
        with scratch_database("snapprice_light") as db_url:
            engine = sa.create_engine(db_url)
            for label, platforms, qps in plan:
                rows.append(_one(engine, db_url, tmp, url_csv, label, platforms, qps, args))
            engine.dispose()
    finally:
        cdn.terminate()
    print("\n| run | search phase / floor | snapprice CPU ms/search | PostgreSQL ms/search "
          "| server CPU ms/search | machine busy | start -> first search | last search -> exit |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows[1:]:
        print(f"| {r['label']} | {r['ratio']:.3f} | {r['cpu_ms']:.1f} | {r['pg_ms']:.1f} | {r['server_ms']:.1f} "
              f"| {r['busy'] * 100:.0f} % | {r['first']:.2f} s | {r['exit']:.2f} s |")
