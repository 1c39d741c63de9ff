"""A hostile marketplace (gateway and TOP) and hostile pictures, run through the real stages:
the good items of every page are stored, each bad one is a reject with its reason, every
answer is archived (sanitized), every wait ends by its deadline, memory stays bounded, no
task ends as an internal error, and a route refusing every call is stopped after five."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from snapprice.search.platforms.jsonbody import TOO_DEEP
from tests.reliability.corpus import TRICKLE_SECONDS, HostileMarket, hostile_market, jpeg
from tests.reliability.kit import one, q, run_pipeline, settings_for

pytestmark = pytest.mark.integration

API_TIMEOUT = 2.0  # platforms.NAME.timeout: the deadline of one call
PICTURE_TIMEOUT = 2.0  # match_check.timeout
FETCH_TIMEOUT = 1.0  # dedupe.fetch_timeout: catalog images
SLACK = 1.5  # what a deadline may overrun by on 2 busy cores (measured: < 0.3 s)

# gateway scenario (its path segment and marketplace) → good items a page holds, and the
# rejects per page (each bad item's id ends in its reason).
GATEWAY = {
    "nul": (1, 1), "surrogate": (1, 1), "inf": (1, 1), "nan": (2, 1), "apiinfo": (1, 0),
    "deep": (1, 1), "types": (1, 3), "trickle": (1, 0), "headers": (1, 0), "pics": (20, 0),
}
TOP = {"mixed": (2, 2)}  # TOP router, same hostile items (NUL title, NaN price)


def _platform(name: str, market: HostileMarket, scenario: str, *, top: bool = False,
              extra: str = "") -> str:
    if top:
        return (f'[platforms.{name}]\nprotocol = "top"\nplatform = "{name}"\n'
                f'base_url = "{market.url}/top/{scenario}"\nqps = 50\ntimeout = {API_TIMEOUT}\n'
                'credentials = { app_key = "SNAPPRICE_TOP_APP_KEY", '
                'app_secret = "SNAPPRICE_TOP_APP_SECRET" }\n' + extra + "\n")
    return (f'[platforms.g_{scenario}]\nprotocol = "gateway"\nplatform = "{scenario}"\n'
            f'base_url = "{market.url}"\nqps = 50\ntimeout = {API_TIMEOUT}\n'
            'credentials = { key = "SNAPPRICE_GATEWAY_KEY", secret = "SNAPPRICE_GATEWAY_SECRET" }\n'
            + extra + "\n")


def _config(tmp: Path, database_url: str, catalog: Path, platforms: str, *,
            concurrency: int = 2, search: str = "", match_check: str = "") -> Path:
    path = tmp / "snapprice.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n\n[catalog]\npath = "{catalog}"\n\n'
        f"[dedupe]\nworkers = 1\nfetch_timeout = {FETCH_TIMEOUT}\n\n"
        f"[search]\nconcurrency = {concurrency}\nmax_attempts = 2\nmax_retry_seconds = 30\n"
        f"{search}\n[match_check]\n{match_check}\n[alerts]\nenabled = false\n\n{platforms}",
        encoding="utf-8")
    return path


def _catalog(tmp: Path, market: HostileMarket, n_local: int) -> tuple[Path, dict[str, str]]:
    """n_local pictures in the catalog's folder, one by an upper-case HTTP:// URL, and rows
    that must be refused: (catalog.csv, expected reject reason by source)."""
    root = tmp / "catalog"
    (root / "img").mkdir(parents=True)
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "private.jpg").write_bytes(jpeg(999))
    rows = []
    for i in range(n_local):
        (root / "img" / f"p{i}.jpg").write_bytes(jpeg(500 + i))
        rows.append((f"SKU-{i}", f"img/p{i}.jpg"))
    (root / "img" / "link.jpg").symlink_to(outside / "private.jpg")
    port = market.port
    refused = [
        ("SKU-abs", str(outside / "private.jpg"), "path_escapes_root"),
        ("SKU-link", "img/link.jpg", "path_escapes_root"),
        ("SKU-trickle", f"http://127.0.0.1:{port}/pic/cat-trickle.jpg", "timeout"),
        ("SKU-elsewhere", f"http://127.0.0.1:{port}/pic/to-localhost.jpg", "redirect_elsewhere"),
    ]
    rows.append(("SKU-url", f"HTTP://127.0.0.1:{port}/pic/good-77.jpg"))
    lines = ["sku,image"] + [f"{s},{i}" for s, i in rows] + [f"{s},{i}" for s, i, _ in refused]
    (root / "catalog.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = {f"catalog.csv:row {len(rows) + n}": r for n, (_, _, r) in enumerate(refused, 1)}
    return root / "catalog.csv", expected


@contextmanager
def _peak_rss() -> Iterator[dict[str, float]]:
    """Samples this process's resident memory every 20 ms: out['growth_mb'] at the end."""
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    out = {"base": rss(), "peak": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            out["peak"] = max(out["peak"], rss())
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield out
    finally:
        stop.set()
        t.join()
        out["growth_mb"] = (out["peak"] - out["base"]) / 1e6


@pytest.mark.timed
def test_hostile_pages_keep_their_good_items(clean_db, database_url, tmp_path):
    with hostile_market() as market:
        catalog, catalog_rejects = _catalog(tmp_path, market, n_local=3)
        platforms = "".join(_platform("", market, s) for s in GATEWAY)
        platforms += _platform("", market, "big", extra="max_body_bytes = 100000")
        platforms += "".join(_platform(f"top_{s}", market, s, top=True) for s in TOP)
        config = _config(tmp_path, database_url, catalog, platforms, match_check=(
            f"timeout = {PICTURE_TIMEOUT}\nmax_bytes = 3000000\n"))
        settings = settings_for(config)
        started = time.monotonic()
        with _peak_rss() as memory:
            result = run_pipeline(clean_db, settings, catalog)
        elapsed = time.monotonic() - started
    run_id = result["run_id"]
    groups = result["n_groups"]
    assert groups == 4  # three pictures in the folder and the HTTP:// one

    # Memory: 10 pictures of 9000² a page (243 MB each, decoded) are refused by their header.
    assert memory["growth_mb"] < 400, memory

    # No task ends as an internal error; only the over-sized answers fail, with their reason.
    tasks = q(clean_db, "SELECT platform, status, coalesce(last_error, ''), attempts"
                        " FROM search_task WHERE run_id = :r", r=run_id)
    assert not [t for t in tasks if "internal error" in t[2]]
    assert {(p, s) for p, s, _, _ in tasks if s != "done"} == {("g_big", "failed")}
    assert all("body_too_large" in e for p, _, e, _ in tasks if p == "g_big")

    # Good items stored, bad ones rejected with their reason, per marketplace.
    stored = dict(q(clean_db, "SELECT l.platform, count(*) FROM price_snapshot s"
                              " JOIN listing l USING (listing_id) WHERE s.run_id = :r GROUP BY 1",
                    r=run_id))
    expected = {s: good * groups for s, (good, _) in GATEWAY.items()}
    expected |= {f"top_{s}": good * groups for s, (good, _) in TOP.items()}
    assert stored == expected
    rejects = q(clean_db, "SELECT source, reason, detail FROM reject WHERE run_id = :r"
                          " AND stage = 'normalize'", r=run_id)
    by_market: dict[str, int] = {}
    for source, reason, detail in rejects:
        market_name, _, item_id = source.partition(":")
        by_market[market_name] = by_market.get(market_name, 0) + 1
        assert reason == (item_id.split("-")[2] if item_id else "not_text"), source
        assert detail
    # `types` also sends an id that is a list: one reject (source "types:") for the run.
    assert by_market == {**{s: bad * groups for s, (_, bad) in GATEWAY.items() if bad},
                         "types": 3 * groups + 1,
                         **{f"top_{s}": bad * groups for s, (_, bad) in TOP.items()}}
    reprs = one(clean_db, "SELECT count(*) FROM listing WHERE title LIKE '[%' OR title LIKE '{%'"
                          " OR shop LIKE '{%' OR item_id LIKE '[%'")
    assert reprs == 0

    # Every answer is archived, sanitized: one raw_response per done task.
    done = one(clean_db, "SELECT count(*) FROM search_task WHERE run_id = :r AND status = 'done'",
               r=run_id)
    assert one(clean_db, "SELECT count(*) FROM raw_response WHERE run_id = :r", r=run_id) == done

    def body(platform: str, path: str) -> list:
        return [r[0] for r in q(clean_db, f"SELECT body #>> '{{{path}}}' FROM raw_response"
                                          " WHERE run_id = :r AND platform = :p", r=run_id, p=platform)]

    assert set(body("g_nul", "reason")) == {"ok\ufffd"} and set(body("g_nul", "note\ufffd")) == {"a NUL in a key"}
    assert set(body("g_surrogate", "reason")) == {"\ufffd"}
    assert set(body("g_nan", "items,item,1,price")) == {"NaN"}
    assert set(body("g_nan", "items,item,2,orginal_price")) == {"-Infinity"}
    assert set(body("g_inf", "items,item,1,price")) == {"1e309"}
    assert set(body("g_apiinfo", "api_info,today")) == {"1"}
    assert all(TOO_DEEP in t for t in body("g_deep", "trace"))
    assert one(clean_db, "SELECT count(*) FROM raw_response WHERE run_id = :r AND quota IS NOT NULL"
                         " AND platform = 'g_apiinfo'", r=run_id) == 0

    # Every wait ended by its deadline (as the server saw it: the client hung up).
    for key, limit in (("trickle", API_TIMEOUT), ("headers", API_TIMEOUT),
                       ("pic-headers", PICTURE_TIMEOUT), ("pic-body", PICTURE_TIMEOUT),
                       ("catalog", FETCH_TIMEOUT)):
        held = market.trickles[key]
        assert held and max(held) < limit + SLACK, (key, held)
    assert max(API_TIMEOUT, PICTURE_TIMEOUT) + SLACK < TRICKLE_SECONDS  # so a trickle can tell

    # Pictures: only the good ones were scored; none of the refused ones was fetched or decoded.
    scored = one(clean_db, "SELECT count(*) FROM price_snapshot s JOIN listing l USING (listing_id)"
                           " WHERE s.run_id = :r AND l.platform = 'pics' AND s.score IS NOT NULL",
                 r=run_id)
    assert scored == 3 * groups  # good-1, HTTP:// good-2 and scheme-relative good-3
    assert market.other_hits == []  # the loopback server that is no platform's was never asked

    # Attempts count requests really sent: the marketplace's count, uploads and retries included.
    attempts: dict[str, int] = {}
    for platform, _, _, n in tasks:
        attempts[platform] = attempts.get(platform, 0) + n
    for scenario in (*GATEWAY, "big"):
        seen = market.calls.get(scenario, 0) + market.calls.get(f"{scenario}/upload", 0)
        assert attempts[f"g_{scenario}"] == seen, scenario
    assert attempts["top_mixed"] == market.calls["mixed"]

    # The catalog: paths leaving its folder, a header trickle and a redirect elsewhere refused.
    got = dict(q(clean_db, "SELECT source, reason FROM reject WHERE run_id = :r"
                           " AND stage IN ('catalog', 'image')", r=run_id))
    assert got == catalog_rejects
    assert result["status"] == "partial"  # the g_big searches failed, as they should
    print(f"\nhostile marketplace: {len(tasks)} searches on {len(GATEWAY) + 1 + len(TOP)} hostile "
          f"routes in {elapsed:.1f} s: {done} done, {len(tasks) - done} failed (body_too_large), "
          f"0 internal errors; {sum(stored.values())} good items stored, {len(rejects)} bad ones "
          f"rejected; {done} answers archived; longest hold by a trickle: API "
          f"{max(market.trickles['trickle'] + market.trickles['headers']):.2f} s (deadline "
          f"{API_TIMEOUT:g}), picture {max(market.trickles['pic-headers'] + market.trickles['pic-body']):.2f} s "
          f"(deadline {PICTURE_TIMEOUT:g}), catalog {max(market.trickles['catalog']):.2f} s "
          f"(deadline {FETCH_TIMEOUT:g}); memory growth {memory['growth_mb']:.0f} MB with "
          f"{10 * groups} pictures of 9000×9000 offered; {scored} pictures scored, "
          f"0 requests to the other loopback server")


@pytest.mark.parametrize("stop_after", [5, 0])
def test_a_route_refusing_every_call_is_stopped(clean_db, database_url, tmp_path, stop_after):
    """TOP 40 (a missing argument) and gateway 4003 (for every picture) on every call: after
    five in a row the platform stops, with one message naming the code and its likely cause."""
    groups = 12
    with hostile_market() as market:
        catalog, _ = _catalog(tmp_path, market, n_local=groups)
        catalog.write_text("\n".join(catalog.read_text().splitlines()[:groups + 1]) + "\n")
        platforms = _platform("top_top40", market, "top40", top=True) + _platform("", market, "gw4003")
        config = _config(tmp_path, database_url, catalog, platforms,
                         search=f"stop_after_same_errors = {stop_after}\n")
        result = run_pipeline(clean_db, settings_for(config), catalog)
    run_id = result["run_id"]
    assert result["n_groups"] == groups
    tasks = q(clean_db, "SELECT platform, status, coalesce(last_error, ''), attempts"
                        " FROM search_task WHERE run_id = :r", r=run_id)
    searches = {"top_top40": market.calls.get("top40", 0), "g_gw4003": market.calls.get("gw4003", 0)}
    uploads = market.calls.get("gw4003/upload", 0)
    assert not [t for t in tasks if "internal error" in t[2]]
    if stop_after == 0:
        assert searches == {"top_top40": groups, "g_gw4003": groups}
        print(f"\nwithout the stop: {sum(searches.values())} of {2 * groups} searches spent on "
              "routes that refuse every call")
        return
    concurrency = 2
    for platform, code in (("top_top40", "code 40 [isv.missing-parameter:image]"),
                           ("g_gw4003", "code 4003")):
        mine = [t for t in tasks if t[0] == platform]
        assert searches[platform] <= stop_after + concurrency - 1
        skipped = [t for t in mine if t[1] == "skipped"]
        assert len(skipped) >= groups - searches[platform]
        assert all(f"calls in a row refused with {code}" in e and "likely cause" in e
                   for _, _, e, _ in skipped)
        assert {s for _, s, _, _ in mine} <= {"failed", "skipped"}
        # a task the stopped platform never sent is not an attempt
        assert sum(n for *_, n in mine) == searches[platform] + (uploads if platform == "g_gw4003" else 0)
    assert result["status"] == "partial"
    print(f"\nstopped after {stop_after} identical refusals: {searches['top_top40']} of {groups} TOP "
          f"calls (code 40), {searches['g_gw4003']} of {groups} gateway searches (code 4003) "
          f"+ {uploads} uploads; attempts recorded = requests sent")
