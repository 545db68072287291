"""Counts of things for people: ``1 stage``, ``2 stages``, ``0 files``.

Every count Pivot prints next to a noun goes through :func:`plural`, so no message ever says
``1 stages``.
"""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, many: str | None = None, *, grouped: bool = False) -> str:
    """``count`` followed by ``noun``, or by its plural when ``count`` is not 1.

    ``many`` is the plural when adding ``s`` is wrong (``plural(n, "entry", "entries")``);
    ``grouped`` writes thousands with separators (``12,000 rows``).
    """
    number = f"{count:,}" if grouped else str(count)
    return f"{number} {noun if count == 1 else (many or noun + 's')}"
