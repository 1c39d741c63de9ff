"""Quota utilisation: achieved/allowed QPS and limit errors against the sandbox.

Cases: qps 5 (60 s) and qps 50 (20 s), each with one process (in-process limiter), two
processes sharing one budget (PostgreSQL limiter), and one process searching through three
accounts of the route (each its own budget: the goal is the summed budget). The sandbox
enforces the same QPS per account as the client's budget (burst of one second, ban on
excess), in its own process.

    python bench/bench_quota.py            # full run (~3 min)
    python bench/bench_quota.py --quick    # shorter windows (~40 s)

PostgreSQL: DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/test; the limiter
uses a scratch table that is dropped afterwards. Exit status 1 when a case misses
utilisation ≥ 0.97 or sees a limit error.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing as mp
import os
import secrets
import sys
import time
import urllib.request
from dataclasses import dataclass

GOAL = 0.97
CONCURRENCY = 8


@dataclass
class Case:
    qps: float  # per account
    seconds: float
    processes: int
    accounts: int = 1

    @property
    def budget(self) -> float:
        return self.qps * self.accounts


def _accounts(n: int) -> list[tuple[str, str]]:
    return [(f"bench-key-{i}", f"bench-secret-{i}") for i in range(1, n + 1)] if n > 1 else []


def _serve(cfg: dict, conn) -> None:  # child process: the marketplace
    from snapprice.sandbox import SandboxConfig, start_in_thread

    with start_in_thread(SandboxConfig(**cfg), port=0) as handle:
        conn.send(handle.base_url)
        conn.recv()  # until the parent says stop


def _settings(base_url: str, qps: float, limiter: str, accounts: int):
    from pydantic import SecretStr

    from snapprice.settings import Settings

    plat = {"protocol": "gateway", "base_url": base_url, "qps": qps}
    pairs = _accounts(accounts)
    if pairs:
        plat["accounts"] = [{"name": f"a{i}", "credentials": {"key": "K", "secret": "S"}}
                            for i in range(1, accounts + 1)]
    s = Settings.model_validate({
        "search": {"limiter": limiter, "concurrency": CONCURRENCY * accounts, "max_attempts": 6},
        "platforms": {"taobao": plat},
    })
    if pairs:
        s.secrets = {f"taobao@a{i}": {"key": SecretStr(k), "secret": SecretStr(v)}
                     for i, (k, v) in enumerate(pairs, 1)}
    else:
        s.secrets = {"taobao": {"key": SecretStr("demo-key"), "secret": SecretStr("demo-secret")}}
    return s


def _time_sends(limiter, sent: list[float]) -> None:
    """Record when ``limiter`` lets each call out."""
    inner = limiter.acquire

    async def timed_acquire() -> None:
        await inner()
        sent.append(time.time())

    limiter.acquire = timed_acquire


async def _drive(base_url: str, qps: float, limiter: str, calls: int, dsn: str | None,
                 table: str, start_at: float, accounts: int) -> dict:
    from snapprice.models import QueryImage
    from snapprice.sandbox.imaging import render_product, to_jpeg
    from snapprice.search.platforms import PostgresLimiter, build_searchers, make_http_client
    from snapprice.search.platforms.accounts import AccountPool

    settings = _settings(base_url, qps, limiter, accounts)
    data = to_jpeg(render_product(os.getpid() % 97), 90)
    image = QueryImage(digest=f"bench-{os.getpid()}", data=data)
    sent: list[float] = []
    async with make_http_client(settings) as http:
        searcher = build_searchers(settings, http, dsn=dsn)["taobao"]
        for member in searcher.searchers if isinstance(searcher, AccountPool) else [searcher]:
            if isinstance(member.limiter, PostgresLimiter):
                member.limiter.table = table
            _time_sends(member.limiter, sent)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        errors: list[str] = []
        started = 0

        async def loop() -> None:  # CONCURRENCY per account of these keep the limiters busy
            nonlocal started
            while started < calls and not errors:
                started += 1
                try:
                    await searcher.search(image, 1)
                except Exception as exc:  # counted and reported, not fatal to the bench
                    errors.append(type(exc).__name__)

        await asyncio.gather(*(loop() for _ in range(CONCURRENCY * accounts)))
        await searcher.aclose()
    return {"sent": sent[:calls], "bans": searcher.calls.bans, "errors": errors,
            "attempts": searcher.calls.attempts}


def _worker(args: tuple, out) -> None:
    out.put(asyncio.run(_drive(*args)))


def _stats(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/_admin/stats", timeout=5) as resp:
        return json.loads(resp.read())


def _limit_errors(stats: dict) -> int:
    """Refusals for going too fast (TOP code 7, gateway 4008), as the sandbox counted them."""
    return sum(int(g.get("bans", 0)) for g in stats.get("protocols", {}).values())


def run_case(case: Case, dsn: str) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=({"qps": case.qps, "ban_seconds": 5, "n_products": 60,
                                                "gateway_accounts": _accounts(case.accounts)},
                                               child), daemon=True)
    server.start()
    base_url = parent.recv()
    table = f"bench_rl_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        before = _limit_errors(_stats(base_url))
        calls = int(case.budget * case.seconds)
        per = calls // case.processes
        limiter = "process" if case.processes == 1 else "postgres"
        start_at = time.time() + 3.0
        out = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(
            (base_url, case.qps, limiter, per, dsn, table, start_at, case.accounts), out))
            for _ in range(case.processes)]
        for p in procs:
            p.start()
        results = [out.get(timeout=case.seconds * 3 + 120) for _ in procs]
        for p in procs:
            p.join()
        server_errors = _limit_errors(_stats(base_url)) - before
    finally:
        parent.send("stop")
        server.join(timeout=10)
        if limiter == "postgres":
            _drop(dsn, table)
    sent = sorted(t for r in results for t in r["sent"])
    achieved = (len(sent) - 1) / (sent[-1] - sent[0])
    return {"qps": case.budget, "processes": case.processes, "accounts": case.accounts, "limiter": limiter,
            "calls": len(sent), "seconds": round(sent[-1] - sent[0], 2),
            "achieved": round(achieved, 3), "utilisation": round(achieved / case.budget, 4),
            "limit_errors": server_errors, "client_bans": sum(r["bans"] for r in results),
            "failures": sum(len(r["errors"]) for r in results),
            "min_gap_ms": round(min(b - a for a, b in itertools.pairwise(sent)) * 1e3, 2)}


def _drop(dsn: str, table: str) -> None:
    import psycopg

    from snapprice.search.platforms.limiter import psycopg_dsn

    with psycopg.connect(psycopg_dsn(dsn), autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{table}"')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short windows (10 s at qps 5, 6 s at 50)")
    ap.add_argument("--dsn", default=os.environ.get("DATABASE_URL")
                    or "postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args(argv)
    slow, fast = (10, 6) if args.quick else (60, 20)
    cases = [Case(5, slow, 1), Case(5, slow, 2), Case(5, slow, 1, accounts=3),
             Case(50, fast, 1), Case(50, fast, 2), Case(50, fast, 1, accounts=3)]
    print(f"{'qps':>5} {'procs':>5} {'accts':>5} {'limiter':>8} {'calls':>6} {'secs':>7} {'achieved':>9} "
          f"{'util':>7} {'limit_err':>9} {'bans':>5} {'fail':>5} {'min_gap_ms':>10}")
    ok = True
    for case in cases:
        r = run_case(case, args.dsn)
        print(f"{r['qps']:>5} {r['processes']:>5} {r['accounts']:>5} {r['limiter']:>8} {r['calls']:>6} "
              f"{r['seconds']:>7} {r['achieved']:>9} {r['utilisation']:>7} "
              f"{r['limit_errors']:>9} {r['client_bans']:>5} {r['failures']:>5} "
              f"{r['min_gap_ms']:>10}", flush=True)
        ok &= r["utilisation"] >= GOAL and r["limit_errors"] == 0 and r["client_bans"] == 0 \
            and r["failures"] == 0
    print(f"goal: utilisation >= {GOAL} with 0 limit errors in every mode: "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
