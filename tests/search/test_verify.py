"""Per-SKU match checks: result pictures fetched within bounds, cached, scored per SKU."""

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import sqlalchemy as sa

from snapprice import run
from snapprice.ingest.fetch import AddressGuard, origin, picture_client
from snapprice.models import ListingSnapshot
from snapprice.search import executor, verify
from snapprice.search.verify import CheckConfig, PictureChecker, SkuImage
from snapprice.settings import load_settings
from tests.flowkit import CREDS, make_setup
from tests.reliability.corpus import corrupt_jpeg, huge_png, jpeg

pytestmark = pytest.mark.integration


def q(engine, sql, **params):
    with engine.connect() as c:
        return c.execute(sa.text(sql), params).all()


def _settings(setup, extra: str = ""):
    if extra:
        setup.config.write_text(setup.config.read_text() + f"\n[match_check]\n{extra}\n")
    return load_settings(setup.config, environ=CREDS)


def _search(engine, settings, catalog, *, merge=None) -> int:
    """One run's ingest and searches; ``merge(conn, run_id)`` may rewrite its groups first."""
    run_id = run.start_run(engine, settings, kind="manual", catalog="c")
    run.ingest(engine, settings, run_id, catalog)
    if merge is not None:
        with engine.begin() as conn:
            merge(conn, run_id)
    summary = executor.execute_searches(engine, settings, run_id)
    assert summary.done > 0 and summary.failed == 0
    return run_id


def _truth(setup) -> dict[tuple[str, str], str]:
    return {(x.platform, x.item_id): x.product_id for x in setup.sandbox.world.listings}


def test_only_each_skus_own_passing_results_become_matches(clean_db, database_url, tmp_path):
    setup = make_setup(tmp_path, database_url, platforms=("taobao", "jd"), items=12)
    settings = _settings(setup)
    assert settings.match_check.enabled  # on by default
    truth = _truth(setup)
    product_of = setup.catalog.product_of
    chosen: dict[str, str] = {}

    def false_merge(conn, run_id):
        """Two groups of different world products made one, as a wrong dedupe would."""
        rows = conn.execute(sa.text(
            "SELECT m.group_id, c.sku FROM image_group_member m JOIN catalog_item c USING"
            " (catalog_item_id) WHERE m.run_id = :r ORDER BY m.group_id, c.sku"), {"r": run_id}).all()
        by_group: dict[int, list[str]] = {}
        for g, sku in rows:
            by_group.setdefault(g, []).append(sku)
        singles = [(g, s[0]) for g, s in by_group.items() if len(s) == 1 and product_of[s[0]]]
        (ga, a), (gb, b) = next((x, y) for x in singles for y in singles
                                 if x[0] < y[0] and product_of[x[1]] != product_of[y[1]])
        chosen.update(a=a, b=b)
        conn.execute(sa.text("UPDATE image_group_member SET group_id = :a WHERE run_id = :r"
                             " AND group_id = :b"), {"a": ga, "b": gb, "r": run_id})
        conn.execute(sa.text("DELETE FROM search_task WHERE run_id = :r AND group_id = :b"),
                     {"b": gb, "r": run_id})
        conn.execute(sa.text("DELETE FROM image_group WHERE run_id = :r AND group_id = :b"),
                     {"b": gb, "r": run_id})

    try:
        run_id = _search(clean_db, settings, setup.catalog.csv_path, merge=false_merge)
    finally:
        setup.sandbox.stop()
    a, b = chosen["a"], chosen["b"]
    checks = q(clean_db, "SELECT c.sku, l.platform, l.item_id, c.status, c.score, c.reason"
                         " FROM match_check c JOIN listing l USING (listing_id)")
    matches = q(clean_db, "SELECT m.sku, l.platform, l.item_id, m.best_score FROM match m"
                          " JOIN listing l USING (listing_id)")
    verdict = {(s, p, i): (st, sc) for s, p, i, st, sc, _ in checks}
    assert checks and all(st in ("match", "rejected") for _, _, _, st, _, _ in checks), \
        {r[5] for r in checks if r[3] == "unverified"}
    # Every match is a pair whose own check passed, with that check's score stored.
    for sku, p, i, score in matches:
        assert verdict[(sku, p, i)] == ("match", score) and score >= settings.match_check.min_score
    # Precision: a matched listing sells the SKU's own product; recall on the SKU's own
    # listings that came back.
    wrong = [(s, p, i) for s, p, i, _ in matches if truth[(p, i)] != product_of[s]]
    assert not wrong
    own = [(s, p, i) for s, p, i, _, _, _ in checks if truth[(p, i)] == product_of[s]]
    matched = {(s, p, i) for s, p, i, _ in matches}
    assert len(matched & set(own)) >= 0.9 * len(own)
    # The falsely merged SKU: scored against A's results, matched to none of them (B's
    # product is not among A's results), while A gets its own.
    assert any(s == b for s, _, _, _, _, _ in checks)
    assert not [m for m in matches if m[0] == b]
    assert [m for m in matches if m[0] == a]
    # Rejected results are kept: listing and snapshot stored, only the match withheld.
    rejected = [(p, i) for s, p, i, st, _, _ in checks if st == "rejected"]
    assert rejected
    snapped = {(p, i) for p, i in q(clean_db, "SELECT l.platform, l.item_id FROM price_snapshot s"
                                              " JOIN listing l USING (listing_id) WHERE s.run_id = :r",
                                    r=run_id)}
    assert set(rejected) <= snapped


def test_second_run_fetches_no_picture_and_duplicates_nothing(clean_db, database_url, tmp_path,
                                                               monkeypatch):
    setup = make_setup(tmp_path, database_url, platforms=("taobao",), items=8)
    settings = _settings(setup)
    fetched: list[str] = []
    real = verify.afetch_bytes

    async def counting(http, url, limits):
        fetched.append(url)
        return await real(http, url, limits)

    monkeypatch.setattr(verify, "afetch_bytes", counting)
    tables = ("match_check", "match", "picture_url", "picture_feature", "listing")
    try:
        _search(clean_db, settings, setup.catalog.csv_path)
        first = {t: q(clean_db, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
        n_first = list(fetched)
        fetched.clear()
        second_run = _search(clean_db, settings, setup.catalog.csv_path)
        second = {t: q(clean_db, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    finally:
        setup.sandbox.stop()
    # One fetch per URL (scheme-relative URLs get an http try after https fails).
    assert n_first and first["picture_url"] == len({u.split("://", 1)[1] for u in n_first})
    assert fetched == []  # every result picture came from the cache (URL → digest → features)
    assert second == first  # a rerun adds no check, match, cache or listing row
    # The verdicts are the second run's: it saw every pair again.
    assert q(clean_db, "SELECT DISTINCT run_id FROM match_check") == [(second_run,)]


def test_checks_off_matches_every_result_as_before(clean_db, database_url, tmp_path):
    setup = make_setup(tmp_path, database_url, platforms=("taobao",), items=6)
    settings = _settings(setup, "enabled = false")
    try:
        _search(clean_db, settings, setup.catalog.csv_path)
    finally:
        setup.sandbox.stop()
    assert q(clean_db, "SELECT count(*) FROM match_check")[0][0] == 0
    listings = q(clean_db, "SELECT count(DISTINCT listing_id) FROM price_snapshot")[0][0]
    assert q(clean_db, "SELECT count(DISTINCT listing_id) FROM match")[0][0] == listings


# ---------------------------------------------------------------- result pictures within bounds

HUGE = huge_png(9000)  # 236 kB on the wire, 243 MB decoded
GOOD = jpeg(7)


class _Pictures(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str]] = []
    elsewhere: ClassVar[str] = ""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.path == "/trickle.jpg":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(60):
                try:
                    self.wfile.write(b"X")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
            self.close_connection = True
            return
        if self.path == "/away.jpg":  # a redirect to another host's copy of a good picture
            self.send_response(302)
            self.send_header("Location", self.elsewhere + "/good.jpg")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = {"/good.jpg": GOOD, "/huge.png": HUGE, "/fat.jpg": GOOD + b"\0" * 500_000,
                "/text.jpg": b"<html>not a picture</html>", "/corrupt.jpg": corrupt_jpeg()}.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


@pytest.fixture(scope="module")
def pictures():
    servers = [_Quiet(("127.0.0.1", 0), _Pictures) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    urls = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    _Pictures.elsewhere = urls[1].replace("127.0.0.1", "localhost")
    yield urls
    for s in servers:
        s.shutdown()
        s.server_close()


def _db(engine):
    async def call(fn, *args, **kwargs):
        def work():
            with engine.begin() as conn:
                return fn(conn, *args, **kwargs)
        return await asyncio.to_thread(work)
    return call


def _checker(engine, trusted, **limits):
    config = CheckConfig(**{"max_bytes": 400_000, "max_pixels": 16_000_000, "timeout": 3.0,
                            "workers": 1, **limits})
    return PictureChecker(picture_client(AddressGuard([origin(t) for t in trusted])), _db(engine), config)


def _snap(n: int, url: str | None) -> ListingSnapshot:
    return ListingSnapshot(platform="p", item_id=str(n), title="t", shop=None, url=None, pic_url=url,
                           price_low=None, price_high=None, promo_price=None, original_price=None,
                           currency="CNY", sales_lower_bound=None, sales_text=None, rank=n)


def test_bad_pictures_are_unverified_never_matched(clean_db, pictures, tmp_path):
    own, other = pictures
    (tmp_path / "sku.jpg").write_bytes(GOOD)
    paths = ["/good.jpg", "/huge.png", "/fat.jpg", "/trickle.jpg", "/missing.jpg", "/away.jpg",
             "/text.jpg", "/corrupt.jpg"]
    snaps = [_snap(n, own + p) for n, p in enumerate(paths, 1)]
    snaps += [_snap(20, None), _snap(21, other + "/good.jpg"), _snap(22, "ftp://127.0.0.1/a.jpg")]
    checker = _checker(clean_db, [own])

    async def go():
        try:
            return await checker.check(snaps, [SkuImage("S1", str(tmp_path / "sku.jpg"), None),
                                               SkuImage("S2", str(tmp_path / "nope.jpg"), None)])
        finally:
            await checker.aclose()

    scored, learnt = asyncio.run(go())
    verdicts = {(c.sku, c.item_id): (c.status, c.reason) for c in learnt.checks}
    assert verdicts[("S1", "1")] == ("match", None)
    assert scored[0].score == 1.0
    reasons = {c.item_id: c.reason for c in learnt.checks if c.sku == "S1" and c.status == "unverified"}
    assert reasons == {"2": "pixel_bomb", "3": "too_large", "4": "timeout", "5": "http_404",
                       "6": "redirect_elsewhere", "7": "not_an_image", "8": "corrupt",
                       "20": "no_picture", "21": "private_address", "22": "unsupported_scheme"}
    assert all(s.score is None for s in scored[1:])
    # A SKU whose own picture is unusable is unverified against every result.
    assert {verdicts[("S2", s.item_id)][0] for s in snaps} == {"unverified"}
    assert verdicts[("S2", "1")][1] == "sku_picture_not_found"
    # Only the good picture was worth keeping; nothing was learnt from the bad ones.
    assert list(learnt.urls) == [own + "/good.jpg"] and len(learnt.features) == 1


def test_a_picture_that_breaks_the_scorer_is_unverified_not_a_crash(clean_db, pictures, tmp_path,
                                                                    monkeypatch):
    own, _ = pictures
    (tmp_path / "sku.jpg").write_bytes(jpeg(3))
    real = verify.picture_features

    def fragile(data, **kw):
        if data == GOOD:
            raise RuntimeError("a decoder bug")
        return real(data, **kw)

    monkeypatch.setattr(verify, "picture_features", fragile)
    checker = _checker(clean_db, [own])

    async def go():
        try:
            return await checker.check([_snap(1, own + "/good.jpg")],
                                       [SkuImage("S1", str(tmp_path / "sku.jpg"), None)])
        finally:
            await checker.aclose()

    scored, learnt = asyncio.run(go())
    assert [(c.status, c.reason) for c in learnt.checks] == [("unverified", "check_error")]
    assert scored[0].score is None


def test_a_host_without_tls_is_asked_in_plain_http_after_its_first_refusal():
    """Scheme-relative picture URLs are made https; a host that refuses the handshake and
    answers plain http is not asked for a handshake again (each costs a round trip and
    shows in the host's log as a bad request)."""
    import asyncio

    import httpx

    from snapprice.search.verify import CheckConfig, PictureChecker

    tried: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.scheme)
        if request.url.scheme == "https":
            raise httpx.ConnectError("not TLS", request=request)
        return httpx.Response(200, content=b"picture")

    async def fetch_all() -> list[bytes]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            checker = PictureChecker(http, None, CheckConfig())
            return [await checker._fetch(f"https://cdn.example:8080/p{i}.jpg") for i in range(5)]

    assert asyncio.run(fetch_all()) == [b"picture"] * 5
    assert tried == ["https", "http", "http", "http", "http", "http"]
