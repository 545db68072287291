"""The colour of each plotted series, shared by the SVG page and the terminal chart, so a
series looks alike in both."""

from __future__ import annotations

from pivot.core.reports.plots import Figure

__all__ = ["PALETTE", "color_indexes"]

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)


def color_indexes(figure: Figure) -> list[int]:
    """Palette index of each series: by colour key, in order of first appearance."""
    keys: dict[str, int] = {}
    indexes = []
    for series in figure.series:
        key = series.color_key or series.name
        indexes.append(keys.setdefault(key, len(keys)) % len(PALETTE))
    return indexes
