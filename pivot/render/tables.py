"""Tables: GitHub-flavoured Markdown, and the rich table style of the CLI's listings.

Every Markdown table Pivot prints (metrics, params, data diffs) is built by :func:`md_table`,
so cells are escaped the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["md_cell", "md_table", "rich_table"]


def md_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell: pipes and backslashes escaped, one line."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table (no trailing blank line)."""
    lines = [
        "| " + " | ".join(md_cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines


def rich_table(*headers: str) -> Table:
    """A borderless rich table with a rule under its bold header.

    Columns named in ``headers`` fold long cells; pass none to add columns with their own
    options.
    """
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    return table
