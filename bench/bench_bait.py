"""Bait and outlier guard on the sandbox's ground truth: what share of the bait is flagged.

    python bench/bench_bait.py [--products 300] [--items 200] [--days 3]

Runs the pipeline in this process (ingest, search, flag, close; no Prefect) against a
sandbox on loopback, on two worlds: the default one (seed 11, the default bait rates) and
a report-only one with another seed and other rates (never used to choose thresholds).
Each world is searched on `--days` consecutive sandbox days, so the listings' own history
rule has something to read. Prints, per kind of listing the world knows (deposit,
accessory, decoy: bait; honest and clearance: not), how many snapshots were flagged.
Goals: >= 95 % of bait snapshots flagged, <= 1 % of honest ones.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench_load import scratch_database
from snapprice import run
from snapprice.sandbox import SandboxConfig, start_in_thread
from snapprice.sandbox.catalogs import generate_catalog
from snapprice.search import executor
from snapprice.settings import load_settings

PLATFORMS = ("taobao", "1688", "jd", "pinduoduo")
CREDS = {"SNAPPRICE_GATEWAY_KEY": "demo-key", "SNAPPRICE_GATEWAY_SECRET": "demo-secret"}
WORLDS = {
    "default (seed 11)": SandboxConfig(seed=11, n_products=300, qps=1000, day_seconds=20),
    "report-only (seed 97, other rates)": SandboxConfig(
        seed=97, n_products=300, qps=1000, day_seconds=20,
        bait_rates={"deposit": 0.15, "accessory": 0.12, "decoy": 0.08, "clearance": 0.1}),
}


def measure(cfg: SandboxConfig, items: int, days: int, tmp: Path) -> dict[str, list[int]]:
    sandbox = start_in_thread(cfg)
    try:
        catalog = generate_catalog(sandbox.world, tmp / f"catalog-{cfg.seed}", items, dup_rate=0.2,
                                   distractor_rate=0.05, seed=cfg.seed)
        with scratch_database("snapprice_bench_bait") as url:
            config = tmp / f"snapprice-{cfg.seed}.toml"
            config.write_text(
                f'[database]\nurl = "{url}"\n\n[catalog]\npath = "{catalog.csv_path}"\n\n'
                "[dedupe]\nworkers = 1\n\n[search]\nconcurrency = 8\n\n"
                + "".join(f'[platforms.{p}]\nprotocol = "gateway"\nbase_url = "{sandbox.base_url}"\n'
                          f"qps = 500\npages = 2\ncredentials = {{ key = \"SNAPPRICE_GATEWAY_KEY\", "
                          f"secret = \"SNAPPRICE_GATEWAY_SECRET\" }}\n\n" for p in PLATFORMS),
                encoding="utf-8")
            settings = load_settings(config, CREDS)
            engine = sa.create_engine(url)
            for day in range(days):
                if day:
                    time.sleep(cfg.day_seconds)  # the next sandbox day: prices move
                run_id = run.start_run(engine, settings, kind="manual", catalog=str(catalog.csv_path))
                run.ingest(engine, settings, run_id, catalog.csv_path)
                executor.execute_searches(engine, settings, run_id)
                run.flag_prices(engine, settings, run_id)
                run.close_run(engine, run_id)
            with engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT l.platform, l.item_id, s.price_flag FROM price_snapshot s "
                    "JOIN listing l USING (listing_id)")).all()
            engine.dispose()
    finally:
        sandbox.stop()
    out: dict[str, list[int]] = {}
    for platform, item_id, flag in rows:
        counts = out.setdefault(sandbox.world.listing(item_id, platform).kind, [0, 0])
        counts[0] += flag != "ok"
        counts[1] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--products", type=int, default=300)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in WORLDS.items():
            cfg = cfg.model_copy(update={"n_products": args.products})
            got = measure(cfg, args.items, args.days, Path(tmp))
            bait = [sum(got.get(k, [0, 0])[i] for k in ("deposit", "accessory", "decoy")) for i in (0, 1)]
            honest = [sum(got.get(k, [0, 0])[i] for k in ("honest", "clearance")) for i in (0, 1)]
            print(f"\n{name}: {args.items} catalog rows, {len(PLATFORMS)} platforms, {args.days} runs")
            print(f"  {'kind':<10} {'flagged':>8} {'snapshots':>10}")
            for kind in ("deposit", "accessory", "decoy", "clearance", "honest"):
                f, n = got.get(kind, [0, 0])
                print(f"  {kind:<10} {f:>8} {n:>10}")
            print(f"  bait flagged   {bait[0]}/{bait[1]} = {bait[0] / max(bait[1], 1):.3f}  (goal >= 0.95)")
            print(f"  honest flagged {honest[0]}/{honest[1]} = {honest[0] / max(honest[1], 1):.4f}  (goal <= 0.01)")


if __name__ == "__main__":
    main()
