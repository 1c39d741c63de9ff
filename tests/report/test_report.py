"""The HTML report built from known data, checked as data and in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from snapprice.alerts.rules import evaluate_in
from snapprice.models import ListingSnapshot
from snapprice.report import write_report
from snapprice.report.data import collect
from snapprice.report.payload import decode
from snapprice.settings import AlertSettings
from snapprice.store.loader import load_snapshots
from snapprice.store.runs import create_run

TODAY = datetime.now(UTC).date()
SINCE = TODAY - timedelta(days=10)
# item -> (platform, SKU, title)
ITEMS = {
    "A": ("taobao", "SKU-1", "Stainless thermos 500 ml"), "C": ("jd", "SKU-1", "Thermos 500ml JD self-run"),
    "E": ("1688", "SKU-1", "Factory thermos, 50 pcs"), "H": ("1688", "SKU-1", "Thermos wholesale"),
    "B": ("taobao", "SKU-2", "Desk lamp LED"),
    "D": ("jd", "SKU-3", "USB-C cable 1 m"), "F": ("pinduoduo", "SKU-3", "USB-C cable 1m x2"),
    "G": ("jd", "SKU-3", "USB-C cable (old listing)"),
}
# days before today -> prices; G is first seen before the period; E is gone from the last run
RUNS = [
    (20, {"G": "15"}),
    (4, {"A": "100", "C": "96", "E": "70", "B": "45", "D": "19.9", "F": "12", "G": "15"}),
    (3, {"A": "100", "C": "95", "E": "68", "B": "45", "D": "19.9", "F": "12.5"}),
    (2, {"A": "90", "C": "95", "E": "68", "B": "46", "D": "18.5", "F": "12.5"}),
    (1, {"A": "85", "C": "94", "E": "66", "H": "75", "B": "48", "D": "18.5", "F": "11.9"}),
    (0, {"A": "80", "C": "94", "H": "74", "B": "52", "D": "18", "F": "11.9", "G": "14"}),
]
SERIES_PER_SKU = {"SKU-1": 3, "SKU-2": 1, "SKU-3": 2}


def snap(item: str, price: str) -> ListingSnapshot:
    platform, _, title = ITEMS[item]
    return ListingSnapshot(
        platform=platform, item_id=item, title=title, shop="shop", url=f"https://item.example/{item}",
        pic_url=None, price_low=Decimal(price), price_high=None, promo_price=None, original_price=None,
        currency="CNY", sales_lower_bound=None, sales_text=None, rank=1,
    )


def build(conn: Connection) -> list[int]:
    """The known history, plus search tasks, archived responses and rejects for run health."""
    catalog_id = conn.execute(sa.text(
        "INSERT INTO catalog_item (sku, image_ref) VALUES ('SKU-1', 'a.jpg') RETURNING catalog_item_id")).scalar_one()
    runs = []
    for days, prices in RUNS:
        at = datetime.combine(TODAY - timedelta(days=days), time(7, 30), tzinfo=UTC)
        run_id = create_run(conn, kind="scheduled", catalog="c.csv", config_digest="x")
        conn.execute(sa.text("UPDATE run SET started_at = :at, finished_at = :end, status = :st WHERE run_id = :r"),
                     {"at": at, "end": at + timedelta(minutes=3), "r": run_id,
                      "st": "partial" if days == 1 else "succeeded"})
        conn.execute(sa.text("INSERT INTO image_group VALUES (:r, 0, :c, :d, 1)"),
                     {"r": run_id, "c": catalog_id, "d": "0" * 64})
        for n, platform in enumerate(("taobao", "jd", "1688", "pinduoduo")):
            failed = days == 1 and platform == "pinduoduo"
            conn.execute(sa.text("INSERT INTO search_task (run_id, group_id, platform, page, status, attempts) "
                                 "VALUES (:r, 0, :p, 1, :s, 1)"),
                         {"r": run_id, "p": platform, "s": "failed" if failed else "done"})
            if not failed:
                conn.execute(sa.text(
                    "INSERT INTO raw_response (run_id, group_id, platform, marketplace, protocol, page, "
                    "requested_at, received_at, http_status, quota, request, body) VALUES "
                    "(:r, 0, :p, :p, 'gateway', 1, :at, :at, 200, :q, '{}', '{}')"),
                    {"r": run_id, "p": platform, "at": at, "q": f"today:{10 + n} max:500 all[]"})
        if days == 1:
            conn.execute(sa.text("INSERT INTO reject (run_id, stage, source, reason) "
                                 "VALUES (:r, 'normalize', 'jd:X1', 'no price'), (:r, 'load', 'jd:X2', 'no price')"),
                         {"r": run_id})
        for sku in sorted({ITEMS[i][1] for i in prices}):
            load_snapshots(conn, run_id, at, [snap(i, p) for i, p in prices.items() if ITEMS[i][1] == sku],
                           skus=[sku])
        # five days of history: a new low may count on two earlier days of data (default 7)
        evaluate_in(conn, AlertSettings(new_low_min_days=2), run_id)
        runs.append(run_id)
    return runs


@pytest.fixture
def known(clean_db: Engine) -> Engine:
    with clean_db.begin() as conn:
        build(conn)
    return clean_db


def test_report_data(known: Engine) -> None:
    with known.connect() as conn:
        d = collect(conn, SINCE, None)
    assert d.platforms == ["1688", "jd", "pinduoduo", "taobao"]
    per_sku = d.series.group_by("sku").agg(n=pl.col("platform").n_unique())
    assert dict(per_sku.iter_rows()) == SERIES_PER_SKU
    sku1 = d.best.filter(d.best["sku"] == "SKU-1").row(0, named=True)
    # newest run: taobao 80, jd 94, 1688 74 (H; E is gone) -> cheapest 1688, gap 94/74 - 1
    assert (sku1["cheapest"], sku1["best"], sku1["taobao"], sku1["jd"], sku1["1688"]) == ("1688", 74, 80, 94, 74)
    assert sku1["gap_pct"] == pytest.approx(27.027, abs=1e-3)
    assert d.drops["item_id"].to_list()[:2] == ["A", "D"]  # -20 %, -9.5 %
    assert d.drops["change_pct"][0] == pytest.approx(-20)
    assert d.rises["item_id"].to_list() == ["B"]  # 45 -> 52
    assert sorted(d.appeared["item_id"].to_list()) == ["A", "B", "C", "D", "E", "F", "H"]  # not G
    assert d.disappeared["item_id"].to_list() == ["E"]  # F is in the newest run on pinduoduo
    assert d.runs.height == 5  # the run of 20 days ago is before the period
    assert d.runs["failed"].sum() == 1 and d.runs["rejects"].sum() == 2
    assert d.quota.filter(d.quota["platform"] == "1688").row(0, named=True)["used"] == 12
    assert {a["rule"] for a in d.alerts} >= {"drop_vs_previous", "new_low"}
    with known.connect() as conn:
        one = collect(conn, SINCE, "SKU-2")
    assert one.series["sku"].unique().to_list() == ["SKU-2"] and one.best.height == 1


def test_report_data_side_by_side_is_the_same(known: Engine) -> None:
    """Sections read side by side on their own connections see the first connection's
    snapshot: the same frames as one after the other, even with a write committed between."""
    with known.connect() as conn:
        serial = collect(conn, SINCE, None)
    with known.connect() as conn:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.exec_driver_sql("SELECT 1")  # the snapshot is taken here
        with known.begin() as other:  # committed after the snapshot: seen by no section
            other.execute(sa.text("UPDATE run SET status = 'failed'"))
            other.execute(sa.text("INSERT INTO run (kind, status) VALUES ('manual', 'failed')"))
        try:
            side = collect(conn, SINCE, None, engine=known)
        finally:
            conn.rollback()
    for name in ("series", "best", "drops", "rises", "appeared", "disappeared", "runs", "quota", "rejects"):
        a, b = getattr(serial, name), getattr(side, name)
        assert a.sort(a.columns).equals(b.sort(b.columns)), name
    assert serial.counts == side.counts and serial.platforms == side.platforms
    assert len(serial.alerts) == len(side.alerts)
    assert set(side.timings) == {"daily_series", "price_moves", "best+window", "appeared+gone", "runs+quota",
                                 "alerts", "groups", "listing_count"}


def test_write_report_offline_file(known: Engine, tmp_path: Path) -> None:
    out = write_report(known, tmp_path / "sub" / "report.html", SINCE, None)
    html = out.read_text(encoding="utf-8")
    # nothing is loaded from the network (links to listings are only navigation)
    assert re.search(r"src=[\"']?https?:|<link|@import|url\((?!#)|fetch\(|XMLHttpRequest", html) is None
    assert out.stat().st_size < 100_000
    data = payload(html)
    lines = chart_lines(data)
    assert {sku: len(v) for sku, v in lines.items()} == SERIES_PER_SKU
    # SKU-1 on taobao is listing A alone: its prices on its days, exactly (cents, day offsets)
    first = (TODAY - timedelta(days=4) - SINCE).days
    assert lines["SKU-1"]["taobao"] == [(first + k, c) for k, c in enumerate([10000, 10000, 9000, 8500, 8000])]
    # SKU-1's 1688 line is the cheaper of E and H each day
    assert [c for _, c in lines["SKU-1"]["1688"]] == [7000, 6800, 6800, 6600, 7400]
    i = data["skus"].index("SKU-1")
    best = data["best"]
    assert data["platforms"][best["cheapest"][i]] == "1688" and best["gap"][i] == pytest.approx(27.0)


def payload(html: str) -> dict[str, Any]:
    """The data the page's script draws, unpacked as the browser does."""
    blob = re.search(r"<script type='application/octet-stream' id='report-data'>([^<]*)</script>", html)
    assert blob, "the page embeds no data"
    return decode(blob.group(1))


def chart_lines(data: dict[str, Any]) -> dict[str, dict[str, list[tuple[int, int]]]]:
    """Chart points per SKU and platform, (day offset from since, cents): the differences summed up."""
    s, out, k = data["series"], {}, 0
    for sku, plat, d0, n in zip(s["sku"], s["plat"], s["d0"], s["n"], strict=True):
        cents = 0
        points = []
        for day, dv in enumerate(s["dv"][k:k + n], d0):
            if dv is not None:
                cents += dv
                points.append((day, cents))
        k += n
        out.setdefault(data["skus"][sku], {})[data["platforms"][plat]] = points
    assert k == len(s["dv"])
    return out


def test_empty_database_still_renders(clean_db: Engine, tmp_path: Path) -> None:
    html = write_report(clean_db, tmp_path / "r.html", None, None).read_text(encoding="utf-8")
    assert "No price history in this period." in html and "No runs in this period." in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_or_skip(what: str) -> str:
    """Chromium's path, or a loud skip that names what went unchecked."""
    browser = _chromium()
    if browser is None:
        pytest.skip(f"LOUD SKIP: chromium is not installed, {what} NOT checked in a browser; "
                    "install it with .ci/setup-system (apt-get install chromium)")
    return browser


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
                "--virtual-time-budget=3000"]


def chromium(browser: str, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="snapprice-chromium-") as profile:
        return subprocess.run(
            [browser, *CHROME_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
            capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": profile},
        )


@pytest.mark.integration
def test_report_in_headless_chromium(known: Engine, tmp_path: Path) -> None:
    browser = browser_or_skip("the report was")
    page = write_report(known, tmp_path / "report.html", SINCE, None)
    dom = chromium(browser, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    check = re.search(r'<pre id="render-check" hidden="">(.*?)</pre>', dom.stdout)
    assert check, "the page's script did not report what it drew"
    assert json.loads(check.group(1)) == SERIES_PER_SKU
    assert re.search(r'<div id="best-table"><table>.*?</table>', dom.stdout), "the best-price table was not drawn"
    assert 'data-js-errors' not in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []

    shots = Path(tempfile.mkdtemp(prefix="snapprice-report-shot-"))
    shot = chromium(browser, page, f"--screenshot={shots / 'report.png'}", "--window-size=1280,2400")
    assert shot.returncode == 0, shot.stderr[-2000:]
    png = (shots / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    print(f"report screenshot kept in {shots / 'report.png'}")


@pytest.mark.integration
def test_skus_without_enough_history_say_new_in_the_browser(known: Engine, tmp_path: Path) -> None:
    browser = browser_or_skip("the 'new' badges were")
    page = write_report(known, tmp_path / "report.html", SINCE, None, min_history_days=90)
    best = payload(page.read_text(encoding="utf-8"))["best"]
    assert max(best["hist"]) < 90 and set(best["vs30"]) == {None} and set(best["is_low"]) == {0}
    dom = chromium(browser, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.search(r'class="badge b-new">new: \d+ days? of history<', dom.stdout)
    assert "not enough history" in dom.stdout and 'class="badge b-low"' not in dom.stdout
    shown = write_report(known, tmp_path / "shown.html", SINCE, None, min_history_days=1)
    assert 1 in payload(shown.read_text(encoding="utf-8"))["best"]["is_low"]


def test_since_default_is_thirty_days(known: Engine, tmp_path: Path) -> None:
    html = write_report(known, tmp_path / "r.html").read_text(encoding="utf-8")
    assert (TODAY - timedelta(days=30)).isoformat() in html
    assert date.fromisoformat((TODAY - timedelta(days=30)).isoformat()) < SINCE


def test_cli_report(known: Engine, database_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from snapprice.cli.report import app

    out = tmp_path / "cli.html"
    args = ["--out", str(out), "--since", SINCE.isoformat(), "--sku", "SKU-3"]
    result = CliRunner().invoke(app, args, env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and out.exists()
    html = out.read_text(encoding="utf-8")
    assert "SKU SKU-3" in html and payload(html)["skus"] == ["SKU-3"]
    bad = CliRunner().invoke(app, ["--since", "31/01/2026"], env={"DATABASE_URL": database_url})
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_cli_report_of_an_unknown_sku(known: Engine, database_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from snapprice.cli.report import app

    out = tmp_path / "nope.html"
    result = CliRunner().invoke(app, ["--out", str(out), "--sku", "NOPE"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "SKU NOPE is not in the catalog and was never matched; no report written"]
    assert not out.exists()


HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1">'
HOVER = """<script>(function wait(){if(document.body.dataset.ready!=='1')return setTimeout(wait,20);var tips=[];
document.querySelectorAll('svg.chart:not(.empty)').forEach(function(svg){
  var m=svg.getScreenCTM(),x=(+svg.dataset.x0)+(+svg.dataset.pw);
  svg.dispatchEvent(new MouseEvent('mousemove',{clientX:m.a*x+m.e,clientY:m.d*100+m.f}));
  tips.push(document.getElementById('tip').textContent);});
document.body.setAttribute('data-tips',JSON.stringify(tips));})();</script></body>"""


@pytest.mark.integration
def test_a_platform_named_like_markup_stays_text_in_the_tooltip(known: Engine, tmp_path: Path) -> None:
    """A platform name comes from config or a marketplace: hovering its chart point shows it
    as text and runs nothing (the tooltip once took it as HTML)."""
    browser = browser_or_skip("the tooltip was")
    with known.begin() as conn:
        last = conn.execute(sa.text("SELECT max(run_id) FROM run")).scalar_one()
        at = datetime.combine(TODAY, time(7, 30), tzinfo=UTC)
        bad = ListingSnapshot(platform=HOSTILE, item_id="X", title="lamp", shop=None, url=None, pic_url=None,
                              price_low=Decimal("50"), price_high=None, promo_price=None, original_price=None,
                              currency="CNY", sales_lower_bound=None, sales_text=None, rank=1)
        load_snapshots(conn, last, at, [bad], skus=["SKU-2"])
    page = write_report(known, tmp_path / "report.html", SINCE, None)
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", HOVER), encoding="utf-8")
    dom = chromium(browser, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    tips = re.search(r"data-tips=\"(.*?)\"", dom.stdout)
    assert tips, "the hover script did not run"
    shown = json.loads(tips.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                       .replace("&amp;", "&"))
    assert any(HOSTILE in tip for tip in shown), shown
    assert "data-pwned" not in dom.stdout


PAGING = """<script>(function wait(){if(document.body.dataset.ready!=='1')return setTimeout(wait,20);
var out={};function pager(id){return document.querySelector('#'+id+' .pager span').textContent;}
out.best=pager('best-table');out.alerts=pager('alerts-table');out.charts=pager('charts');
out.rows=document.querySelectorAll('#best-table tbody tr').length;
out.drawn=document.querySelectorAll('svg.chart').length;
document.querySelector('#best-table .pager button:last-child').click();
out.page2=pager('best-table');out.first2=document.querySelector('#best-table tbody td').textContent;
var s=document.getElementById('search');s.value='sku-001';s.dispatchEvent(new Event('input'));
setTimeout(function(){out.found=pager('best-table');out.foundAlerts=pager('alerts-table');
  out.charted=Array.prototype.map.call(document.querySelectorAll('svg.chart'),function(c){return c.dataset.sku;});
  document.body.setAttribute('data-paging',JSON.stringify(out));},400);})();</script></body>"""


@pytest.mark.integration
def test_long_tables_page_and_search_in_headless_chromium(clean_db: Engine, tmp_path: Path) -> None:
    """73 SKUs and 40 alerts: a page of each is drawn, next shows the second, the search box
    narrows the tables and the charts to the SKUs it matches."""
    browser = browser_or_skip("paging was")
    with clean_db.begin() as conn:
        for days in (1, 0):
            at = datetime.combine(TODAY - timedelta(days=days), time(7, 30), tzinfo=UTC)
            run_id = create_run(conn, kind="scheduled", catalog="c.csv", config_digest="x")
            for n in range(1, 74):
                load_snapshots(conn, run_id, at, [ListingSnapshot(
                    platform="taobao", item_id=f"I{n}", title=f"item {n}", shop=None, url=None, pic_url=None,
                    price_low=Decimal(10 + n + days), price_high=None, promo_price=None, original_price=None,
                    currency="CNY", sales_lower_bound=None, sales_text=None, rank=1)], skus=[f"SKU-{n:04d}"])
        conn.execute(sa.text(
            "INSERT INTO alert (rule, rule_key, listing_id, crossing_at, sku, platform, price, message) "
            "SELECT 'target_price', 'target_price:' || m.sku, m.listing_id, now(), m.sku, 'taobao', 1, 'cheap' "
            "FROM match AS m ORDER BY m.sku LIMIT 40"))
    page = write_report(clean_db, tmp_path / "report.html", SINCE, None)
    html = page.read_text(encoding="utf-8")
    assert "Price alerts (40)" in html
    page.write_text(html.replace("</body>", PAGING), encoding="utf-8")
    dom = chromium(browser, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    seen = re.search(r"data-paging=\"(.*?)\"", dom.stdout)
    assert seen, "the paging script did not run"
    out = json.loads(seen.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert out["best"].startswith("1–50 of 73") and out["alerts"].startswith("1–25 of 40")
    assert out["charts"].startswith("1–12 of 73") and (out["rows"], out["drawn"]) == (50, 12)
    assert out["page2"].startswith("51–73 of 73") and out["first2"] == "SKU-0051"
    ten = [f"SKU-001{n}" for n in range(10)]
    assert out["found"].startswith("1–10 of 10") and out["foundAlerts"].startswith("1–10 of 10")
    assert out["charted"] == ten


MEASURE = """<script>(function wait(){if(document.body.dataset.ready!=='1')return setTimeout(wait,20);
var out={};document.querySelectorAll('.measures button').forEach(function(b){b.click();
  var td=document.querySelector('#best-table tbody tr td span.best').parentNode,tr=td.parentNode;
  var at=Array.prototype.indexOf.call(tr.children,td),th=document.querySelectorAll('#best-table thead th')[at];
  out[b.dataset.measure]=[th.textContent.replace(/ [\u25b4\u25be]$/,''),td.firstChild.textContent,
    tr.children[tr.children.length-3].textContent];});
document.body.setAttribute('data-measures',JSON.stringify(out));})();</script></body>"""


@pytest.mark.integration
def test_best_prices_compare_on_landed_price_and_per_unit_in_chromium(clean_db: Engine, tmp_path: Path) -> None:
    browser = browser_or_skip("compare-on was")

    def offer(platform: str, price: str, fee: str, pack: int | None) -> ListingSnapshot:
        return ListingSnapshot(
            platform=platform, item_id=f"{platform}1", title="保温杯", shop=None, url=None, pic_url=None,
            price_low=Decimal(price), price_high=None, promo_price=None, original_price=None, currency="CNY",
            sales_lower_bound=None, sales_text=None, rank=1, shipping_fee=Decimal(fee),
            pack_unit="piece" if pack else None, pack_count=Decimal(pack) if pack else None)

    with clean_db.begin() as conn:
        run_id = create_run(conn, kind="scheduled", catalog="c.csv", config_digest="x")
        at = datetime.combine(TODAY, time(7, 30), tzinfo=UTC)
        load_snapshots(conn, run_id, at, [offer("taobao", "100", "0", 2), offer("jd", "90", "20", None),
                                          offer("1688", "95", "0", 3)], skus=["SKU-1"])
    page = write_report(clean_db, tmp_path / "report.html", SINCE, None)
    best = payload(page.read_text(encoding="utf-8"))["best"]
    plats = payload(page.read_text(encoding="utf-8"))["platforms"]
    assert dict(zip(plats, (x[0] for x in best["pl"]), strict=True)) == {"1688": 9500, "jd": 11000, "taobao": 10000}
    assert dict(zip(plats, (x[0] for x in best["pu"]), strict=True)) == {"1688": 3167, "jd": None, "taobao": 5000}
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE), encoding="utf-8")
    dom = chromium(browser, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    seen = re.search(r"data-measures=\"(.*?)\"", dom.stdout)
    assert seen, "the compare-on script did not run"
    out = json.loads(seen.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert out == {"p": ["jd", "¥90.00", "11.1%"], "pl": ["1688", "¥95.00", "15.8%"],
                   "pu": ["1688", "¥31.67/piece", "57.9%"]}, out


REVIEW = """<script>(function wait(){if(document.body.dataset.ready!=='1')return setTimeout(wait,20);
function click(plat,d){var th=Array.prototype.map.call(document.querySelectorAll('#best-table thead th'),
  function(t){return t.textContent;}).indexOf(plat);
  document.querySelector('#best-table tbody tr').children[th].querySelector('[data-decision='+d+']').click();}
click('jd','reject');click('taobao','confirm');click('1688','reject');click('1688','reject');
document.body.setAttribute('data-review',document.querySelector('.review').dataset.csv);})();</script></body>"""


@pytest.mark.integration
def test_review_decisions_export_a_file_that_match_import_reads(clean_db: Engine, database_url: str,
                                                                 tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from snapprice.cli.match import app as match_app

    browser = browser_or_skip("the review export was")

    def offer(platform: str, price: str) -> ListingSnapshot:
        return ListingSnapshot(
            platform=platform, item_id=f"{platform},\"1", title="保温杯", shop=None, url=None, pic_url=None,
            price_low=Decimal(price), price_high=None, promo_price=None, original_price=None, currency="CNY",
            sales_lower_bound=None, sales_text=None, rank=1)

    with clean_db.begin() as conn:
        run_id = create_run(conn, kind="scheduled", catalog="c.csv", config_digest="x")
        at = datetime.combine(TODAY, time(7, 30), tzinfo=UTC)
        load_snapshots(conn, run_id, at, [offer("taobao", "100"), offer("jd", "9"), offer("1688", "95")],
                       skus=["SKU,1"])
    page = write_report(clean_db, tmp_path / "report.html", SINCE, None)
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", REVIEW), encoding="utf-8")
    dom = chromium(browser, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    seen = re.search(r"data-review=\"(.*?)\"", dom.stdout, re.S)
    assert seen, "the review script did not run"
    exported = tmp_path / "review.csv"
    exported.write_text(seen.group(1).replace("&quot;", '"').replace("&amp;", "&"), encoding="utf-8")
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "sku,platform,item_id,decision,note" and len(lines) == 3  # 1688 clicked twice: undone
    result = CliRunner().invoke(match_app, ["import", str(exported)], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert "2 decision(s) applied (1 match(es) retired" in result.output
    with clean_db.connect() as conn:
        kept = conn.execute(sa.text("SELECT platform FROM sku_best_price WHERE sku = 'SKU,1' ORDER BY 1")).scalars()
        assert list(kept) == ["1688", "taobao"]  # the rejected jd listing is no longer the SKU's price
