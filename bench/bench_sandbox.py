"""Searches per second the sandbox serves on loopback, for a world of about 10 k listings.

Run: python bench/bench_sandbox.py [--products 1300] [--seconds 8] [--threads 4]

The server runs in its own process (one core); this process drives it over keep-alive
connections. Baseline: the same loop against ``/_admin/stats`` (the HTTP stack alone).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import random
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

from snapprice.sandbox import SandboxConfig, build_world, imaging
from snapprice.sandbox.features import decode, extract
from snapprice.sandbox.market import Market

AUTH = {"key": "demo-key", "secret": "demo-secret"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drive(port: int, paths: list[str], seconds: float, threads: int) -> tuple[float, dict[int, int]]:
    """Requests per second over ``seconds`` from ``threads`` keep-alive clients."""
    stop = time.perf_counter() + seconds
    counts: list[int] = [0] * threads
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        rng = random.Random(n)
        while time.perf_counter() < stop:
            conn.request("GET", rng.choice(paths))
            resp = conn.getresponse()
            body = resp.read()
            code = resp.status if resp.status != 200 else int(json.loads(body).get("error_code", "0") or 0)
            with lock:
                statuses[code] = statuses.get(code, 0) + 1
            counts[n] += 1
        conn.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - started), statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--products", type=int, default=1300)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    cfg = SandboxConfig(n_products=args.products, qps=1e9)
    t0 = time.perf_counter()
    world = build_world(cfg)
    build_s = time.perf_counter() - t0
    print(f"world: {len(world.products)} products, {len(world.listings)} listings, built in {build_s:.1f} s")

    # The search core alone, in this process: features of fresh query pictures, then rank.
    rng = random.Random(1)
    picks = [rng.choice(world.products) for _ in range(args.queries)]
    queries = []
    for p in picks:
        v = imaging.random_variant(rng)
        queries.append(imaging.to_jpeg(imaging.render_variant(p.seed, v), v.quality))
    market = Market(world)
    t0 = time.perf_counter()
    feats = [extract(decode(q)) for q in queries]
    extract_rate = len(queries) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i, f in enumerate(feats):
        market.search(f, cfg.platforms[i % 4], cat="", sort="", page=1, page_size=20, host="h:1")
    core_rate = len(feats) / (time.perf_counter() - t0)
    print(f"in process: feature extraction {extract_rate:.0f} pictures/s, ranking {core_rate:.0f} searches/s")

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "snapprice.sandbox", "--port", str(port),
                             "--products", str(args.products), "--qps", "1000000000"])
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/_admin/stats")
                c.getresponse().read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("sandbox did not start") from None
                time.sleep(0.2)
        # Upload the query pictures once, as a client following upload_img would.
        imgids = []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i, q in enumerate(queries):
            platform = cfg.platforms[i % 4]
            body = urlencode({"imgcode": base64.b64encode(q).decode()})
            conn.request("POST", f"/{platform}/upload_img/?{urlencode(AUTH)}", body,
                         {"Content-Type": "application/x-www-form-urlencoded"})
            imgids.append((platform, json.loads(conn.getresponse().read())["items"]["item"]["name"]))
        conn.close()
        search_paths = [f"/{pl}/item_search_img/?{urlencode({**AUTH, 'imgid': i, 'cache': 'no'})}"
                        for pl, i in imgids]
        url_paths = [
            f"/{pl}/item_search_img/?"
            + urlencode({**AUTH, "imgid": f"http://127.0.0.1:{port}/img/product/{p.product_id}.jpg",
                         "cache": "no"})
            for p, pl in zip(picks, [cfg.platforms[i % 4] for i in range(len(picks))], strict=True)]
        baseline, _ = drive(port, ["/_admin/stats"], min(3.0, args.seconds), args.threads)
        by_id, st_id = drive(port, search_paths, args.seconds, args.threads)
        by_url, st_url = drive(port, url_paths, args.seconds, args.threads)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"baseline GET /_admin/stats: {baseline:.0f} req/s")
    print(f"searches/s by upload_img id (cache=no): {by_id:.0f}  ({by_id / baseline:.2f} x baseline) "
          f"codes {st_id}")
    print(f"searches/s by image URL (cache=no):     {by_url:.0f}  ({by_url / baseline:.2f} x baseline) "
          f"codes {st_url}")
    print(f"goal >= 300 searches/s: {'met' if min(by_id, by_url) >= 300 else 'NOT met'}")


if __name__ == "__main__":
    main()
