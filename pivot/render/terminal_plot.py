"""Line plots in the terminal, drawn with braille characters through rich.

Each character cell holds a 2x4 grid of braille dots, so a 70x12 cell chart has 140x48
dots of resolution. Consecutive points are joined with straight dot lines; where series
cross, the cell takes the colour of the series drawn last. Colours come from the same
palette as the SVG page, so a series looks alike in both. Old versions (``plots diff``)
are drawn dim.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pivot.core.reports.plots import Figure
from pivot.render.counts import plural
from pivot.render.metrics import format_number
from pivot.render.palette import PALETTE, color_indexes

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.text import Text

__all__ = ["BrailleChart", "braille_rows", "print_figure"]

# Bit of each dot in a braille cell, indexed [row][column].
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BRAILLE_BASE = 0x2800


def _line(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """Dots on the segment from (x0, y0) to (x1, y1) (Bresenham)."""
    dots = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        dots.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return dots
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def _label(value: float) -> str:
    """An axis end label: 4 significant digits, no trailing ".0"."""
    return format_number(float(value), 4)


def braille_rows(
    figure: Figure,
    columns: int,
    rows: int,
    bounds: tuple[float, float, float, float],
) -> list[list[tuple[str, int | None]]]:
    """The chart area as ``rows`` lists of ``columns`` (character, series index or None)."""
    x_lo, x_hi, y_lo, y_hi = bounds
    width, height = columns * 2, rows * 4
    bits = [[0] * columns for _ in range(rows)]
    owner: list[list[int | None]] = [[None] * columns for _ in range(rows)]

    def dot_x(x: float) -> int:
        return round((x - x_lo) / (x_hi - x_lo) * (width - 1)) if x_hi > x_lo else width // 2

    def dot_y(y: float) -> int:
        return round((y_hi - y) / (y_hi - y_lo) * (height - 1)) if y_hi > y_lo else height // 2

    for index, series in enumerate(figure.series):
        previous: tuple[int, int] | None = None
        for x, y in zip(series.xs, series.ys, strict=True):
            if not (math.isfinite(x) and math.isfinite(y)):
                previous = None
                continue
            here = (dot_x(x), dot_y(y))
            for cx, cy in _line(*previous, *here) if previous else [here]:
                if 0 <= cx < width and 0 <= cy < height:
                    row, col = cy // 4, cx // 2
                    bits[row][col] |= _DOTS[cy % 4][cx % 2]
                    owner[row][col] = index
            previous = here
    return [
        [
            (chr(_BRAILLE_BASE + bits[r][c]) if bits[r][c] else " ", owner[r][c])
            for c in range(columns)
        ]
        for r in range(rows)
    ]


class BrailleChart:
    """A rich renderable: title, chart with y ticks and x range, legend, notes."""

    def __init__(self, figure: Figure, *, height: int = 12) -> None:
        self.figure = figure
        self.height = max(height, 3)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        figure = self.figure
        yield Text(figure.title, style="bold")
        if figure.title != figure.path:
            yield Text(figure.path, style="dim")
        if figure.error is not None:
            yield Text(f"error: {figure.error}", style="red")
        for note in figure.notes:
            yield Text(f"note: {note}", style="yellow")
        for image in figure.images:
            yield Text(
                f"image ({image.label}, {image.mime}, {plural(len(image.data), 'byte', grouped=True)}): "
                "see the HTML page",
                style="dim",
            )
        bounds = figure.bounds()
        if bounds is not None:
            yield from self._chart(bounds, options.max_width)
        yield Text("")

    def _chart(self, bounds: tuple[float, float, float, float], max_width: int) -> list[Text]:
        from rich.text import Text

        figure = self.figure
        x_min, x_max, y_min, y_max = bounds
        if y_max == y_min:
            pad = abs(y_min) * 0.1 or 1.0
            y_min, y_max = y_min - pad, y_max + pad
        top, bottom = _label(y_max), _label(y_min)
        gutter = max(len(top), len(bottom)) + 1
        columns = max(10, max_width - gutter - 2)
        grid = braille_rows(figure, columns, self.height, (x_min, x_max, y_min, y_max))
        colors = color_indexes(figure)
        styles = [
            f"{PALETTE[c]}{' dim' if s.old else ''}"
            for s, c in zip(figure.series, colors, strict=True)
        ]
        lines: list[Text] = []
        for r, row in enumerate(grid):
            label = top if r == 0 else bottom if r == len(grid) - 1 else ""
            line = Text()
            line.append(f"{label:>{gutter}} " + ("┤" if label else "│"), style="dim")
            for char, owner in row:
                line.append(char, style=styles[owner] if owner is not None else "")
            lines.append(line)
        lines.append(Text(" " * (gutter + 1) + "└" + "─" * columns, style="dim"))
        left, right = _label(x_min), _label(x_max)
        middle = figure.x_label
        space = columns + 1 - len(left) - len(right)
        axis = (
            f"{left}{middle:^{space}}{right}"
            if space > len(middle) + 1
            else f"{left}{right:>{space}}"
        )
        lines.append(Text(" " * (gutter + 1) + axis, style="dim"))
        legend = Text(" " * (gutter + 2))
        for series, style in zip(figure.series, styles, strict=True):
            legend.append("━━ " if not series.old else "╍╍ ", style=style)
            legend.append(series.name + "   ")
        lines.append(legend)
        return lines


def print_figure(console: Console, figure: Figure, *, height: int = 12) -> None:
    console.print(BrailleChart(figure, height=height))
