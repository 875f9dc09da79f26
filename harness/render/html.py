"""HTML building blocks for self-contained reports: escaped tables and inline SVG charts.

Hand-written SVG instead of a plotting library because a report must open
offline as one file with no JavaScript: matplotlib would add a heavy
dependency for a few bar charts, and JS chart libraries need scripts, which
the report's Content-Security-Policy forbids.  Every piece of text that goes
into the page passes through :func:`esc`, so sample text (jailbreaks, markup)
is shown, never interpreted.
"""

from __future__ import annotations

import html
import math

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
# No scripts, no network: only inline styles and data: images may load.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#666;font-size:.85em}.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}
.skip{color:#8a6d00;font-weight:bold}
pre.sample{white-space:pre-wrap;word-break:break-word;max-height:18em;overflow:auto;background:#fafafa;
border:1px solid #eee;padding:.4em;margin:0;font-size:.85em}
table.pairs{table-layout:fixed;width:100%}table.pairs th:first-child{width:9%}
.charts{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
figure{margin:0}figcaption{font-size:.85em;color:#444;margin-top:.2em}
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_cell(value, column: str = "") -> str:
    """A cell's text: a number in a percent column ("... %") with one decimal (55.6), other floats with four."""
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.1f}" if column.rstrip().endswith("%") else f"{value:.4f}"
    return "-" if value is None else str(value)


def table(columns, rows, css_class="", shade=None, raw_columns=()) -> str:
    """An HTML table; ``shade(row_index, column)`` may return a value in [0, 1] that tints the cell.

    Cells are escaped, except columns listed in ``raw_columns`` whose cells are
    HTML this module built (already escaped).
    """
    out = [f"<table class='{esc(css_class)}'><thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns)
           + "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cells = []
        for c, value in zip(columns, row):
            style = ""
            level = shade(i, c) if shade else None
            if isinstance(level, (int, float)) and not math.isnan(level):
                style = f" style='background:rgba(76,114,176,{0.08 + 0.5 * max(0.0, min(1.0, level)):.2f})'"
            num = " class='num'" if isinstance(value, (int, float)) else ""
            body = value if c in raw_columns else esc(fmt_cell(value, c))
            cells.append(f"<td{num}{style}>{body}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _svg(width, height, body, label) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' role='img' aria-label='{esc(label)}' class='chart'>"
            f"<title>{esc(label)}</title>{body}</svg>")


def _text(x, y, s, anchor="start", size=11, extra="") -> str:
    return f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' {extra}>{esc(s)}</text>"


def bar_chart(title, labels, series: dict, vmax=1.0, value_fmt="{:.2f}", width=560) -> str:
    """Horizontal grouped bars: ``series`` maps a series name to one value (or None) per label."""
    names = list(series)
    band = 14 * len(names) + 8
    left, top = 190, 24 + 16 * (len(names) > 1)
    height = top + band * len(labels) + 24
    plot_w = width - left - 60
    parts = [_text(8, 16, title, size=13, extra="font-weight='bold'")]
    if len(names) > 1:
        for k, name in enumerate(names):
            x = left + k * 130
            parts.append(f"<rect x='{x}' y='22' width='10' height='10' fill='{PALETTE[k % len(PALETTE)]}'/>")
            parts.append(_text(x + 14, 31, name[:18]))
    for i, label in enumerate(labels):
        y0 = top + i * band
        parts.append(_text(left - 6, y0 + band / 2 + 3, str(label)[:30], anchor="end"))
        for k, name in enumerate(names):
            v = series[name][i]
            y = y0 + 4 + 14 * k
            if v is None:
                parts.append(_text(left + 2, y + 10, "n/a", size=10))
                continue
            w = plot_w * max(0.0, min(v / vmax if vmax else 0, 1.0))
            parts.append(f"<rect class='bar' x='{left}' y='{y}' width='{w:.1f}' height='12' "
                         f"fill='{PALETTE[k % len(PALETTE)]}'><title>{esc(f'{name} {label}: {v}')}</title></rect>")
            parts.append(_text(left + w + 4, y + 10, value_fmt.format(v), size=10))
    axis_y = top + band * len(labels) + 4
    parts.append(f"<line x1='{left}' y1='{axis_y}' x2='{left + plot_w}' y2='{axis_y}' stroke='#999'/>")
    parts.append(_text(left, axis_y + 14, "0", size=10))
    parts.append(_text(left + plot_w, axis_y + 14, value_fmt.format(vmax), anchor="end", size=10))
    return _svg(width, height, "".join(parts), title)


def heatmap(title, rows, columns, matrix, width=None) -> str:
    """A confusion matrix: counts in cells shaded by their share of the row."""
    cell_w, cell_h, left, top = 90, 34, 110, 48
    width = width or left + cell_w * len(columns) + 10
    height = top + cell_h * len(rows) + 10
    parts = [_text(8, 16, title, size=13, extra="font-weight='bold'"), _text(left, 30, "predicted →", size=10),
             _text(8, 30, "gold ↓", size=10)]
    for j, c in enumerate(columns):
        parts.append(_text(left + j * cell_w + cell_w / 2, top - 6, c, anchor="middle"))
    for i, r in enumerate(rows):
        total = sum(matrix[i]) or 1
        parts.append(_text(left - 6, top + i * cell_h + cell_h / 2 + 4, r, anchor="end"))
        for j, v in enumerate(matrix[i]):
            share = v / total
            x, y = left + j * cell_w, top + i * cell_h
            parts.append(f"<rect class='cell' x='{x}' y='{y}' width='{cell_w - 2}' height='{cell_h - 2}' "
                         f"fill='rgba(76,114,176,{0.06 + 0.85 * share:.2f})'/>")
            parts.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, f"{v}", anchor="middle",
                               extra="fill='#fff'" if share > 0.55 else ""))
    return _svg(width, height, "".join(parts), title)


def histogram(title, series: dict, bins=10, lo=0.0, hi=1.0, width=420, height=180, xlabel="") -> str:
    """Side-by-side histograms (share of values per bin); values past ``hi`` go in the last bin."""
    left, top, bottom = 40, 40, 34
    plot_w, plot_h = width - left - 10, height - top - bottom
    hi = hi if hi > lo else lo + 1
    series = {name: [v for v in values if v is not None] for name, values in series.items()}
    shares = {}
    for name, values in series.items():
        counts = [0] * bins
        for v in values:
            counts[min(bins - 1, max(0, int((v - lo) / (hi - lo) * bins)))] += 1
        shares[name] = [c / (len(values) or 1) for c in counts]
    top_share = max([max(s) for s in shares.values()] + [1e-9])
    parts = [_text(8, 16, title, size=13, extra="font-weight='bold'")]
    bw = plot_w / bins
    for k, (name, sh) in enumerate(shares.items()):
        color = PALETTE[k % len(PALETTE)]
        parts.append(f"<rect x='{left + k * 130}' y='22' width='10' height='10' fill='{color}'/>")
        parts.append(_text(left + k * 130 + 14, 31, f"{name[:16]} (n={len(series[name])})"))
        n_series = len(shares)
        for b, s in enumerate(sh):
            h = plot_h * s / top_share
            x = left + b * bw + k * bw / n_series
            parts.append(f"<rect class='bar' x='{x:.1f}' y='{top + plot_h - h:.1f}' width='{bw / n_series - 1:.1f}' "
                         f"height='{h:.1f}' fill='{color}' fill-opacity='0.85'/>")
    parts.append(f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' stroke='#999'/>")
    parts.append(_text(left, top + plot_h + 14, f"{lo:g}", size=10))
    parts.append(_text(left + plot_w, top + plot_h + 14, f"{hi:g}", anchor="end", size=10))
    if xlabel:
        parts.append(_text(left + plot_w / 2, top + plot_h + 28, xlabel, anchor="middle", size=10))
    return _svg(width, height, "".join(parts), title)


def line_chart(title, series: dict, xlabel="", ylabel="", diagonal=False, width=300, height=300) -> str:
    """Curves on the unit square: ``series`` maps a name to (x, y) points in [0, 1]; ``diagonal`` draws y = x."""
    left, top, bottom, right = 44, 40, 36, 12
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(x, y):
        return left + plot_w * x, top + plot_h * (1 - y)

    parts = [_text(8, 16, title, size=13, extra="font-weight='bold'"),
             f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#999'/>"]
    if diagonal:
        (x0, y0), (x1, y1) = xy(0, 0), xy(1, 1)
        parts.append(f"<line x1='{x0:.1f}' y1='{y0:.1f}' x2='{x1:.1f}' y2='{y1:.1f}' stroke='#bbb' "
                     "stroke-dasharray='4 3'/>")
    for k, (name, points) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        parts.append(f"<rect x='{left + k * 130}' y='22' width='10' height='10' fill='{color}'/>")
        parts.append(_text(left + k * 130 + 14, 31, name[:18]))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(px, py) for px, py in points))
        parts.append(f"<polyline points='{path}' fill='none' stroke='{color}' stroke-width='1.8'/>")
    for v in (0, 0.5, 1):
        parts.append(_text(left + plot_w * v, top + plot_h + 13, f"{v:g}", anchor="middle", size=10))
        parts.append(_text(left - 4, top + plot_h * (1 - v) + 4, f"{v:g}", anchor="end", size=10))
    parts.append(_text(left + plot_w / 2, height - 6, xlabel, anchor="middle", size=10))
    parts.append(_text(12, top + plot_h / 2, ylabel, anchor="middle", size=10,
                       extra=f"transform='rotate(-90 12 {top + plot_h / 2:.1f})'"))
    return _svg(width, height, "".join(parts), title)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, the nearest to
    (hi - lo) / (count - 1) (Heckbert's "nice numbers", Graphics Gems, 1990)."""
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = power * next(m for limit, m in ((1.5, 1), (3, 2), (7, 5), (math.inf, 10)) if raw / power < limit)
    first = math.floor(lo / step + 1e-9) * step
    ticks, v = [], first
    while v < hi + step * 0.999:
        ticks.append(round(v, 12))
        v += step
    return ticks


def series_chart(title, xs, series: dict, xlabel="", ylabel="", marks=(), width=560, height=300) -> str:
    """Lines over a shared x (training steps): ``series`` maps a label to one y (or None) per x.

    Each line is a ``polyline.series`` with one point per finite value, labelled
    in the legend and at its last point; axes get round ticks; ``marks`` are x
    values drawn as dashed vertical lines (e.g. steps where the monitor saw gaming).
    """
    left, top, bottom, right = 52, 30 + 16 * ((len(series) + 2) // 3), 40, 130
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
    xt = nice_ticks(min(xs), max(xs)) if xs else [0, 1]
    yt = nice_ticks(min(values), max(values)) if values else [0, 1]
    x_lo, x_hi, y_lo, y_hi = xt[0], xt[-1], yt[0], yt[-1]

    def px(x):
        return left + plot_w * (x - x_lo) / ((x_hi - x_lo) or 1)

    def py(y):
        return top + plot_h * (1 - (y - y_lo) / ((y_hi - y_lo) or 1))

    parts = [_text(8, 16, title, size=13, extra="font-weight='bold'"),
             f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#999'/>"]
    for t in xt:
        parts.append(f"<line class='xtick' x1='{px(t):.1f}' y1='{top + plot_h}' x2='{px(t):.1f}' "
                     f"y2='{top + plot_h + 4}' stroke='#999'/>")
        parts.append(_text(px(t), top + plot_h + 15, f"{t:g}", anchor="middle", size=10))
    for t in yt:
        parts.append(f"<line class='ytick' x1='{left - 4}' y1='{py(t):.1f}' x2='{left}' y2='{py(t):.1f}' "
                     "stroke='#999'/>")
        parts.append(_text(left - 6, py(t) + 4, f"{t:g}", anchor="end", size=10))
    for m in marks:
        parts.append(f"<line class='mark' x1='{px(m):.1f}' y1='{top}' x2='{px(m):.1f}' y2='{top + plot_h}' "
                     f"stroke='{PALETTE[3]}' stroke-dasharray='4 3'><title>{esc(f'gaming at step {m}')}</title></line>")
    for k, (name, ys) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        lx, ly = 8 + (k % 3) * 180, 30 + 16 * (k // 3)
        parts.append(f"<rect x='{lx}' y='{ly - 9}' width='10' height='10' fill='{color}'/>")
        parts.append(_text(lx + 14, ly, name[:28], extra="class='legend'"))
        points = [(px(x), py(y)) for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
        if not points:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f"<polyline class='series' points='{path}' fill='none' stroke='{color}' stroke-width='1.8'>"
                     f"<title>{esc(name)}</title></polyline>")
        parts.append(_text(points[-1][0] + 6, points[-1][1] + 4, name[:18], size=10,
                           extra=f"class='line-label' fill='{color}'"))
    parts.append(_text(left + plot_w / 2, height - 6, xlabel, anchor="middle", size=10))
    parts.append(_text(12, top + plot_h / 2, ylabel, anchor="middle", size=10,
                       extra=f"transform='rotate(-90 12 {top + plot_h / 2:.1f})'"))
    return _svg(width, height, "".join(parts), title)


def forest(title, rows, width=620) -> str:
    """Differences with intervals: ``rows`` are (label, diff, low, high); zero is marked."""
    left, top, row_h = 200, 30, 24
    plot_w = width - left - 170
    height = top + row_h * len(rows) + 30
    finite = [v for _, d, lo, hi in rows for v in (d, lo, hi) if v is not None and not math.isnan(v)]
    span = max([abs(v) for v in finite] + [0.01]) * 1.1
    x_of = lambda v: left + plot_w * (v + span) / (2 * span)  # noqa: E731
    parts = [_text(8, 16, title, size=13, extra="font-weight='bold'"),
             f"<line x1='{x_of(0):.1f}' y1='{top - 6}' x2='{x_of(0):.1f}' y2='{top + row_h * len(rows)}' "
             "stroke='#999' stroke-dasharray='3,3'/>"]
    for i, (label, d, lo, hi) in enumerate(rows):
        y = top + i * row_h + row_h / 2
        parts.append(_text(left - 8, y + 4, label, anchor="end"))
        if d is None or math.isnan(d):
            parts.append(_text(left + 4, y + 4, "n/a", size=10))
            continue
        if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
            parts.append(f"<line class='ci' x1='{x_of(lo):.1f}' y1='{y}' x2='{x_of(hi):.1f}' y2='{y}' "
                         f"stroke='{PALETTE[0]}' stroke-width='2'/>")
        parts.append(f"<circle class='point' cx='{x_of(d):.1f}' cy='{y}' r='4' fill='{PALETTE[3]}'/>")
        ci = "" if lo is None else f" [{lo:+.3f}, {hi:+.3f}]"
        parts.append(_text(left + plot_w + 6, y + 4, f"{d:+.3f}{ci}", size=10))
    axis_y = top + row_h * len(rows) + 4
    parts.append(_text(x_of(-span), axis_y + 12, f"{-span:+.2f}", size=10))
    parts.append(_text(x_of(span), axis_y + 12, f"{span:+.2f}", anchor="end", size=10))
    parts.append(_text(x_of(0), axis_y + 12, "0 (B − A)", anchor="middle", size=10))
    return _svg(width, height, "".join(parts), title)


def figure(svg: str, caption: str = "") -> str:
    return f"<figure>{svg}" + (f"<figcaption>{esc(caption)}</figcaption>" if caption else "") + "</figure>"


def page(title: str, sections: list[tuple[str, str]], subtitle: str = "") -> str:
    """A complete HTML document; section bodies are HTML built by this module (already escaped)."""
    body = "".join(f"<section><h2>{esc(name)}</h2>{content}</section>" for name, content in sections)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1>" + (f"<p class='note'>{esc(subtitle)}</p>" if subtitle else "")
            + body + "</body></html>\n")
