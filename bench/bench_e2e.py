"""End-to-end: a catalog with 30 % near-duplicates against the sandbox at a fixed QPS.

    python bench/bench_e2e.py [--items 2000] [--qps 50] [--platforms taobao,jd]

Catalog images are served over HTTP on loopback (as a merchant's CDN would), so each search
is one call. Prints the search stage's wall time over the minimum the quota allows
(groups x platforms / (QPS x platforms), platforms searched in parallel; goal <= 1.10) and
the API calls made vs a naive one call per catalog image and platform.

``--match-check both`` (the default) runs the same catalog four times in one process: a
warm-up (checks off: the sandbox analyses each catalog picture once), checks off (the
baseline), checks on with an empty picture cache, and on again with the cache the first
checked run filled (a daily run); it prints each run's ratio to the quota floor and the
checks' cost per search (wall and CPU seconds over the baseline's).

``--light`` measures the pipeline alone: instead of the sandbox (which analyses every
picture and would saturate first) a minimal strict gateway server (bench/light_server.py,
its own process: QPS enforced with bans, canned results with distinct listings) answers
``--items`` distinct pictures, match checks off. After a warm-up run (hash cache, listings
known: the daily steady state) it runs one platform at each of ``--light-qps`` and then
``--light-platforms`` platforms at once at ``--light-shared-qps`` each, and prints per run:
the search phase (the server's own first to last call) over its floor
((calls - 1) / (QPS x platforms); goal <= 1.10), snapprice CPU ms per search (this
process), PostgreSQL ms per search (CPU of the run database's backends, read with psutil;
the limiter's included), start -> first search (from ``start_run`` in this process, ingest
with a warm cache included; the CLI's interpreter and Prefect start are not) and last
search -> exit (to ``close_run``'s return), with the machine's CPU split.

    python bench/bench_e2e.py --light [--items 1000] [--light-qps 50,100,200]
"""

from __future__ import annotations

import argparse
import csv
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench_load import scratch_database
from snapprice import run
from snapprice.sandbox import SandboxConfig, build_world
from snapprice.sandbox.catalogs import generate_catalog
from snapprice.search import executor
from snapprice.settings import load_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_dir(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The catalog's "CDN": a static file server in its own process."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, url


def url_catalog(csv_path: Path, img_base: str, out: Path) -> Path:
    """The catalog at ``csv_path`` with its pictures as URLs under ``img_base`` (each search one API call)."""
    with csv_path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({**r, "image": f"{img_base}/{r['image']}"} for r in rows)
    return out


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the sandbox exited with code {proc.returncode}")
        try:
            httpx.get(f"{url}/_admin/stats", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the sandbox did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--qps", type=float, default=50)
    ap.add_argument("--platforms", default="taobao,jd")
    ap.add_argument("--concurrency", type=int, default=32, help="searches in flight per platform")
    ap.add_argument("--match-check", choices=("off", "on", "both"), default="both",
                    help="per-SKU match checks: off, on (cold cache, then warm), or both (off first)")
    ap.add_argument("--light", action="store_true", help="the light server instead of the sandbox")
    ap.add_argument("--light-qps", default="50,100,200", help="one platform at each of these QPS")
    ap.add_argument("--light-platforms", type=int, default=4, help="then this many platforms at once")
    ap.add_argument("--light-shared-qps", type=float, default=50, help="... at this QPS each")
    args = ap.parse_args()
    if args.light:
        from bench_light import light_main

        light_main(args)
        return
    platforms = args.platforms.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="snapprice-e2e-"))

    t0 = time.perf_counter()
    products = max(200, int(args.items * 0.65))
    # The sandbox runs in its own process (as a marketplace would): it must not share our GIL.
    port = free_port()
    sandbox_proc = subprocess.Popen(
        [sys.executable, "-m", "snapprice.sandbox", "--port", str(port), "--seed", "5",
         "--products", str(products), "--qps", str(args.qps)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sandbox_url = f"http://127.0.0.1:{port}"
    world = build_world(SandboxConfig(seed=5, n_products=products))  # the same world, for the catalog
    gen = generate_catalog(world, tmp / "cat", args.items, dup_rate=0.3, distractor_rate=0.1)
    wait_ready(sandbox_url, sandbox_proc)
    srv, img_base = serve_dir(gen.out_dir)
    url_csv = url_catalog(gen.csv_path, img_base, tmp / "catalog_urls.csv")
    print(f"setup: world of {products} products, {args.items}-row catalog in {time.perf_counter() - t0:.1f} s")

    # The warm-up run pays what any first run pays (the sandbox analysing each catalog
    # picture once, connections, caches): the runs compared after it start even.
    modes = {"off": ["warm-up", "off"], "on": ["warm-up", "on", "on (cached)"],
             "both": ["warm-up", "off", "on", "on (cached)"]}[args.match_check]
    results: list[dict[str, float]] = []
    try:
        with scratch_database("snapprice_e2e") as url:
            engine = sa.create_engine(url)
            for label in modes:
                cfg = tmp / "snapprice.toml"
                cfg.write_text(
                    f'[database]\nurl = "{url}"\n[search]\nconcurrency = {args.concurrency}\n'
                    f'[match_check]\nenabled = {str(label.startswith("on")).lower()}\n'
                    + "".join(
                        f'[platforms.{p}]\nprotocol = "gateway"\nbase_url = "{sandbox_url}"\nqps = {args.qps}\n'
                        'credentials = { key = "K", secret = "S" }\n' for p in platforms),
                    encoding="utf-8")
                settings = load_settings(cfg, environ={"K": "demo-key", "S": "demo-secret"})
                results.append(one_run(engine, settings, url_csv, sandbox_url, platforms, args, label))
            engine.dispose()
    finally:
        srv.terminate()
        sandbox_proc.terminate()
        sandbox_proc.wait(10)
    base = next((r for r in results if r["label"] == "off"), None)
    if base is not None:
        for r in results:
            if r["label"].startswith("on"):
                print(f"match check [{r['label']}]: +{(r['wall'] - base['wall']) / r['done'] * 1000:.1f} ms wall"
                      f" and +{(r['cpu'] - base['cpu']) / r['done'] * 1000:.1f} ms CPU per search"
                      f" (wall ratio {r['ratio']:.3f} vs {base['ratio']:.3f} without checks)")


def one_run(engine: sa.Engine, settings, url_csv: Path, sandbox_url: str, platforms: list[str],
            args: argparse.Namespace, label: str) -> dict:
    """One run of the catalog: ingest, then the searches (timed); prints its figures."""
    run_id = run.start_run(engine, settings, kind="manual", catalog=str(url_csv))
    t0 = time.perf_counter()
    ing = run.ingest(engine, settings, run_id, url_csv)
    ingest_s = time.perf_counter() - t0
    calls0 = httpx.get(f"{sandbox_url}/_admin/stats").json()["protocols"].get("gateway", {}).get("calls", 0)
    with engine.connect() as c:
        pics0 = c.execute(sa.text("SELECT (SELECT count(*) FROM picture_url), (SELECT count(*) FROM match_check"
                                  " WHERE run_id = :r)"), {"r": run_id}).one()
    t0, cpu0 = time.perf_counter(), time.process_time()
    summary = executor.execute_searches(engine, settings, run_id)
    search_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    stats = httpx.get(f"{sandbox_url}/_admin/stats").json()
    result = run.close_run(engine, run_id)
    with engine.connect() as c:
        pics, checks, matched, unverified = c.execute(sa.text(
            "SELECT (SELECT count(*) FROM picture_url),"
            " (SELECT count(*) FROM match_check WHERE run_id = :r),"
            " (SELECT count(*) FROM match_check WHERE run_id = :r AND status = 'match'),"
            " (SELECT count(*) FROM match_check WHERE run_id = :r AND status = 'unverified')"),
            {"r": run_id}).one()
    calls = stats["protocols"]["gateway"]["calls"] - calls0
    refused = sum(stats["protocols"]["gateway"]["refused"].values())
    ideal = ing.groups * len(platforms) / (args.qps * len(platforms))
    naive = args.items * len(platforms)
    print(f"[{label}] ingest: {ing.images} images ({ing.rejects} rejects) -> {ing.groups} groups in {ingest_s:.1f} s")
    print(f"[{label}] search: {summary.done} done, {summary.failed} failed, {result['n_snapshots']} snapshots, "
          f"{calls} calls, {refused} refused, in {search_s:.1f} s ({cpu_s:.1f} s CPU in this process)")
    if label.startswith("on"):
        print(f"[{label}] match checks: {checks} verdicts ({matched} match, {unverified} unverified),"
              f" {pics - pics0[0]} new pictures cached")
    print(f"[{label}] wall / (groups x platforms / QPS) = {search_s:.1f} / {ideal:.1f} = {search_s / ideal:.3f}"
          "  (goal <= 1.10)")
    print(f"[{label}] API calls: {calls} vs naive {naive} = {calls / naive:.2f} ({naive - calls} saved)")
    return {"label": label, "wall": search_s, "cpu": cpu_s, "done": max(1, summary.done),
            "ratio": search_s / ideal}


if __name__ == "__main__":
    main()
