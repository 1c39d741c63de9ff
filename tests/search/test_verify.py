"""Result pictures scored by pHash, fetched within bounds."""

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import sqlalchemy as sa

from snapprice import run
from snapprice.ingest.fetch import AddressGuard, origin, picture_client
from snapprice.search import executor, verify
from snapprice.search.verify import PictureLimits, PictureScorer, score_from_distance
from snapprice.settings import load_settings
from tests.flowkit import CREDS, make_setup
from tests.reliability.corpus import huge_png, jpeg


@pytest.mark.parametrize(("d", "score"), [(0, 1.0), (8, 0.75), (16, 0.5), (32, 0.0), (64, 0.0)])
def test_score_from_distance(d, score):
    assert score_from_distance(d) == score


@pytest.mark.integration
def test_visual_scores_keep_weak_results_out_of_matches(clean_db, database_url, tmp_path):
    setup = make_setup(tmp_path, database_url, platforms=("taobao",), items=10)
    text = setup.config.read_text().replace("[search]\n", "[search]\nverify_matches = true\nmatch_min_score = 0.8\n")
    setup.config.write_text(text)
    settings = load_settings(setup.config, environ=CREDS)
    try:
        run_id = run.start_run(clean_db, settings, kind="manual", catalog="c")
        run.ingest(clean_db, settings, run_id, setup.catalog.csv_path)
        summary = executor.execute_searches(clean_db, settings, run_id)
    finally:
        setup.sandbox.stop()
    assert summary.done > 0 and summary.failed == 0
    with clean_db.connect() as c:
        scores = [r[0] for r in c.execute(sa.text("SELECT score FROM price_snapshot")).all()]
        unmatched_weak = c.execute(sa.text(
            "SELECT count(*) FROM price_snapshot s WHERE s.score < 0.8"
            " AND NOT EXISTS (SELECT 1 FROM match m WHERE m.listing_id = s.listing_id)")).scalar()
        weak_matched = c.execute(sa.text("SELECT count(*) FROM match WHERE best_score < 0.8")).scalar()
        n_matches = c.execute(sa.text("SELECT count(*) FROM match")).scalar()
    assert scores and all(s is not None for s in scores), "every result picture was fetched and scored"
    assert max(scores) > 0.9  # the product's own listings look like the query
    assert weak_matched == 0 and n_matches > 0
    print(f"\nverify: {len(scores)} snapshots scored, {unmatched_weak} weak ones kept unmatched")


# ---------------------------------------------------------------- result pictures within bounds

HUGE = huge_png(9000)  # 236 kB on the wire, 243 MB decoded
GOOD = jpeg(7)


class _Pictures(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str]] = []

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
        body = {"/good.jpg": GOOD, "/huge.png": HUGE, "/fat.jpg": GOOD + b"\0" * 500_000}.get(self.path)
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
    yield [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _scorer(trusted, **limits):
    return PictureScorer(picture_client(AddressGuard([origin(t) for t in trusted])),
                         PictureLimits(**{"max_bytes": 400_000, "max_pixels": 16_000_000,
                                          "timeout": 1.0, **limits}))


@pytest.mark.anyio
async def test_pictures_beyond_a_bound_are_not_decoded(pictures, monkeypatch):
    own, _ = pictures
    decoded: list[int] = []
    real = verify.phash_bytes
    monkeypatch.setattr(verify, "phash_bytes", lambda data: decoded.append(len(data)) or real(data))
    scorer = _scorer([own])
    started = time.monotonic()
    got = await asyncio.gather(*(scorer.picture_hash(own + p) for p in (
        "/good.jpg", "/huge.png", "/fat.jpg", "/trickle.jpg", "/missing.jpg")))
    elapsed = time.monotonic() - started
    await scorer.aclose()
    assert isinstance(got[0], int) and got[1:] == [None, None, None, None]
    assert decoded == [len(GOOD)]  # the 9000 × 9000 picture was refused by its header
    assert elapsed < 2.5  # the header trickle ended at the 1 s deadline


@pytest.mark.anyio
async def test_pictures_on_a_private_address_are_not_fetched(pictures):
    own, other = pictures
    scorer = _scorer([own])
    _Pictures.seen.clear()
    for url in (other + "/good.jpg", "http://127.0.0.1:5432/", "HTTP://10.0.0.1/a.jpg",
                "ftp://127.0.0.1/a.jpg", "file:///etc/passwd"):
        assert await scorer.picture_hash(url) is None
    assert await scorer.picture_hash(own.replace("http", "HTTP") + "/good.jpg") is not None
    await scorer.aclose()
    assert _Pictures.seen == ["/good.jpg"]  # only the trusted origin's picture was asked for
