"""Inline SVG line charts (no library, no network): one series per platform over days."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

# Colour-blind-friendly (Okabe–Ito based), fixed per platform so every chart agrees.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C6D1F", "#444444")
KNOWN = {"taobao": "#E8590C", "1688": "#0072B2", "jd": "#C92A2A", "pinduoduo": "#2B8A3E", "tmall": "#862E9C"}


def platform_colour(platform: str, order: Sequence[str]) -> str:
    if platform in KNOWN:
        return KNOWN[platform]
    return PALETTE[order.index(platform) % len(PALETTE)] if platform in order else PALETTE[-1]


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    points: Sequence[tuple[date, float]]  # ascending days


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5, 5 × 10^k steps)."""
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}".rstrip("0").rstrip(".")


def line_chart(chart_id: str, series: Sequence[Series], *, width: int = 560, height: int = 230) -> str:
    """An SVG line chart: each series a <g class="series"> holding its path (dots drawn as path
    markers, so a point costs a few bytes) and its days/values for the page's hover tooltip."""
    pts = [p for s in series for p in s.points]
    cid = escape(chart_id)
    if not pts:
        return f'<svg class="chart empty" id="{cid}" data-series-count="0"></svg>'
    left, right, top, bottom = 56, 14, 12, 28
    pw, ph = width - left - right, height - top - bottom
    days = [d for d, _ in pts]
    d0, d1 = min(days), max(days)
    span = max((d1 - d0).days, 1)
    ticks = nice_ticks(min(v for _, v in pts), max(v for _, v in pts))
    y0, y1 = ticks[0], ticks[-1]

    def x(d: date) -> float:
        return left + (pw * (d - d0).days / span if d1 > d0 else pw / 2)

    def y(v: float) -> float:
        return top + ph * (1 - (v - y0) / (y1 - y0))

    out = [f'<svg class="chart" id="{cid}" data-series-count="{len(series)}" data-d0="{d0.isoformat()}" '
           f'data-x0="{left if d1 > d0 else left + pw / 2}" data-pw="{pw if d1 > d0 else 0}" data-span="{span}" '
           f'viewBox="0 0 {width} {height}" role="img" preserveAspectRatio="xMidYMid meet"><defs>']
    for i, s in enumerate(series):
        r = 3 if len(s.points) <= 45 else 1.6
        out.append(f'<marker id="{cid}-m{i}" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="{2 * r + 2}" '
                   f'markerHeight="{2 * r + 2}" markerUnits="userSpaceOnUse"><circle cx="5" cy="5" r="4" '
                   f'fill="{s.colour}" stroke="#fff" stroke-width="1.4"/></marker>')
    out.append("</defs>")
    for t in ticks:
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
                   f'<text class="ylab" x="{left - 6}" y="{y(t) + 4:.1f}">{_fmt(t)}</text>')
    nx = min(6, span + 1) if d1 > d0 else 1
    for i in range(nx):
        d = date.fromordinal(d0.toordinal() + round(i * span / max(nx - 1, 1))) if nx > 1 else d0
        out.append(f'<text class="xlab" x="{x(d):.1f}" y="{height - 8}">{d.strftime("%m-%d")}</text>')
    for i, s in enumerate(series):
        offsets = ",".join(str((d - d0).days) for d, _ in s.points)
        values = ",".join(f"{v:.2f}".rstrip("0").rstrip(".") for _, v in s.points)
        coords = [f"{x(d):.1f},{y(v):.1f}" for d, v in s.points]
        if len(coords) == 1:  # a lone point: a zero-length segment still gets its markers
            coords.append(coords[0])
        path = "M" + " L".join(coords)
        out.append(f'<g class="series" data-name="{escape(s.name)}" data-days="{offsets}" data-v="{values}" '
                   f'style="--c:{s.colour}"><path class="line" d="{path}" style="marker:url(#{cid}-m{i})"/></g>')
    out.append("</svg>")
    return "".join(out)
