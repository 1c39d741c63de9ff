"""Platform clients over real HTTP on loopback against the marketplace sandbox (no HTTP mocks)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import psycopg
import pytest
from pydantic import SecretStr

from snapprice.errors import PlatformFatal, QuotaExhausted
from snapprice.models import ListingSnapshot, QueryImage
from snapprice.normalize import normalize_item
from snapprice.sandbox import SandboxConfig, start_in_thread
from snapprice.sandbox.testing import shared_world
from snapprice.search.platforms import (
    Backoff,
    PlatformSearcher,
    build_searchers,
    close_searchers,
    make_http_client,
    search_pages,
)
from snapprice.search.platforms.limiter import psycopg_dsn
from snapprice.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]
GW = {"key": "demo-key", "secret": "demo-secret"}
TOP = {"app_key": "12345678", "app_secret": "demo-top-secret"}
FAST = Backoff(initial=0.05, maximum=0.3, jitter=0.05)
WORLD = {"seed": 7, "n_products": 60}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def sandbox(**cfg):
    return start_in_thread(SandboxConfig(**{**WORLD, **cfg}), port=0,
                           world=shared_world(WORLD["n_products"], WORLD["seed"]))


@pytest.fixture(scope="module")
def market() -> Iterator:
    with sandbox(qps=200, ban_seconds=1) as handle:
        yield handle


def settings_for(base_url: str, platforms: dict[str, dict], creds: dict[str, dict] | None = None,
                 **search) -> Settings:
    tree = {"search": {"max_attempts": 8, "max_retry_seconds": 60, **search}, "platforms": {}}
    secrets_: dict[str, dict[str, SecretStr]] = {}
    for name, p in platforms.items():
        proto = p.get("protocol", "gateway")
        url = base_url + "/router/rest" if proto == "top" else base_url
        tree["platforms"][name] = {"protocol": proto, "base_url": url, "qps": 50, **p}
        given = (creds or {}).get(name) or (TOP if proto == "top" else GW)
        secrets_[name] = {k: SecretStr(v) for k, v in given.items()}
    s = Settings.model_validate(tree)
    s.secrets = secrets_
    return s


def _world():
    return shared_world(WORLD["n_products"], WORLD["seed"])


def image(n: int = 0, *, url_base: str | None = None) -> QueryImage:
    """The picture of the n-th product that is listed on every platform."""
    w = _world()
    everywhere = [p.product_id for p in w.products
                  if all(w.listings_for(p.product_id, pl) for pl in ("taobao", "1688", "jd",
                                                                       "pinduoduo"))]
    pid = everywhere[n % len(everywhere)]
    url = f"{url_base}/img/product/{pid}.jpg" if url_base else None
    return QueryImage(digest=f"{pid}-{bool(url)}", data=w.product_image_bytes(pid), url=url)


def limit_errors(handle) -> int:
    stats = handle.stats()
    return sum(g["bans"] for g in stats["protocols"].values()) + handle.market.limiter.bans


# ------------------------------------------------------------------ protocols end to end

@pytest.mark.parametrize("platform", ["taobao", "1688", "jd", "pinduoduo"])
async def test_gateway_search_uploads_and_normalizes(market, platform, caplog):
    s = settings_for(market.base_url, {platform: {}})
    async with make_http_client(s) as http:
        searcher = build_searchers(s, http)[platform]
        with caplog.at_level(logging.DEBUG):
            page = await searcher.search(image(1), 1)
    assert "item_search_img" in caplog.text and "key=***" in caplog.text
    assert "demo-secret" not in caplog.text and "demo-key" not in caplog.text
    assert page.items and page.platform == platform and page.http_status == 200
    rows = [normalize_item(platform, it) for it in page.items]
    assert all(isinstance(r, ListingSnapshot) for r in rows), rows
    assert all(r.pic_url.startswith("http") for r in rows)
    assert [r.rank for r in rows] == list(range(1, len(rows) + 1))
    text = json.dumps([page.request, page.body], ensure_ascii=False)
    assert "demo-secret" not in text and "demo-key" not in text
    assert searcher.calls.attempts == 2  # upload_img, then item_search_img


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
@pytest.mark.parametrize("as_url", [False, True])
async def test_top_signatures_accepted(market, sign_method, as_url):
    s = settings_for(market.base_url, {"taobao_top": {
        "protocol": "top", "platform": "taobao", "options": {"sign_method": sign_method}}})
    async with make_http_client(s) as http:
        searcher = build_searchers(s, http)["taobao_top"]
        page = await searcher.search(image(2, url_base=market.base_url if as_url else None), 1)
    assert page.items and page.platform == "taobao" and page.total >= len(page.items)
    assert all(isinstance(normalize_item("taobao", it), ListingSnapshot) for it in page.items)
    assert page.request["params"]["sign"] == "***"
    assert "demo-top-secret" not in json.dumps([page.request, page.body], ensure_ascii=False)


async def test_paging_stops_when_results_end(market):
    s = settings_for(market.base_url, {"taobao": {"page_size": 2}})
    async with make_http_client(s) as http:
        searcher = build_searchers(s, http)["taobao"]
        pages = await search_pages(searcher, image(3), 50)
    ids = [it.item_id for p in pages for it in p.items]
    assert len(pages) < 50 and not pages[-1].has_more and all(p.has_more for p in pages[:-1])
    assert len(ids) == len(set(ids)) == pages[0].total
    assert [it.rank for p in pages for it in p.items] == list(range(1, len(ids) + 1))


async def test_fatal_error_stops_only_its_platform(market):
    # jd and taobao_top at 2 QPS: their first refusal is back long before the next slot (at
    # 50 QPS a loaded machine let a second call out 20 ms later, before the refusal came).
    s = settings_for(market.base_url, {
        "taobao": {}, "jd": {"qps": 2}, "taobao_top": {"protocol": "top", "platform": "taobao", "qps": 2}},
        creds={"jd": {"key": "demo-key", "secret": "wrong"},
               "taobao_top": {"app_key": "12345678", "app_secret": "wrong"}})
    async with make_http_client(s) as http:
        found = build_searchers(s, http, backoff=FAST)
        img = image(4, url_base=market.base_url)
        results = await asyncio.gather(*(found[n].search(img, 1) for n in found for _ in range(3)),
                                       return_exceptions=True)
        by_name = dict(zip([n for n in found for _ in range(3)], results, strict=True))
        jd_calls = market.stats()["platforms"]["jd"]["calls"]
        with pytest.raises(PlatformFatal, match="4005"):
            await found["jd"].search(img, 2)
        assert market.stats()["platforms"]["jd"]["calls"] == jd_calls  # no request made
        assert (await found["taobao"].search(img, 1)).items
    assert not isinstance(by_name["taobao"], Exception)
    assert isinstance(found["jd"].stopped, PlatformFatal) and found["jd"].stopped.code == "4005"
    assert isinstance(found["taobao_top"].stopped, PlatformFatal)
    assert found["taobao_top"].stopped.code == "25"
    assert found["taobao"].stopped is None
    assert found["jd"].calls.attempts == 1 and found["taobao_top"].calls.attempts == 1


async def test_spent_quota_stops_platform():
    with sandbox(qps=200, daily_quota=3) as h:
        s = settings_for(h.base_url, {"taobao": {}, "jd": {}})
        async with make_http_client(s) as http:
            found = build_searchers(s, http, backoff=FAST)
            img = image(5, url_base=h.base_url)
            for _ in range(3):
                await found["taobao"].search(img, 1)
            with pytest.raises(QuotaExhausted, match="4013"):
                await found["taobao"].search(img, 1)
            assert (await found["jd"].search(img, 1)).items  # another platform's quota
    assert isinstance(found["taobao"].stopped, QuotaExhausted)


# ------------------------------------------------------------------ throttling

async def _hammer(searcher: PlatformSearcher, img: QueryImage, calls: int,
                  concurrency: int = 8) -> list[float]:
    sent: list[float] = []
    inner = searcher.limiter.acquire

    async def timed() -> None:
        await inner()
        sent.append(time.monotonic())

    searcher.limiter.acquire = timed  # type: ignore[method-assign]
    left = calls

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await searcher.search(img, 1)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent


@pytest.mark.timed
async def test_throughput_at_raised_qps_without_limit_errors():
    qps, calls = 50, 300
    with sandbox(qps=qps, ban_seconds=5) as h:
        s = settings_for(h.base_url, {"taobao": {"qps": qps}})
        async with make_http_client(s) as http:
            searcher = build_searchers(s, http)["taobao"]
            sent = await _hammer(searcher, image(6, url_base=h.base_url), calls)
        errors = limit_errors(h)
    achieved = (len(sent) - 1) / (sent[-1] - sent[0])
    # Never faster than allowed (correctness); close to the budget. The >= 0.97 goal is
    # measured by bench/bench_quota.py with the sandbox in its own process: here the sandbox
    # shares this process's GIL on a shared 2-core machine, so the floor keeps a margin.
    # Never over the budget; how close to it (goal >= 0.97) is bench/bench_quota.py's figure,
    # as a loaded machine can starve the caller.
    assert 0.5 * qps <= achieved <= 1.01 * qps, achieved
    assert errors == 0 and searcher.calls.bans == 0 and searcher.calls.ok == calls


async def test_ban_pauses_platform_and_every_search_recovers():
    with sandbox(qps=5, ban_seconds=1) as h:
        s = settings_for(h.base_url, {"jd": {"qps": 20}})  # four times too fast on purpose
        async with make_http_client(s) as http:
            searcher = build_searchers(s, http, backoff=FAST)["jd"]
            t0 = time.monotonic()
            await _hammer(searcher, image(7, url_base=h.base_url), 15, concurrency=4)
            elapsed = time.monotonic() - t0
        refused = sum(g["bans"] for g in h.stats()["protocols"].values())
    assert searcher.calls.ok == 15 and searcher.stopped is None
    assert searcher.calls.bans >= 1 and searcher.calls.bans == refused
    assert elapsed >= 1.0 * searcher.calls.bans * 0.9


WORKER = textwrap.dedent("""
    import asyncio, json, sys, time
    from pydantic import SecretStr
    from snapprice.models import QueryImage
    from snapprice.search.platforms import build_searchers, make_http_client
    from snapprice.settings import Settings

    base, dsn, table, calls, qps, start_at, digest = sys.argv[1:8]
    s = Settings.model_validate({"search": {"limiter": "postgres"}, "platforms": {
        "taobao": {"protocol": "gateway", "base_url": base, "qps": float(qps)}}})
    s.secrets = {"taobao": {"key": SecretStr("demo-key"), "secret": SecretStr("demo-secret")}}
    img = QueryImage(digest=digest, data=b"", url=base + "/img/product/P000008.jpg")

    async def main():
        sent = []
        async with make_http_client(s) as http:
            searcher = build_searchers(s, http, dsn=dsn)["taobao"]
            searcher.limiter.table = table
            inner = searcher.limiter.acquire
            async def timed():
                await inner()
                sent.append(time.time())
            searcher.limiter.acquire = timed
            await searcher.limiter._execute("SELECT 1", {})  # connect before the start line
            await asyncio.sleep(max(0.0, float(start_at) - time.time()))
            left = int(calls)
            async def worker():
                nonlocal left
                while left > 0:
                    left -= 1
                    await searcher.search(img, 1)
            await asyncio.gather(*(worker() for _ in range(8)))
            await searcher.aclose()
        print(json.dumps({"sent": sent, "bans": searcher.calls.bans, "ok": searcher.calls.ok}))

    asyncio.run(main())
""")


@pytest.fixture
def pg_dsn(pg_server_url: str) -> str:
    return psycopg_dsn(pg_server_url)


def test_two_processes_share_one_postgres_budget(pg_dsn, tmp_path):
    qps, per_process = 50, 125
    table = f"test_rl_{os.getpid()}_{secrets.token_hex(3)}"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    try:
        with sandbox(qps=qps, ban_seconds=5) as h:
            start_at = time.time() + 4.0
            procs = [subprocess.Popen(
                [sys.executable, str(script), h.base_url, pg_dsn, table, str(per_process),
                 str(qps), str(start_at), f"proc{i}"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
            outs = [p.communicate(timeout=90) for p in procs]
            errors = limit_errors(h)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    results = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    sent = sorted(t for r in results for t in r["sent"])
    achieved = (len(sent) - 1) / (sent[-1] - sent[0])
    assert [r["ok"] for r in results] == [per_process, per_process]
    assert min(len(r["sent"]) for r in results) >= per_process  # both really shared the budget
    # The budget is never exceeded; how close to it the pair gets (goal >= 0.97, measured
    # 0.993-0.996) is bench/bench_quota.py's figure: a loaded machine can starve the workers.
    assert 0.5 * qps <= achieved <= 1.01 * qps, achieved
    assert errors == 0 and sum(r["bans"] for r in results) == 0


# ------------------------------------------------------------------ faults

FAULTS = {"http_500": 0.06, "http_502": 0.04, "http_503": 0.04, "reset": 0.06,
          "malformed": 0.06, "truncated": 0.06, "code15": 0.06, "stall": 0.03, "slow": 0.03}


async def _run_queries(h, platforms: dict[str, dict], timeout: float = 10.0) -> tuple[dict, dict]:
    s = settings_for(h.base_url, {n: {**p, "timeout": timeout} for n, p in platforms.items()})
    out: dict[tuple[str, int], list[str]] = {}
    async with make_http_client(s) as http:
        found = build_searchers(s, http, backoff=FAST)
        for n, searcher in found.items():
            for i in range(12):
                img = image(10 + i, url_base=h.base_url)
                page = await searcher.search(img, 1)
                out[(n, i)] = [it.item_id for it in page.items]
        await close_searchers(found)
    return out, {n: sv.calls for n, sv in found.items()}


async def test_recovers_from_injected_faults_without_losing_results():
    plats = {"taobao": {"qps": 200}, "taobao_top": {"protocol": "top", "platform": "taobao",
                                                    "qps": 200}}
    with sandbox(qps=500) as clean:
        expected, _ = await _run_queries(clean, plats)
    with sandbox(qps=500, faults={"taobao": FAULTS, "top": FAULTS}, stall_seconds=3,
                 slow_seconds=0.2) as faulty:
        got, calls = await _run_queries(faulty, plats, timeout=1.0)
        faults = faulty.stats()["protocols"]
    assert got == expected  # every result, none lost or duplicated
    assert sum(faults["gateway"]["faults"].values()) > 0 and sum(faults["top"]["faults"].values())
    assert all(c.retries > 0 and c.failed == 0 for c in calls.values()), calls
