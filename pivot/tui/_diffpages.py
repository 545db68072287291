"""Paged row listings of a data diff, as rich text (no Textual here).

A table widget measures every cell it holds, so a 100k-row diff must never go into one whole:
the data-diff screen shows one :class:`Page` of rows at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from rich.text import Text

from pivot.render.datadiff import TONE_STYLES, cell_text

if TYPE_CHECKING:
    from pivot.core.reports.datadiff import DataDiff

#: Rows per page in the data-diff screen.
PAGE_SIZE = 100

#: How many rows of each kind the TUI asks the diff engine to list (pages cover them all).
TUI_MAX_ROWS = 1_000_000

Kind = Literal["added", "removed", "modified"]
_CELL = 40
_MUTED = TONE_STYLES["muted"]


@dataclasses.dataclass(frozen=True)
class Page:
    kind: Kind
    index: int  # 0-based
    count: int  # number of pages (at least 1)
    start: int  # index of the first row in the listing
    columns: tuple[str, ...]
    rows: tuple[tuple[Text, ...], ...]
    listed: int  # rows listed in this kind (may be below the true count when capped)
    total: int  # rows of this kind in the whole file

    @property
    def widths(self) -> tuple[int, ...]:
        """Each column's width: its widest cell or header.

        Given to the table up front, so that it draws the page at its final widths at once
        instead of measuring every cell later, when idle.
        """
        widths = [len(name) for name in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], cell.cell_len)
        return tuple(widths)

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


def build_page(
    diff: DataDiff, kind: Kind, index: int, size: int = PAGE_SIZE, *, unchanged: bool = False
) -> Page:
    """Page ``index`` (clamped to the valid range) of one kind of change.

    Added rows are tinted as ``pivot data diff`` tints them, removed rows likewise. Modified
    rows show their key (or row number, without a key) and the changed cells ``old → new``;
    ``unchanged`` adds the columns whose value did not change in the row.
    """
    listed, total = listing_size(diff, kind)
    count = page_count(listed, size)
    index = min(max(index, 0), count - 1)
    start = index * size
    if kind == "modified":
        columns, rows = _modified_rows(diff, start, size, unchanged)
    else:
        columns, rows = _listed_rows(diff, kind, start, size)
    return Page(kind, index, count, start, columns, rows, listed, total)


def _listed_rows(
    diff: DataDiff, kind: Kind, start: int, size: int
) -> tuple[tuple[str, ...], tuple[tuple[Text, ...], ...]]:
    side = diff.new if kind == "added" else diff.old
    listing = diff.added_rows if kind == "added" else diff.removed_rows
    tint = TONE_STYLES[kind]
    rows = tuple(
        (Text(f"{r.row:,}", style=_MUTED), *(_value(v, tint) for v in r.values))
        for r in listing[start : start + size]
    )
    return ("row", *side.column_names), rows


def _modified_rows(
    diff: DataDiff, start: int, size: int, unchanged: bool
) -> tuple[tuple[str, ...], tuple[tuple[Text, ...], ...]]:
    changed = {name for name, _ in diff.changed_cells}
    shown = tuple(c for c in diff.compared_columns if unchanged or c in changed)
    position = {name: i for i, name in enumerate(diff.compared_columns)}
    lead: tuple[str, ...] = diff.keys if diff.keys else ("row",)
    rows = []
    for m in diff.modified_rows[start : start + size]:
        cells: list[Text] = (
            [Text(cell_text(k, _CELL), style="bold") for k in m.key]
            if diff.keys
            else [Text(f"{m.new_row:,}", style=_MUTED)]
        )
        by_column = {c.column: c for c in m.changes}
        for name in shown:
            change = by_column.get(name)
            if change is not None:
                cells.append(_change(change.old, change.new))
            elif unchanged and m.values:
                cells.append(_value(m.values[position[name]], ""))
            else:
                cells.append(Text("·", style=_MUTED))
        rows.append(tuple(cells))
    return (*lead, *shown), tuple(rows)


def _value(value: Any, tint: str) -> Text:
    style = f"{tint} dim italic".strip() if value is None else tint
    return Text(cell_text(value, _CELL), style=style)


def _change(old: Any, new: Any) -> Text:
    text = Text()
    text.append(cell_text(old, _CELL // 2), style=TONE_STYLES["removed"])
    text.append(" → ", style=_MUTED)
    text.append(cell_text(new, _CELL // 2), style=TONE_STYLES["added"])
    return text


def kinds() -> Sequence[Kind]:
    return ("added", "removed", "modified")
