"""The report as one self-contained HTML page (inline CSS, SVG and a little JS; no network)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from html import escape
from typing import Any

import polars as pl

from snapprice.report.data import ReportData
from snapprice.report.svg import Series, line_chart, platform_colour

MAX_CHARTS = 60
MAX_ROWS = 15

CSS = """
:root{--ink:#1f2933;--muted:#6b7785;--line:#e4e8ee;--bg:#f5f7fa;--card:#fff;--good:#1b873f;--bad:#c92a2a;
--accent:#1c4e80}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Noto Sans",
"PingFang SC","Microsoft YaHei",sans-serif;color:var(--ink);background:var(--bg)}
header{background:linear-gradient(120deg,#163a5f,#1c4e80 60%,#2a6f97);color:#fff;padding:26px 36px 22px}
header h1{margin:0 0 4px;font-size:24px;font-weight:650;letter-spacing:.2px}header p{margin:0;opacity:.85}
main{max-width:1280px;margin:0 auto;padding:22px 28px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 20px;margin:0 0 18px;
box-shadow:0 1px 2px rgba(16,24,40,.04)}
h2{font-size:17px;margin:0 0 4px}.sub{color:var(--muted);margin:0 0 12px;font-size:13px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin:-38px 0 18px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px;
box-shadow:0 2px 6px rgba(16,24,40,.08)}.kpi b{display:block;font-size:24px;font-weight:650}
.kpi span{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.4px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:6px 8px;border-bottom:1px solid var(--line);
text-align:left;vertical-align:top}th{color:var(--muted);font-weight:600;font-size:12px;cursor:pointer;
white-space:nowrap;background:#fafbfc}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr:hover td{background:#f8fafc}.best{color:var(--good);font-weight:650}.down{color:var(--good)}.up{color:var(--bad)}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:11px;font-weight:600;margin-left:4px}
.b-low{background:#e6f4ea;color:var(--good)}.b-warn{background:#fdecec;color:var(--bad)}
.b-rule{background:#eef3fb;color:var(--accent)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px}.grid2>div{min-width:0}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:14px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px 4px}.card h3{margin:0;font-size:14px}
.card .meta{color:var(--muted);font-size:12px;margin:2px 0 4px}.legend{font-size:12px;color:var(--muted)}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}
svg.chart{width:100%;height:auto;display:block}svg .grid{stroke:#edf0f4}svg text{font-size:11px;fill:#7b8794}
svg .ylab{text-anchor:end}svg .xlab{text-anchor:middle}
svg .series path{fill:none;stroke:var(--c);stroke-width:2;stroke-linejoin:round}
svg .guide{stroke:#9aa5b1;stroke-dasharray:3 3}
#tip{position:fixed;pointer-events:none;background:#1f2933;color:#fff;font-size:12px;padding:6px 9px;
border-radius:6px;box-shadow:0 4px 12px rgba(0,0,0,.2);display:none;z-index:9;white-space:nowrap}
#tip i{display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:5px}
.empty{color:var(--muted);font-style:italic;margin:6px 0}a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}#filter{padding:6px 10px;border:1px solid var(--line);border-radius:6px;
width:240px;margin-bottom:10px}.ok{color:var(--good)}.fail{color:var(--bad);font-weight:600}.warn{color:#b7791f;font-weight:600}
footer{color:var(--muted);font-size:12px;text-align:center;padding:0 0 30px}
#js-errors{display:none;color:var(--bad)}#js-errors.on{display:block}
.scroll{max-height:470px;overflow:auto;border:1px solid var(--line);border-radius:6px}
.scroll thead th{position:sticky;top:0;z-index:1}
@media(max-width:900px){.grid2{grid-template-columns:1fr}}
"""

# Errors go into #js-errors (visible in --dump-dom); #render-check reports what the browser drew.
JS = """
(function(){
var errs=document.getElementById('js-errors');
function fail(m){errs.className='on';errs.textContent+=m+'\\n';document.body.dataset.jsErrors='1';}
window.addEventListener('error',function(e){fail('error: '+e.message);});
function check(){
  var out={};document.querySelectorAll('svg.chart').forEach(function(svg){
    var n=0;svg.querySelectorAll('g.series').forEach(function(g){
      var path=g.querySelector('path');if(!path)return;var b=path.getBBox();
      var dots=getComputedStyle(path).markerMid!=='none';
      if(b.width>0||b.height>0||(dots&&isFinite(b.x)&&b.x>0))n++;});
    out[svg.id]=n;});
  var rc=document.getElementById('render-check');rc.textContent=JSON.stringify(out);
  document.body.dataset.rendered=Object.keys(out).length;
}
function sortable(t){t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
  var body=t.tBodies[0];if(!body)return;var rows=Array.prototype.slice.call(body.rows);
  var dir=th.dataset.dir==='asc'?-1:1;th.dataset.dir=dir===1?'asc':'desc';
  rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,
    y=b.cells[i].dataset.v||b.cells[i].textContent,fx=parseFloat(x),fy=parseFloat(y);
    if(!isNaN(fx)&&!isNaN(fy))return (fx-fy)*dir;return x.localeCompare(y)*dir;});
  rows.forEach(function(r){body.appendChild(r);});});});}
function hover(svg){
  var tip=document.getElementById('tip'),ns='http://www.w3.org/2000/svg',guide=null;
  var d0=new Date(svg.dataset.d0+'T00:00:00Z'),x0=+svg.dataset.x0,pw=+svg.dataset.pw,span=+svg.dataset.span;
  svg.addEventListener('mousemove',function(ev){
    var pt=svg.createSVGPoint();pt.x=ev.clientX;pt.y=ev.clientY;var p=pt.matrixTransform(svg.getScreenCTM().inverse());
    var day=pw>0?Math.round((p.x-x0)/pw*span):0;if(day<0||day>span){tip.style.display='none';return;}
    var rows=[];svg.querySelectorAll('g.series').forEach(function(g){
      var ds=g.dataset.days.split(','),vs=g.dataset.v.split(','),k=ds.indexOf(String(day));
      if(k>=0)rows.push([g.style.getPropertyValue('--c'),g.dataset.name+' '+
        (+vs[k]).toLocaleString(undefined,{minimumFractionDigits:2,maximumFractionDigits:2})]);});
    if(!rows.length){tip.style.display='none';return;}
    var when=new Date(d0.getTime()+day*864e5).toISOString().slice(0,10);
    // Built from nodes and textContent: names come from config and marketplaces, never markup.
    tip.textContent='';tip.appendChild(document.createElement('b')).textContent=when;
    rows.forEach(function(r){tip.appendChild(document.createElement('br'));
      tip.appendChild(document.createElement('i')).style.background=r[0];
      tip.appendChild(document.createTextNode(r[1]));});
    tip.style.display='block';
    tip.style.left=(ev.clientX+14)+'px';tip.style.top=(ev.clientY+12)+'px';
    if(!guide){guide=document.createElementNS(ns,'line');guide.setAttribute('class','guide');svg.appendChild(guide);}
    var gx=x0+(span?pw*day/span:0);guide.setAttribute('x1',gx);guide.setAttribute('x2',gx);
    guide.setAttribute('y1',12);guide.setAttribute('y2',202);guide.style.display='';});
  svg.addEventListener('mouseleave',function(){tip.style.display='none';if(guide)guide.style.display='none';});
}
try{
  document.querySelectorAll('svg.chart:not(.empty)').forEach(hover);
  document.querySelectorAll('table').forEach(sortable);
  var f=document.getElementById('filter');
  if(f)f.addEventListener('input',function(){var q=f.value.toLowerCase();
    document.querySelectorAll('.card').forEach(function(c){
      c.style.display=c.dataset.key.toLowerCase().indexOf(q)>=0?'':'none';});});
  check();
}catch(e){fail('init: '+e.message);}
})();
"""


def natural(key: str) -> list[Any]:
    """Sort key that puts SKU-2 before SKU-10."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", key) if t]


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
        (str(d.counts["skus"]), "SKUs with prices"),
        (str(d.counts["listings"]), "listings tracked"),
        (str(len(d.platforms)), "platforms"),
        (f"{d.counts['runs']}" + (f" ({d.counts['runs_failed']} failed)" if d.counts["runs_failed"] else ""), "runs"),
        (str(d.counts["alerts"]), "price alerts"),
        (pct(gaps.median(), signed=False) if len(gaps) else "—", "median platform gap"),
    ]
    return '<div class="kpis">' + "".join(f'<div class="kpi"><b>{v}</b><span>{escape(k)}</span></div>'
                                          for v, k in items) + "</div>"


def _alerts(d: ReportData) -> str:
    rows = [[(f'<span class="badge b-rule">{escape(a["rule"].replace("_", " "))}</span>', a["rule"]),
             (escape(a.get("sku") or ""), a.get("sku") or ""), (escape(a["platform"]), a["platform"]),
             (_title(a.get("title"), a.get("url"), 40), None), (escape(a["message"]), None),
             (money(a["price"], a["currency"]), a["price"]), (_when(a["crossing_at"]), str(a["crossing_at"]))]
            for a in d.alerts[:50]]
    more = f" (newest 50 of {len(d.alerts)})" if len(d.alerts) > 50 else ""
    return (f"<section id='alerts'><h2>Price alerts{more}</h2><p class='sub'>One per rule, listing and "
            f"crossing since {d.since.isoformat()}; configured in <code>[alerts]</code>.</p>"
            + _table([("rule", False), ("SKU", False), ("platform", False), ("listing", False), ("what", False),
                      ("price", True), ("when (UTC)", False)], rows, "No alerts in this period.", scroll=True)
            + "</section>")


def _best(d: ReportData) -> str:
    rows = []
    if "cheapest" in d.best.columns:
        for r in sorted(d.best.iter_rows(named=True), key=lambda r: natural(r["sku"])):
            cur = r["currency"]
            cells = [(f"<b>{escape(r['sku'])}</b>", r["sku"])]
            for p in d.platforms:
                v = r.get(p)
                if v is None:
                    cells.append(("—", None))
                    continue
                above = f' <small class="up">+{(v / r["best"] - 1) * 100:.0f}%</small>' if v > r["best"] else ""
                cls = ' class="best"' if p == r["cheapest"] else ""
                cells.append((f"<span{cls}>{money(v, cur)}</span>{above}", v))
            low = '<span class="badge b-low">90-day low</span>' if r.get("is_lowest_90") else ""
            cells += [(f"{escape(r['cheapest'])}{low}", r["cheapest"]),
                      (pct(r["gap_pct"], signed=False), r["gap_pct"]),
                      (_pct_cell(r.get("pct_vs_avg_30")), r.get("pct_vs_avg_30")),
                      (money(r.get("low_90"), cur), r.get("low_90"))]
            rows.append(cells)
    head = [("SKU", False), *[(p, True) for p in d.platforms], ("cheapest", False), ("gap max/min", True),
            ("vs 30-day avg", True), ("90-day low", True)]
    return ("<section id='best'><h2>Best price by platform</h2><p class='sub'>Cheapest matched offer per "
            "platform in the newest run that found the SKU; gap = how much dearer the dearest platform's best "
            "offer is than the cheapest. Click a column to sort.</p>"
            + _table(head, rows, "No matched prices in this period.", scroll=True) + "</section>")


def _pct_cell(v: Any) -> str:
    if v is None:
        return "—"
    cls = "down" if v < 0 else "up" if v > 0 else ""
    return f'<span class="{cls}">{pct(v)}</span>'


def _charts(d: ReportData) -> str:
    skus = sorted(d.series["sku"].unique().to_list(), key=natural)
    shown = skus[:MAX_CHARTS]
    best = {r["sku"]: r for r in d.best.iter_rows(named=True)} if "cheapest" in d.best.columns else {}
    cards = []
    for i, sku in enumerate(shown):
        part = d.series.filter(pl.col("sku") == sku)
        series = [Series(p, platform_colour(p, d.platforms),
                         [(day, price) for day, price in part.filter(pl.col("platform") == p)
                          .select("day", "price").iter_rows()])
                  for p in part["platform"].unique().sort().to_list()]
        legend = "".join(f'<i style="background:{s.colour}"></i>{escape(s.name)}' for s in series)
        b = best.get(sku)
        meta = (f"now {money(b['best'], b['currency'])} on {escape(b['cheapest'])}"
                + (' <span class="badge b-low">90-day low</span>' if b.get("is_lowest_90") else "")
                + (f" · {pct(b['pct_vs_avg_30'])} vs 30-day avg" if b.get("pct_vs_avg_30") is not None else "")
                if b else "no current offer")
        title = escape(b["title"]) if b and b.get("title") else ""
        cards.append(f'<div class="card" data-key="{escape(sku)} {title}"><h3>{escape(sku)}</h3>'
                     f'<div class="meta">{meta}</div><div class="legend">{legend}</div>'
                     f"{line_chart(f'chart-{i}', series)}</div>")
    note = (f"Showing the first {MAX_CHARTS} of {len(skus)} SKUs; use <code>--sku</code> for one."
            if len(skus) > MAX_CHARTS else f"{len(skus)} SKU(s).")
    body = ('<input id="filter" placeholder="Filter SKUs…" aria-label="Filter SKUs">'
            f'<div class="charts">{"".join(cards)}</div>' if cards
            else '<p class="empty">No price history in this period.</p>')
    return ("<section id='history'><h2>Price history</h2><p class='sub'>Daily minimum effective price "
            f"(promo price when there is one) of the SKU's matched listings, per platform, UTC days. {note} "
            "Hover a chart for the prices of that day.</p>" + body + "</section>")


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
    sections: list[Callable[[ReportData], str]] = [_alerts, _best, _charts]
    moves = ("<section id='moves'><div class='grid2'><div><h2>Biggest drops</h2><p class='sub'>First vs last "
             "price of the period, per listing.</p>" + _moves_table(d.drops, "No price fell in this period.")
             + "</div><div><h2>Biggest rises</h2><p class='sub'>First vs last price of the period, per "
             "listing.</p>" + _moves_table(d.rises, "No price rose in this period.") + "</div></div></section>")
    churn = ("<section id='churn'><div class='grid2'><div>"
             f"<h2>New listings ({d.appeared.height})</h2><p class='sub'>First seen in this period.</p>"
             + _churn_table(d.appeared, "first seen (UTC)", "No new listings.")
             + f"</div><div><h2>Gone listings ({d.disappeared.height})</h2><p class='sub'>Missing from the newest "
             "run that found their SKU on their platform.</p>"
             + _churn_table(d.disappeared, "last seen (UTC)", "No listing disappeared.")
             + "</div></div></section>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>snapprice report {d.since.isoformat()} – {d.until.date().isoformat()}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>Price report</h1><p>{scope}{d.since.isoformat()} to {d.until.date().isoformat()} · "
        f"generated {d.until.strftime('%Y-%m-%d %H:%M')} UTC</p></header><main>"
        + _kpis(d)
        + '<div id="js-errors" role="alert"></div><div id="tip"></div>'
        + "".join(s(d) for s in sections) + moves + churn + _runs(d)
        + "</main><footer>snapprice · effective price = promo price when present, else the (low) price · "
          "window statistics in SQL: <code>sku_window_stats</code>, <code>listing_window_stats</code>"
          "<pre id='render-check' hidden></pre></footer>"
        f"<script>{JS}</script></body></html>"
    )
