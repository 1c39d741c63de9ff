"""Alert rules on known price histories: crossings, de-duplication, and the webhook."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
import stamina
from sqlalchemy.engine import Connection, Engine

from snapprice.alerts.rules import alerts_markdown, evaluate, evaluate_in, to_json
from snapprice.alerts.webhook import notify, safe_url
from snapprice.models import ListingSnapshot
from snapprice.settings import AlertSettings, Settings
from snapprice.store.loader import load_snapshots
from snapprice.store.runs import create_run

BASE = datetime(2026, 1, 5, 8, tzinfo=UTC)
OFF = {"drop_vs_previous_pct": 0, "rise_vs_previous_pct": 0, "drop_vs_average_pct": 0, "new_low_days": 0,
       "reappeared_after_runs": 0, "max_per_sku_per_day": 0}
# item -> (platform, SKU)
ITEMS = {"A": ("taobao", "SKU-1"), "B": ("taobao", "SKU-1"), "C": ("jd", "SKU-1"), "Z": ("jd", "SKU-9")}


def snap(item: str, price: str) -> ListingSnapshot:
    platform = ITEMS[item][0]
    return ListingSnapshot(
        platform=platform, item_id=item, title=f"item {item}", shop="s", url=f"https://x.test/{item}",
        pic_url=None, price_low=Decimal(price), price_high=None, promo_price=None, original_price=None,
        currency="CNY", sales_lower_bound=None, sales_text=None, rank=1,
    )


def add_run(conn: Connection, day: int, prices: dict[str, str]) -> int:
    """One run on day BASE+day with the given item prices (one load per SKU)."""
    run_id = create_run(conn, kind="manual", catalog=None, config_digest=None)
    for sku in sorted({ITEMS[i][1] for i in prices}):
        batch = [snap(i, p) for i, p in prices.items() if ITEMS[i][1] == sku]
        load_snapshots(conn, run_id, BASE + timedelta(days=day), batch, skus=[sku])
    return run_id


def play(conn: Connection, cfg: AlertSettings, steps: list[tuple[int, dict[str, str]]]) -> list[list[str]]:
    """Load each step as a run and evaluate it twice; the messages of the new alerts per run."""
    out = []
    for day, prices in steps:
        run_id = add_run(conn, day, prices)
        first = evaluate_in(conn, cfg, run_id)
        assert evaluate_in(conn, cfg, run_id) == []  # idempotent
        out.append([a["message"] for a in first])
    return out


def daily(*prices: str, item: str = "A") -> list[tuple[int, dict[str, str]]]:
    return [(d, {item: p}) for d, p in enumerate(prices)]


CASES = [
    pytest.param(
        {"target_prices": {"SKU-1": Decimal("100")}},
        daily("120", "95", "90", "110", "99"),
        [[], ["taobao A: 95.00 CNY, at or below the target 100.00 for SKU-1"], [], [],
         ["taobao A: 99.00 CNY, at or below the target 100.00 for SKU-1"]],
        id="target-price-state",
    ),
    pytest.param(
        {"drop_vs_previous_pct": 10},
        daily("100", "89", "80", "79", "100", "90"),
        [[], ["taobao A: 89.00 CNY, -11.00% vs the previous snapshot (100.00)"],
         ["taobao A: 80.00 CNY, -10.11% vs the previous snapshot (89.00)"], [], [],
         ["taobao A: 90.00 CNY, -10.00% vs the previous snapshot (100.00)"]],
        id="drop-vs-previous-event",
    ),
    pytest.param(
        {"drop_vs_average_pct": 15, "average_days": 30, "min_average_days": 3},
        # day 3: avg(100,100,100)=100 -> -20 %; day 4: avg 95, 80 <= 80.75 still holds (same
        # crossing); day 5 clears; day 6: avg(100,100,100,80,80,100)=93.33 -> a new crossing
        daily("100", "100", "100", "80", "80", "100", "70"),
        [[], [], [], ["taobao A: 80.00 CNY, -20.00% vs its 30-day average 100.00"], [], [],
         ["taobao A: 70.00 CNY, -25.00% vs its 30-day average 93.33"]],
        id="drop-vs-average-state",
    ),
    pytest.param(
        {"rise_vs_previous_pct": 10},
        daily("100", "111", "115", "90", "99"),
        [[], ["taobao A: 111.00 CNY, +11.00% vs the previous snapshot (100.00)"], [], [],
         ["taobao A: 99.00 CNY, +10.00% vs the previous snapshot (90.00)"]],
        id="rise-vs-previous-event",
    ),
    pytest.param(
        # a 10 % move of a 9.90 listing is 0.99 of money: under min_change_abs 1, no alert
        {"drop_vs_previous_pct": 10, "rise_vs_previous_pct": 10, "min_change_abs": Decimal("1")},
        daily("9.90", "8.91", "9.90", "100", "89"),
        [[], [], [], ["taobao A: 100.00 CNY, +910.10% vs the previous snapshot (9.90)"],
         ["taobao A: 89.00 CNY, -11.00% vs the previous snapshot (100.00)"]],
        id="minimum-money-change",
    ),
    pytest.param(
        # one earlier day is not a history: the first new low needs 3 earlier days with data
        {"new_low_days": 30, "new_low_min_days": 3},
        daily("100", "90", "95", "80", "70"),
        [[], [], [], ["taobao A: 80.00 CNY, a new 30-day low (previous low 90.00)"],
         ["taobao A: 70.00 CNY, a new 30-day low (previous low 80.00)"]],
        id="new-low-needs-history",
    ),
    pytest.param(
        {"new_low_days": 30, "new_low_min_days": 1},
        # the 50 of day -40 is outside the window of day 0 onwards
        [(-40, {"A": "50"}), *daily("100", "90", "90", "95", "85")],
        [[], [], ["taobao A: 90.00 CNY, a new 30-day low (previous low 100.00)"], [], [],
         ["taobao A: 85.00 CNY, a new 30-day low (previous low 90.00)"]],
        id="new-low-event",
    ),
    pytest.param(
        {"reappeared_after_runs": 2},
        # A misses runs 2 and 3 while B (same SKU, same platform) is found; C (jd) has no
        # jd sibling, so its gap is not a disappearance; B misses one run only
        [(0, {"A": "10", "B": "11", "C": "12"}), (1, {"B": "11"}), (2, {"B": "11"}),
         (3, {"A": "9", "C": "12"}), (4, {"A": "9", "B": "11"})],
        [[], [], [], ["taobao A: back at 9.00 CNY after missing 2 runs (last seen 2026-01-05 at 10.00)"], []],
        id="reappeared-event",
    ),
]


@pytest.mark.parametrize(("rules", "steps", "expected"), CASES)
def test_rules_on_known_histories(conn: Connection, rules: dict, steps: list, expected: list) -> None:
    assert play(conn, AlertSettings(**{**OFF, **rules}), steps) == expected


def test_reevaluating_an_older_run_adds_nothing(conn: Connection) -> None:
    cfg = AlertSettings(**{**OFF, "target_prices": {"SKU-1": Decimal("100")}})
    runs = [add_run(conn, d, {"A": p}) for d, p in enumerate(["120", "95", "90", "110", "99"])]
    new = [len(evaluate_in(conn, cfg, r)) for r in reversed(runs)]  # newest first
    assert new == [1, 0, 1, 0, 0]  # day 4 (99), nothing at 110, day 2 belongs to day 1's crossing
    rows = conn.execute(sa.text("SELECT rule_key, crossing_at, price FROM alert ORDER BY crossing_at")).all()
    assert rows == [("target_price:SKU-1:100", BASE + timedelta(days=1), Decimal("95.0000")),
                    ("target_price:SKU-1:100", BASE + timedelta(days=4), Decimal("99.0000"))]
    assert [len(evaluate_in(conn, cfg, r)) for r in runs] == [0, 0, 0, 0, 0]


def test_min_score_and_disabled(conn: Connection) -> None:
    run_id = add_run(conn, 0, {"A": "100"})
    run_id = add_run(conn, 1, {"A": "50"})
    assert evaluate_in(conn, AlertSettings(**{**OFF, "drop_vs_previous_pct": 10, "enabled": False}), run_id) == []
    # the loader leaves best_score NULL without a score: min_score > 0 filters the listing out
    assert evaluate_in(conn, AlertSettings(**{**OFF, "drop_vs_previous_pct": 10, "min_score": 0.5}), run_id) == []
    [alert] = evaluate_in(conn, AlertSettings(**{**OFF, "drop_vs_previous_pct": 10}), run_id)
    assert (alert["rule"], alert["sku"], alert["change_pct"], alert["item_id"]) == (
        "drop_vs_previous", "SKU-1", Decimal("-50.00"), "A")


def test_evaluate_public_api_commits(clean_db: Engine) -> None:
    with clean_db.begin() as c:
        add_run(c, 0, {"A": "100", "C": "100"})
        run_id = add_run(c, 1, {"A": "80", "C": "99"})
    settings = Settings(alerts=AlertSettings(**{**OFF, "drop_vs_previous_pct": 10}))
    [alert] = evaluate(clean_db, settings, run_id)
    assert evaluate(clean_db, settings, run_id) == []
    payload = to_json(alert)
    assert (payload["price"], payload["reference_price"], payload["platform"]) == ("80", "100", "taobao")
    json.dumps(payload)
    assert "| drop_vs_previous | SKU-1 | taobao | A |" in alerts_markdown([alert])


class Hook:
    """A webhook on 127.0.0.1 answering with the given status codes in turn (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.bodies.append(json.loads(body))
                hook.paths.append(self.path)
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://user:pw@127.0.0.1:{self.server.server_port}/hook/SECRET-TOKEN?key=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_factory() -> Iterator:
    hooks: list[Hook] = []

    def make(statuses: list[int]) -> Hook:
        hooks.append(Hook(statuses))
        return hooks[-1]

    with stamina.set_testing(True, attempts=3):  # no backoff sleeps; at most 3 attempts
        yield make
    for h in hooks:
        h.close()


ALERTS = [{"alert_id": i, "rule": "new_low", "price": Decimal("9.50"), "crossing_at": BASE, "message": f"m{i}"}
          for i in range(3)]


@pytest.mark.parametrize(
    ("statuses", "batch", "sent", "posts"),
    [
        ([500], 100, 3, 2),  # retried after the first 500
        ([], 2, 3, 2),  # two batches
        ([500, 503, 502], 100, 0, 3),  # gives up after the attempts
        ([404], 100, 0, 1),  # a refusal is not retried
    ],
)
def test_webhook(hook_factory, caplog: pytest.LogCaptureFixture, statuses: list[int], batch: int,
                 sent: int, posts: int) -> None:
    hook = hook_factory(statuses)
    settings = Settings(alerts=AlertSettings(webhook_url_env="HOOK_URL", webhook_batch=batch, webhook_timeout=5))
    with caplog.at_level(logging.DEBUG):
        assert notify(ALERTS, settings, {"HOOK_URL": hook.url}) == sent
    assert len(hook.bodies) == posts
    assert hook.paths[0] == "/hook/SECRET-TOKEN?key=abc"
    first = hook.bodies[0]
    assert first["source"] == "snapprice"
    assert first["alerts"][0] == {"alert_id": 0, "rule": "new_low", "price": "9.5",
                                  "crossing_at": "2026-01-05T08:00:00+00:00", "message": "m0"}
    logged = caplog.text
    for secret in ("SECRET-TOKEN", "pw", "key=abc", "user"):
        assert secret not in logged
    assert "127.0.0.1" in logged


def test_webhook_off_or_unset(caplog: pytest.LogCaptureFixture) -> None:
    assert notify(ALERTS, Settings(), {}) == 0
    settings = Settings(alerts=AlertSettings(webhook_url_env="HOOK_URL"))
    with caplog.at_level(logging.WARNING):
        assert notify(ALERTS, settings, {}) == 0
    assert "HOOK_URL" in caplog.text
    assert notify([], settings, {"HOOK_URL": "http://127.0.0.1:9/"}) == 0


def test_safe_url() -> None:
    assert safe_url("https://u:p@hooks.example.com:8443/services/T0/B0/XYZ?x=1") == "https://hooks.example.com:8443/…"


def test_a_skus_daily_cap_keeps_the_biggest_changes_and_holds_back_the_rest(conn: Connection) -> None:
    from snapprice.alerts.rules import to_send

    cfg = AlertSettings(**{**OFF, "drop_vs_previous_pct": 5, "max_per_sku_per_day": 2})
    play(conn, cfg, [(0, {"A": "100", "B": "100", "C": "100"})])
    run_id = add_run(conn, 1, {"A": "90", "B": "50", "C": "80"})
    new = evaluate_in(conn, cfg, run_id)
    assert sorted((a["item_id"], a["suppressed"]) for a in new) == [("A", True), ("B", False), ("C", False)]
    assert sorted(a["item_id"] for a in to_send(new)) == ["B", "C"]
    # Later the same day: the SKU has had its two already.
    later = create_run(conn, kind="manual", catalog=None, config_digest=None)
    load_snapshots(conn, later, BASE + timedelta(days=1, hours=2), [snap("B", "20")], skus=["SKU-1"])
    assert [(a["item_id"], a["suppressed"]) for a in evaluate_in(conn, cfg, later)] == [("B", True)]
    # Another SKU has its own cap.
    load_snapshots(conn, later, BASE + timedelta(days=1, hours=2), [snap("Z", "1")], skus=["SKU-9"])
    assert conn.execute(sa.text("SELECT count(*) FROM alert WHERE suppressed")).scalar_one() == 2


def test_a_cached_snapshot_is_never_an_alert(conn: Connection) -> None:
    cfg = AlertSettings(**{**OFF, "drop_vs_previous_pct": 5})
    play(conn, cfg, [(0, {"A": "100"})])
    run_id = create_run(conn, kind="manual", catalog=None, config_digest=None)
    load_snapshots(conn, run_id, BASE + timedelta(days=1), [snap("A", "50")], skus=["SKU-1"], cached=True)
    assert evaluate_in(conn, cfg, run_id) == []
