"""Figures as inline SVG, and one self-contained HTML page holding them all.

Pure string functions, no network and no JavaScript: the page opens from disk anywhere,
can be attached to a CI run, and diffs cleanly. Line plots get axes with "nice" ticks
(1, 2, 2.5 or 5 times a power of ten), light grid lines, a legend, and one ``<polyline>`` per series (more
when NaN values cut a series into pieces). Images are embedded as base64 ``<img>``.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence

from pivot.core.reports.plots import Figure, Series
from pivot.render.palette import PALETTE, color_indexes

__all__ = ["format_tick", "nice_ticks", "render_html", "render_svg"]

#: Series longer than this are reduced (keeping each bucket's first, min, max and last points).
MAX_POINTS = 4000


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi]; the first ≤ lo, the last ≥ hi."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    first = math.floor(lo / step + 1e-9) * step
    ticks: list[float] = []
    value = first
    while value < hi + step * 0.999 and len(ticks) < 50:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value = first + step * len(ticks)
    if ticks[-1] < hi - step * 1e-9:
        ticks.append(ticks[-1] + step)
    return ticks


def format_tick(value: float, step: float) -> str:
    """A tick label with just enough decimals to tell neighbouring ticks apart."""
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or abs(step) < 1e-4:
        return f"{value:.3g}"
    decimals = max(0, -math.floor(math.log10(abs(step)) + 1e-9))
    if round(step * 10**decimals) != step * 10**decimals:
        decimals += 1
    return f"{value:.{decimals}f}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _decimate(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    if len(points) <= limit:
        return points
    size = math.ceil(len(points) / (limit / 4))
    kept: list[tuple[float, float]] = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        low = min(range(len(bucket)), key=lambda i: bucket[i][1])
        high = max(range(len(bucket)), key=lambda i: bucket[i][1])
        for i in sorted({0, low, high, len(bucket) - 1}):
            kept.append(bucket[i])
    return kept


def _segments(series: Series) -> list[list[tuple[float, float]]]:
    """Runs of finite points; a NaN or infinite value ends a run."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(series.xs, series.ys, strict=True):
        if math.isfinite(x) and math.isfinite(y):
            runs[-1].append((x, y))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def render_svg(figure: Figure, *, width: int = 720, height: int = 400) -> str:
    """An SVG line chart of the figure's series (empty string when it has none)."""
    bounds = figure.bounds()
    if bounds is None:
        return ""
    x_min, x_max, y_min, y_max = bounds
    x_ticks = nice_ticks(x_min, x_max, 6)
    y_ticks = nice_ticks(y_min, y_max, 5)
    x_lo, x_hi, y_lo, y_hi = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    y_labels = [format_tick(v, y_step) for v in y_ticks]

    left = 18 + 7 * max(len(label) for label in y_labels) + (18 if figure.y_label else 0)
    top, right, bottom = 16, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float) -> float:
        return top + (y_hi - y) / (y_hi - y_lo) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pivot-plot" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(figure.title)}" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{_e(figure.title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        '<g class="grid" stroke="#e5e5e5" stroke-width="1">',
    ]
    for value in x_ticks:
        parts.append(
            f'<line x1="{px(value):.1f}" y1="{top}" x2="{px(value):.1f}" y2="{top + plot_h}"/>'
        )
    for value in y_ticks:
        parts.append(
            f'<line x1="{left}" y1="{py(value):.1f}" x2="{left + plot_w}" y2="{py(value):.1f}"/>'
        )
    parts.append("</g>")

    parts.append('<g class="axes" stroke="#444" stroke-width="1" fill="#333">')
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>'
    )
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>')
    for value in x_ticks:
        x = px(value)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 5}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle" stroke="none">'
            f"{_e(format_tick(value, x_step))}</text>"
        )
    for value, label in zip(y_ticks, y_labels, strict=True):
        y = py(value)
        parts.append(f'<line x1="{left - 5}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}"/>')
        parts.append(
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" stroke="none">{_e(label)}</text>'
        )
    if figure.x_label:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
            f'stroke="none">{_e(figure.x_label)}</text>'
        )
    if figure.y_label:
        parts.append(
            f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle" stroke="none">{_e(figure.y_label)}</text>'
        )
    parts.append("</g>")

    colors = color_indexes(figure)
    parts.append('<g class="series" fill="none" stroke-width="1.75" stroke-linejoin="round">')
    for series, color_index in zip(figure.series, colors, strict=True):
        color = PALETTE[color_index]
        dash = ' stroke-dasharray="6 4" opacity="0.8"' if series.old else ""
        segments = _segments(series)
        for segment in segments:
            points = _decimate(segment, MAX_POINTS)
            coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
            parts.append(
                f'<polyline data-series="{_e(series.name)}" stroke="{color}"{dash} points="{coords}"/>'
            )
            if len(points) == 1:
                x, y = points[0]
                parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        if not segments:
            parts.append(f'<polyline data-series="{_e(series.name)}" stroke="{color}" points=""/>')
    parts.append("</g>")

    names = [s.name for s in figure.series]
    if len(names) > 1 or figure.y_label != (names[0] if names else ""):
        box_w = 34 + 7 * max(len(n) for n in names)
        box_h = 8 + 18 * len(names)
        bx, by = left + plot_w - box_w - 8, top + 8
        parts.append('<g class="legend">')
        parts.append(
            f'<rect x="{bx}" y="{by}" width="{box_w}" height="{box_h}" fill="#ffffff" '
            f'fill-opacity="0.85" stroke="#ccc"/>'
        )
        for i, (series, color_index) in enumerate(zip(figure.series, colors, strict=True)):
            ly = by + 15 + 18 * i
            dash = ' stroke-dasharray="6 4"' if series.old else ""
            parts.append(
                f'<line x1="{bx + 8}" y1="{ly - 4}" x2="{bx + 26}" y2="{ly - 4}" '
                f'stroke="{PALETTE[color_index]}" stroke-width="2"{dash}/>'
            )
            parts.append(f'<text x="{bx + 32}" y="{ly}" fill="#333">{_e(series.name)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222;
       padding: 0 1rem; }
header p { color: #666; margin-top: -0.5rem; }
section.plot { margin: 2rem 0; padding-bottom: 1rem; border-bottom: 1px solid #eee; }
section.plot h2 { font-size: 1.15rem; margin-bottom: 0.2rem; }
.path { color: #777; font-family: ui-monospace, monospace; font-size: 0.85rem; margin-top: 0; }
.note { color: #8a6d00; } .error { color: #b00020; }
.images { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #666; font-size: 0.85rem; text-align: center; }
svg.pivot-plot { max-width: 100%; height: auto; }
"""


def _section(figure: Figure) -> str:
    parts = ['<section class="plot">', f"<h2>{_e(figure.title)}</h2>"]
    if figure.title != figure.path:
        parts.append(f'<p class="path">{_e(figure.path)}</p>')
    if figure.error is not None:
        parts.append(f'<p class="error">{_e(figure.error)}</p>')
    for note in figure.notes:
        parts.append(f'<p class="note">{_e(note)}</p>')
    if figure.series:
        parts.append(render_svg(figure))
    if figure.images:
        parts.append('<div class="images">')
        for image in figure.images:
            encoded = base64.b64encode(image.data).decode("ascii")
            parts.append(
                f'<figure><img alt="{_e(image.label)}" src="data:{image.mime};base64,{encoded}">'
                f"<figcaption>{_e(image.label)}</figcaption></figure>"
            )
        parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


def render_html(figures: Sequence[Figure], *, title: str, subtitle: str = "") -> str:
    """One HTML page with every figure; it loads nothing from the network."""
    body = "\n".join(_section(f) for f in figures) or "<p>No plots.</p>"
    sub = f"<p>{_e(subtitle)}</p>" if subtitle else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1>{sub}</header>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
