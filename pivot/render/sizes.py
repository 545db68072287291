"""Amounts of data for people: ``512 B``, ``1.5 kB``, ``2.3 GB`` (decimal units).

One wording for every size Pivot shows: what push and fetch moved, and the outputs in the
TUI's Outputs tab.
"""

from __future__ import annotations

__all__ = ["human_size"]


def human_size(size: float | None) -> str:
    """``size`` bytes in decimal units with one decimal; ``-`` when the size is not known."""
    if size is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover
