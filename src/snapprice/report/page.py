"""The report as one self-contained HTML page: inline CSS and script, the data embedded packed
(snapprice.report.payload); the script draws a page of each long table and the charts of the
SKUs in view. No network."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from html import escape
from importlib.resources import files
from typing import Any

import polars as pl

from snapprice.report.data import ReportData
from snapprice.report.groups import render_groups
from snapprice.report.payload import build, encode

MAX_ROWS = 15


def _asset(name: str) -> str:
    return files("snapprice.report").joinpath(name).read_text(encoding="utf-8")


def money(v: Any, currency: str | None = "CNY") -> str:
    if v is None:
        return "—"
    return f"¥{float(v):,.2f}" if (currency or "CNY").strip() == "CNY" else f"{float(v):,.2f} {currency}"


def pct(v: Any, *, signed: bool = True) -> str:
    if v is None:
        return "—"
    return f"{float(v):+.1f}%" if signed else f"{float(v):.1f}%"


def _when(v: datetime | date | None) -> str:
    if v is None:
        return "—"
    return v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v.isoformat()


def _title(title: str | None, url: str | None, n: int = 54) -> str:
    t = (title or "").strip() or "(no title)"
    short = t if len(t) <= n else t[: n - 1] + "…"
    if url and url.startswith(("http://", "https://")):
        return f'<a href="{escape(url)}" title="{escape(t)}" target="_blank" rel="noopener">{escape(short)}</a>'
    return f'<span title="{escape(t)}">{escape(short)}</span>'


def _table(head: Sequence[tuple[str, bool]], rows: Sequence[Sequence[tuple[str, Any]]], empty: str,
           *, scroll: bool = False) -> str:
    """head: (label, numeric); rows of (html, sort value); long tables scroll under a sticky header."""
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    th = "".join(f'<th class="{"n" if num else ""}">{escape(label)}</th>' for label, num in head)
    body = []
    for row in rows:
        cells = []
        for (cell, sort_value), (_, num) in zip(row, head, strict=True):
            dv = f' data-v="{escape(str(sort_value))}"' if sort_value is not None else ""
            cells.append(f'<td class="{"n" if num else ""}"{dv}>{cell}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    table = f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table}</div>' if scroll and len(rows) > 12 else table


def _kpis(d: ReportData) -> str:
    gaps = d.best["gap_pct"].drop_nulls() if "gap_pct" in d.best.columns else pl.Series([], dtype=pl.Float64)
    items = [
        (f"{d.counts['skus']:,}", "SKUs with prices"),
        (f"{d.counts['listings']:,}", "listings tracked"),
        (str(len(d.platforms)), "platforms"),
        (f"{d.counts['runs']}" + (f" ({d.counts['runs_failed']} failed)" if d.counts["runs_failed"] else ""), "runs"),
        (f"{d.counts['alerts']:,}", "price alerts"),
        (pct(gaps.median(), signed=False) if len(gaps) else "—", "median platform gap"),
    ]
    return '<div class="kpis">' + "".join(f'<div class="kpi"><b>{v}</b><span>{escape(k)}</span></div>'
                                          for v, k in items) + "</div>"


def _alerts(d: ReportData) -> str:
    total, kept = d.counts["alerts"], len(d.alerts)
    note = (f" The newest {kept:,} are here; all {total:,} are in the <code>alert</code> table."
            if kept < total else "")
    body = ('<div id="alerts-table"></div>' if kept
            else '<p class="empty">No alerts in this period.</p>')
    return (f"<section id='alerts'><h2>Price alerts ({total:,})</h2><p class='sub'>One per rule, listing and "
            f"crossing since {d.since.isoformat()}; configured in <code>[alerts]</code>; 25 a page, newest "
            f"first, click a column to sort.{note}</p>{body}</section>")


def _best(d: ReportData) -> str:
    body = ('<div id="best-table"></div>' if "cheapest" in d.best.columns and d.best.height
            else '<p class="empty">No matched prices in this period.</p>')
    return ("<section id='best'><h2>Best price by platform</h2><p class='sub'>Cheapest matched offer per "
            "platform in the newest run that found the SKU; gap = how much dearer the dearest platform's best "
            "offer is than the cheapest. 50 SKUs a page; click a column to sort, a SKU to see its chart.</p>"
            + body + "</section>")


def _charts(d: ReportData) -> str:
    body = ('<div id="charts"></div>' if d.series.height
            else '<p class="empty">No price history in this period.</p>')
    return ("<section id='history'><h2>Price history</h2><p class='sub'>Daily minimum effective price "
            "(promo price when there is one) of the SKU's matched listings, per platform, UTC days; the "
            "charts of the SKUs on the page are drawn (12 a page, the search box picks others). "
            "Hover a chart for the prices of that day.</p>" + body + "</section>")


def _search(d: ReportData) -> str:
    n = d.series["sku"].n_unique()
    return ('<div class="toolbar"><input id="search" type="search" placeholder="Search SKU or title…" '
            f'aria-label="Search SKU or title"><span>filters alerts, best prices and charts · {n:,} SKU(s)'
            "</span></div>")


def _pct_cell(v: Any) -> str:
    if v is None:
        return "—"
    cls = "down" if v < 0 else "up" if v > 0 else ""
    return f'<span class="{cls}">{pct(v)}</span>'


def _moves_table(df: pl.DataFrame, empty: str) -> str:
    rows = [[(escape(r["sku"] or ""), r["sku"]), (escape(r["platform"]), r["platform"]),
             (_title(r["title"], r["url"], 36), None), (money(r["first_price"], r["currency"]), r["first_price"]),
             (money(r["last_price"], r["currency"]), r["last_price"]),
             (_pct_cell(r["change_pct"]), r["change_pct"])] for r in df.iter_rows(named=True)]
    return _table([("SKU", False), ("platform", False), ("listing", False), ("from", True), ("to", True),
                   ("change", True)], rows, empty)


def _churn_table(df: pl.DataFrame, label: str, empty: str) -> str:
    rows = [[(escape(r["sku"] or ""), r["sku"]), (escape(r["platform"]), r["platform"]),
             (_title(r["title"], r["url"], 36), None), (money(r["price"]), r["price"]),
             (_when(r["at"]), str(r["at"]))] for r in df.head(MAX_ROWS).iter_rows(named=True)]
    more = f"<p class='sub'>… and {df.height - MAX_ROWS} more.</p>" if df.height > MAX_ROWS else ""
    return _table([("SKU", False), ("platform", False), ("listing", False), ("price", True), (label, False)],
                  rows, empty) + more


def _runs(d: ReportData) -> str:
    def status(s: str) -> str:
        cls = {"succeeded": "ok", "failed": "fail", "partial": "warn"}.get(s, "")
        return f'<span class="{cls}">{escape(s)}</span>'

    def took(r: dict[str, Any]) -> str:
        if not r["finished_at"]:
            return "—"
        secs = (r["finished_at"] - r["started_at"]).total_seconds()
        return f"{secs / 60:.1f} min" if secs >= 60 else f"{secs:.0f} s"

    runs = [[(f"#{r['run_id']}", r["run_id"]), (escape(r["kind"]), r["kind"]), (status(r["status"]), r["status"]),
             (_when(r["started_at"]), str(r["started_at"])), (took(r), None), (str(r["searches"]), r["searches"]),
             (str(r["failed"]), r["failed"]), (str(r["snapshots"]), r["snapshots"]), (str(r["rejects"]), r["rejects"])]
            for r in d.runs.head(20).iter_rows(named=True)]
    quota = [[(escape(r["platform"]), r["platform"]), (str(r["requests"]), r["requests"]),
              (str(r["cached"]), r["cached"]), (str(r["errors"]), r["errors"]),
              (f"{r['used']:,} / {r['limit']:,}" if r["used"] is not None and r["limit"] else
               escape(r["quota"] or "—"), r["used"])]
             for r in d.quota.iter_rows(named=True)]
    rejects = [[(escape(r["stage"]), r["stage"]), (escape(r["reason"]), r["reason"]), (str(r["n"]), r["n"])]
               for r in d.rejects.iter_rows(named=True)]
    totals = d.runs.select(pl.col("searches", "failed", "snapshots", "rejects").sum()).row(0, named=True) \
        if d.runs.height else {"searches": 0, "failed": 0, "snapshots": 0, "rejects": 0}
    return ("<section id='health'><h2>Run health</h2>"
            f"<p class='sub'>{d.runs.height} run(s) since {d.since.isoformat()}: {totals['searches']} searches, "
            f"{totals['failed']} failed, {totals['snapshots']} price snapshots, {totals['rejects']} rejects "
            "(newest 20 runs below).</p>"
            + _table([("run", True), ("kind", False), ("status", False), ("started (UTC)", False),
                      ("took", False), ("searches", True), ("failed", True), ("snapshots", True),
                      ("rejects", True)], runs, "No runs in this period.")
            + "<div class='grid2' style='margin-top:16px'><div><h2>Calls and quota per platform</h2>"
              "<p class='sub'>Requests made (not served from cache) and the last quota the platform "
              "reported (used today / daily limit).</p>"
            + _table([("platform", False), ("requests", True), ("cached", True), ("errors", True),
                      ("quota used", True)], quota, "No platform calls in this period.")
            + "</div><div><h2>Top reject reasons</h2><p class='sub'>Everything refused, by stage and reason.</p>"
            + _table([("stage", False), ("reason", False), ("count", True)], rejects, "Nothing was rejected.")
            + "</div></div></section>")


def render(d: ReportData) -> str:
    """The whole page."""
    scope = f"SKU {escape(d.sku)} · " if d.sku else ""
    moves = ("<section id='moves'><div class='grid2'><div><h2>Biggest drops</h2><p class='sub'>First vs last "
             "price of the period, per listing.</p>" + _moves_table(d.drops, "No price fell in this period.")
             + "</div><div><h2>Biggest rises</h2><p class='sub'>First vs last price of the period, per "
             "listing.</p>" + _moves_table(d.rises, "No price rose in this period.") + "</div></div></section>")
    churn = ("<section id='churn'><div class='grid2'><div>"
             f"<h2>New listings ({d.appeared.height:,})</h2><p class='sub'>First seen in this period.</p>"
             + _churn_table(d.appeared, "first seen (UTC)", "No new listings.")
             + f"</div><div><h2>Gone listings ({d.disappeared.height:,})</h2><p class='sub'>Missing from the "
             "newest run that found their SKU on their platform.</p>"
             + _churn_table(d.disappeared, "last seen (UTC)", "No listing disappeared.")
             + "</div></div></section>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>snapprice report {d.since.isoformat()} – {d.until.date().isoformat()}</title>"
        f"<style>{_asset('page.css')}</style></head><body>"
        f"<header><h1>Price report</h1><p>{scope}{d.since.isoformat()} to {d.until.date().isoformat()} · "
        f"generated {d.until.strftime('%Y-%m-%d %H:%M')} UTC</p></header><main>"
        + _kpis(d)
        + '<div id="js-errors" role="alert"></div><div id="tip"></div>'
        + _search(d) + _alerts(d) + _best(d) + _charts(d) + moves + churn + _runs(d) + render_groups(d.groups)
        + "</main><footer>snapprice · effective price = promo price when present, else the (low) price · "
          "window statistics in SQL: <code>sku_window_stats</code>, <code>listing_window_stats</code>"
          "<pre id='render-check' hidden></pre></footer>"
        # base64 holds no '<', so the data cannot end the script element early
        f"<script type='application/octet-stream' id='report-data'>{encode(build(d))}</script>"
        f"<script>{_asset('page.js')}</script></body></html>"
    )
