"""Paged row listings of a data diff (no Textual here).

A table widget measures every cell it holds, so a 100k-row diff must never go into one whole:
the data-diff screen shows one :class:`Page` of rows at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pivot.core.reports.datadiff import DataDiff

#: Rows per page in the data-diff screen.
PAGE_SIZE = 100

#: How many rows of each kind the TUI asks the diff engine to list (pages cover them all).
TUI_MAX_ROWS = 1_000_000

Kind = Literal["added", "removed", "modified"]
_CELL = 40


@dataclasses.dataclass(frozen=True)
class Page:
    kind: Kind
    index: int  # 0-based
    count: int  # number of pages (at least 1)
    start: int  # index of the first row in the listing
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    listed: int  # rows listed in this kind (may be below the true count when capped)
    total: int  # rows of this kind in the whole file

    @property
    def label(self) -> str:
        if not self.listed:
            return "no rows"
        end = self.start + len(self.rows)
        text = f"rows {self.start + 1:,}-{end:,} of {self.listed:,}"
        if self.listed < self.total:
            text += f" listed ({self.total:,} in total)"
        return text + f" · page {self.index + 1}/{self.count}"


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, -(-total // size))


def listing_size(diff: DataDiff, kind: Kind) -> tuple[int, int]:
    """(rows listed, rows in total) for one kind of change."""
    if kind == "added":
        return len(diff.added_rows), diff.counts.added
    if kind == "removed":
        return len(diff.removed_rows), diff.counts.removed
    return len(diff.modified_rows), diff.counts.modified


def build_page(diff: DataDiff, kind: Kind, index: int, size: int = PAGE_SIZE) -> Page:
    """Page ``index`` (clamped to the valid range) of one kind of change."""
    from pivot.render.datadiff import cell_text

    listed, total = listing_size(diff, kind)
    count = page_count(listed, size)
    index = min(max(index, 0), count - 1)
    start = index * size
    rows: list[tuple[str, ...]]
    if kind in ("added", "removed"):
        side = diff.new if kind == "added" else diff.old
        listing = diff.added_rows if kind == "added" else diff.removed_rows
        columns: tuple[str, ...] = ("row", *side.column_names)
        rows = [
            (f"{r.row:,}", *(cell_text(v, _CELL) for v in r.values))
            for r in listing[start : start + size]
        ]
    else:
        changed = tuple(name for name, _ in diff.changed_cells)
        columns = ("row", *diff.keys, *changed)
        rows = []
        for m in diff.modified_rows[start : start + size]:
            cells = {c.column: c for c in m.changes}
            where = f"{m.old_row:,}" if m.old_row == m.new_row else f"{m.old_row:,}→{m.new_row:,}"
            values = [where, *(cell_text(k, _CELL) for k in m.key)]
            for name in changed:
                cell = cells.get(name)
                values.append(
                    ""
                    if cell is None
                    else f"{cell_text(cell.old, _CELL // 2)} → {cell_text(cell.new, _CELL // 2)}"
                )
            rows.append(tuple(values))
    return Page(kind, index, count, start, columns, tuple(rows), listed, total)


def kinds() -> Sequence[Kind]:
    return ("added", "removed", "modified")
