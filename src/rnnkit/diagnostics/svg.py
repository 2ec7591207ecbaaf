"""Hand-written inline SVG: line charts and heatmaps (no dependencies)."""
from __future__ import annotations

import html
import math

import numpy as np

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


def _fmt(v):
    return f"{v:.3g}"


def line_chart(series, title, xlabel="step", ylabel="", logy=False, width=560, height=260, markers=()):
    """``series``: ``{label: (xs, ys)}`` -> an ``<svg class="plot">`` string;
    ``markers``: ``(x, label)`` pairs drawn as labelled dashed vertical lines."""
    ml, mr, mt, mb = 60, 12, 24, 36
    pts = []
    for xs, ys in series.values():
        for x, y in zip(xs, ys):
            if y is not None and np.isfinite(y) and (not logy or y > 0):
                pts.append((float(x), math.log10(y) if logy else float(y)))
    e = html.escape
    head = (f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><title>{e(title)}</title>'
            f'<text x="{width / 2}" y="15" text-anchor="middle" font-size="13">{e(title)}</text>')
    if not pts:
        return head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text></svg>'
    int_x = all(p[0] == int(p[0]) for p in pts)      # steps, lags: integer tick labels
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    pw, ph = width - ml - mr, height - mt - mb

    def sx(x):
        return ml + (x - x0) / (x1 - x0) * pw

    def sy(y):
        return mt + (1 - (y - y0) / (y1 - y0)) * ph

    parts = [head, f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for k in range(5):
        yv = y0 + k * (y1 - y0) / 4
        lab = _fmt(10 ** yv) if logy else _fmt(yv)
        parts.append(f'<text x="{ml - 4}" y="{sy(yv) + 4:.1f}" text-anchor="end" font-size="10">{lab}</text>'
                     f'<line x1="{ml}" x2="{ml + pw}" y1="{sy(yv):.1f}" y2="{sy(yv):.1f}" stroke="#eee"/>')
        xv = x0 + k * (x1 - x0) / 4
        if int_x:
            xv = round(xv)
        parts.append(f'<text x="{sx(xv):.1f}" y="{mt + ph + 14}" text-anchor="middle" font-size="10">'
                     f'{_fmt(xv) if not int_x else xv}</text>')
    parts.append(f'<text x="{ml + pw / 2}" y="{height - 4}" text-anchor="middle" font-size="11">{e(xlabel)}</text>'
                 f'<text x="12" y="{mt + ph / 2}" transform="rotate(-90 12 {mt + ph / 2})" '
                 f'text-anchor="middle" font-size="11">{e(ylabel)}{" (log)" if logy else ""}</text>')
    for i, (label, (xs, ys)) in enumerate(series.items()):
        c = _COLORS[i % len(_COLORS)]
        d = " ".join(f"{sx(float(x)):.1f},{sy(math.log10(y) if logy else float(y)):.1f}"
                     for x, y in zip(xs, ys)
                     if y is not None and np.isfinite(y) and (not logy or y > 0))
        if d:
            parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{d}"/>')
            if d.count(" ") < 2:                      # one or two points: a line would hide them
                parts += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="3" fill="{c}"/>'
                          for p in d.split(" ")]
        parts.append(f'<rect x="{ml + pw - 150}" y="{mt + 6 + 14 * i}" width="10" height="3" fill="{c}"/>'
                     f'<text x="{ml + pw - 136}" y="{mt + 10 + 14 * i}" font-size="10" '
                     f'style="paint-order:stroke" stroke="#fff" stroke-width="3">{e(label)}</text>')
    for j, (x, label) in enumerate(markers):
        if x0 <= float(x) <= x1:
            parts.append(f'<line x1="{sx(float(x)):.1f}" x2="{sx(float(x)):.1f}" y1="{mt}" y2="{mt + ph}" '
                         f'stroke="#555" stroke-dasharray="4 3"/><text x="{sx(float(x)) - 3:.1f}" '
                         f'y="{mt + ph - 6 - 12 * j}" text-anchor="end" font-size="10" style="paint-order:stroke" '
                         f'stroke="#fff" stroke-width="3">{e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def heatmap(matrix, title, xlabel, ylabel, log=True, width=560, height=280):
    """``matrix (rows, cols)`` (NaN = empty) -> ``<svg class="plot">``, rows down, colour by value."""
    m = np.asarray(matrix, float)
    e = html.escape
    ml, mr, mt, mb = 60, 70, 24, 36
    pw, ph = width - ml - mr, height - mt - mb
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{e(title)}</title>'
             f'<text x="{width / 2}" y="15" text-anchor="middle" font-size="13">{e(title)}</text>']
    v = np.log10(np.where(m > 0, m, np.nan)) if log else m
    fin = v[np.isfinite(v)]
    if fin.size == 0:
        return parts[0] + "<text x='20' y='60'>no data</text></svg>"
    lo, hi = float(fin.min()), float(fin.max())
    hi = hi if hi > lo else lo + 1
    R, C = v.shape
    cw, ch = pw / C, ph / R
    for r in range(R):
        for c in range(C):
            if np.isfinite(v[r, c]):
                t = (v[r, c] - lo) / (hi - lo)
                col = f"rgb({int(255 * t)},{int(60 + 120 * (1 - abs(t - .5) * 2))},{int(255 * (1 - t))})"
                parts.append(f'<rect x="{ml + c * cw:.2f}" y="{mt + r * ch:.2f}" width="{cw + .3:.2f}" '
                             f'height="{ch + .3:.2f}" fill="{col}"/>')
    parts.append(f'<text x="{ml + pw / 2}" y="{height - 4}" text-anchor="middle" font-size="11">{e(xlabel)}</text>'
                 f'<text x="12" y="{mt + ph / 2}" transform="rotate(-90 12 {mt + ph / 2})" '
                 f'text-anchor="middle" font-size="11">{e(ylabel)}</text>'
                 f'<text x="{ml}" y="{mt + ph + 14}" font-size="10">0</text>'
                 f'<text x="{ml + pw}" y="{mt + ph + 14}" text-anchor="end" font-size="10">{C - 1}</text>')
    for k in range(11):
        t = k / 10
        col = f"rgb({int(255 * t)},{int(60 + 120 * (1 - abs(t - .5) * 2))},{int(255 * (1 - t))})"
        parts.append(f'<rect x="{width - mr + 10}" y="{mt + ph - (k + 1) * ph / 11:.1f}" width="14" '
                     f'height="{ph / 11 + .5:.1f}" fill="{col}"/>')
    lab = (lambda z: _fmt(10 ** z)) if log else _fmt
    parts.append(f'<text x="{width - mr + 28}" y="{mt + 8}" font-size="10">{lab(hi)}</text>'
                 f'<text x="{width - mr + 28}" y="{mt + ph}" font-size="10">{lab(lo)}</text></svg>')
    return "".join(parts)
