"""Data diffs for people: rich renderables for the terminal, Markdown, and JSON.

Text output is built from rich renderables (``Text`` and ``Table``) so the same objects
print in colour on a terminal and as plain text when piped (the caller's ``Console``
decides). Every listing says how many rows it shows out of how many there are.

The wording of each fact is decided once, here, and shared with the TUI's data-diff screen:
:func:`status_line`, :func:`rows_text`, :func:`mode_text`, :func:`schema_lines` and
:func:`cell_text`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pivot.core.reports.datadiff import SCHEMA_VERSION, DataDiff, ListedRow, ModifiedRow
from pivot.render.counts import plural
from pivot.render.tables import md_table, rich_table

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

__all__ = [
    "TONE_STYLES",
    "Tone",
    "cell_text",
    "key_hint",
    "mode_text",
    "render_json",
    "render_markdown",
    "render_text",
    "rows_text",
    "schema_lines",
    "status_line",
    "text_renderables",
]

#: What a piece of text says about the change; each front end picks its own colour for it.
Tone = Literal["plain", "added", "removed", "modified", "muted"]

_CELL_WIDTH = 48
_ARROW = " → "

#: The colour of each tone in row listings: the CLI's tables and the TUI's data-diff screen
#: both take it from here, so an added row looks alike in both.
TONE_STYLES: dict[Tone, str] = {
    "plain": "",
    "added": "green",
    "removed": "red",
    "modified": "yellow",
    "muted": "dim",
}
_STYLE_ADDED = TONE_STYLES["added"]
_STYLE_REMOVED = TONE_STYLES["removed"]
_STYLE_MODIFIED = TONE_STYLES["modified"]


# -- shared wording -----------------------------------------------------------------------


def _n(value: int) -> str:
    return f"{value:,}"


def _rows(count: int) -> str:
    return plural(count, "row", grouped=True)


def _delta(old: int, new: int) -> str:
    diff = new - old
    return f" ({'+' if diff > 0 else ''}{_n(diff)})" if diff else ""


def _versions(diff: DataDiff) -> str:
    old = diff.old.label
    if diff.old.revision and diff.old.revision != diff.old.label:
        old += f" {diff.old.revision[:7]}"
    if diff.old.source in ("git", "cache"):
        old += f" [{diff.old.source}]"
    return f"{old}{_ARROW}{diff.new.label}"


def mode_text(diff: DataDiff) -> str:
    """How rows were matched: ``by key id`` or ``by position``."""
    if diff.mode == "key":
        return "by key " + ", ".join(diff.keys)
    return "by position"


def rows_text(diff: DataDiff) -> str:
    """Row counts of both versions and the difference: ``9 → 4 (-5)``."""
    old, new = diff.old.rows, diff.new.rows
    return f"{_n(old)}{_ARROW}{_n(new)}{_delta(old, new)}"


def status_line(diff: DataDiff) -> str:
    """What happened to the file, in one line (the counts, or why there are none)."""
    c = diff.counts
    if diff.status == "identical":
        return "no changes"
    if diff.status == "reordered":
        return f"reordered only: same {_rows(diff.new.rows)}, {_n(c.moved or 0)} moved"
    if diff.status == "added":
        return f"new file: {_rows(diff.new.rows)} (absent at {diff.old.label})"
    if diff.status == "deleted":
        return f"deleted: {_rows(diff.old.rows)} at {diff.old.label}, absent in the workspace"
    parts = [
        f"{_n(c.added)} added",
        f"{_n(c.removed)} removed",
        f"{_n(c.modified)} modified",
        f"{_n(c.unchanged)} unchanged",
    ]
    return ", ".join(parts)


def cell_text(value: Any, width: int = _CELL_WIDTH) -> str:
    """A value of a data row on one line, cut to ``width`` characters.

    ``null``, ``true`` and ``false`` as in the files; strings with surrounding spaces or line
    breaks are quoted so that they can be told apart.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if value and value == value.strip() and "\n" not in value else repr(value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    if len(text) > width:
        text = text[: max(width - 1, 0)] + "…"
    return text


def _changed_columns(diff: DataDiff) -> list[str]:
    """Columns with a change among the listed rows, in the new version's column order."""
    seen = {change.column for row in diff.modified_rows for change in row.changes}
    return [name for name in diff.new.column_names if name in seen]


def _more(shown: int, total: int, what: str) -> str | None:
    if shown >= total:
        return None
    return f"… {_n(total - shown)} more {what} not shown (--max-rows N to list more)"


def _hint(diff: DataDiff) -> str | None:
    if diff.mode == "position" and diff.counts.modified:
        return "rows are compared by position; pass --key COL to match rows by a key column"
    return None


def key_hint(diff: DataDiff) -> str | None:
    """For a diff computed without ``--key``: how to pass one and what it changes.

    The instruction comes first, so a narrow screen that cuts the line keeps it.
    """
    if diff.mode != "position":
        return None
    return (
        "pass --key COL to pair rows by a key column; without one, row i is compared with "
        "row i, so one inserted row shows every row below it as modified"
    )


# -- rich text ----------------------------------------------------------------------------


def render_text(diffs: Sequence[DataDiff], console: Console) -> None:
    """Print diffs to a rich console, one block per file."""
    for index, diff in enumerate(diffs):
        if index:
            console.print()
        for renderable in text_renderables(diff):
            console.print(renderable)


def text_renderables(diff: DataDiff) -> Iterator[RenderableType]:
    """The renderables that make up one file's text diff, top to bottom."""
    from rich.text import Text

    header = Text()
    header.append(diff.path, style="bold")
    header.append(f"  {_versions(diff)} · {diff.format} · {mode_text(diff)}", style="dim")
    yield header

    status_style = {
        "identical": "green",
        "reordered": "cyan",
        "added": _STYLE_ADDED,
        "deleted": _STYLE_REMOVED,
        "changed": _STYLE_MODIFIED,
    }[diff.status]
    line = Text("  rows    ")
    line.append(rows_text(diff))
    yield line
    status = Text("  status  ")
    status.append(status_line(diff), style=status_style)
    yield status

    yield from _schema_text(diff)

    if diff.changed_cells:
        cells = Text("  cells   ")
        cells.append(", ".join(f"{name} {_n(count)}" for name, count in diff.changed_cells))
        yield cells

    hint = _hint(diff)
    if hint:
        yield Text(f"  hint: {hint}", style="dim")
    if diff.summary_only:
        if diff.status not in ("identical", "reordered"):
            yield Text(f"  summary only ({diff.summary_reason}): rows not listed", style="dim")
        return

    if diff.added_rows:
        yield from _listed_table(
            "added", diff.added_rows, diff.new.column_names, diff.counts.added, _STYLE_ADDED, "+"
        )
    if diff.removed_rows:
        yield from _listed_table(
            "removed",
            diff.removed_rows,
            diff.old.column_names,
            diff.counts.removed,
            _STYLE_REMOVED,
            "-",
        )
    if diff.modified_rows:
        yield from _modified_table(diff)


def schema_lines(diff: DataDiff) -> list[tuple[Tone, list[tuple[str, Tone]]]]:
    """Schema changes, a line each: the line's tone and its toned pieces of text.

    Empty for a file that is new or deleted (its whole schema changed, which says nothing).
    """
    schema = diff.schema
    if diff.status in ("added", "deleted"):
        return []
    lines: list[tuple[Tone, list[tuple[str, Tone]]]] = []
    for col in schema.added:
        lines.append(("plain", [(f"+ {col.name} ({col.dtype})", "added")]))
    for col in schema.removed:
        lines.append(("plain", [(f"- {col.name} ({col.dtype})", "removed")]))
    for change in schema.type_changes:
        lines.append(
            (
                "plain",
                [
                    (f"~ {change.name}: ", "modified"),
                    (change.old, "removed"),
                    (_ARROW, "plain"),
                    (change.new, "added"),
                ],
            )
        )
    if schema.order_changed:
        lines.append(("muted", [("column order changed", "plain")]))
    return lines


def _schema_text(diff: DataDiff) -> Iterator[Text]:
    from rich.text import Text

    for tone, pieces in schema_lines(diff):
        line = Text("  schema  ", style=TONE_STYLES[tone])
        for text, piece_tone in pieces:
            line.append(text, style=TONE_STYLES[piece_tone])
        yield line


def _title(title: str, style: str) -> Iterator[Text]:
    from rich.text import Text

    yield Text("")
    yield Text(title, style=f"bold {style}")


def _listed_table(
    what: str,
    rows: Sequence[ListedRow],
    columns: Sequence[str],
    total: int,
    style: str,
    sign: str,
) -> Iterator[RenderableType]:
    from rich.text import Text

    shown = f"{_n(len(rows))} of {_n(total)}" if len(rows) < total else _n(total)
    yield from _title(f"{sign} {what} rows ({shown})", style)
    table = rich_table()
    table.add_column("row", justify="right", style="dim", no_wrap=True, min_width=_width(rows))
    for name in columns:
        table.add_column(name, style=style, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(str(row.row), *(_styled(v) for v in row.values))
    yield table
    more = _more(len(rows), total, f"{what} rows")
    if more:
        yield Text(more, style="dim")


def _width(rows: Sequence[ListedRow | ModifiedRow]) -> int:
    """Room for the largest row number, so that rich never squeezes that column away."""
    numbers = [r.row if isinstance(r, ListedRow) else r.new_row for r in rows]
    return max(3, *(len(str(n)) for n in numbers)) if numbers else 3


def _styled(value: Any) -> Text:
    from rich.text import Text

    return Text(cell_text(value), style="dim italic" if value is None else "")


def _modified_table(diff: DataDiff) -> Iterator[RenderableType]:
    from rich.text import Text

    rows = diff.modified_rows
    total = diff.counts.modified
    shown = f"{_n(len(rows))} of {_n(total)}" if len(rows) < total else _n(total)
    yield from _title(f"~ modified rows ({shown})", _STYLE_MODIFIED)
    table = rich_table()
    if diff.keys:
        for key in diff.keys:
            table.add_column(key, style="bold", no_wrap=True)
    else:
        table.add_column("row", justify="right", style="dim", no_wrap=True, min_width=_width(rows))
    changed = _changed_columns(diff)
    for name in changed:
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    for row in rows:
        by_column = {c.column: c for c in row.changes}
        lead = [cell_text(v) for v in row.key] if diff.keys else [str(row.new_row)]
        cells: list[Text | str] = list(lead)
        for name in changed:
            change = by_column.get(name)
            if change is None:
                cells.append(Text("·", style="dim"))
                continue
            cell = Text()
            cell.append(cell_text(change.old), style=_STYLE_REMOVED)
            cell.append(_ARROW, style="dim")
            cell.append(cell_text(change.new), style=_STYLE_ADDED)
            cells.append(cell)
        table.add_row(*cells)
    yield table
    more = _more(len(rows), total, "modified rows")
    if more:
        yield Text(more, style="dim")


# -- markdown -----------------------------------------------------------------------------


def render_markdown(diffs: Sequence[DataDiff]) -> str:
    """GitHub-flavoured Markdown for a set of diffs (for PR comments and reports)."""
    out: list[str] = []
    for diff in diffs:
        out += [f"### `{diff.path}`", ""]
        out += [f"{_versions(diff)} · {diff.format} · {mode_text(diff)}", ""]
        out += [
            f"- **rows**: {rows_text(diff)}",
            f"- **status**: {status_line(diff)}",
        ]
        if diff.changed_cells:
            cells = ", ".join(f"`{n}` {_n(c)}" for n, c in diff.changed_cells)
            out.append(f"- **changed cells**: {cells}")
        hint = _hint(diff)
        if hint:
            out.append(f"- _{hint}_")
        if diff.summary_only and diff.status not in ("identical", "reordered"):
            out.append(f"- _summary only ({diff.summary_reason}): rows not listed_")
        out.append("")
        schema = diff.schema
        if diff.status not in ("added", "deleted") and (schema.changed or schema.order_changed):
            rows = [("added", c.name, "", c.dtype) for c in schema.added]
            rows += [("removed", c.name, c.dtype, "") for c in schema.removed]
            rows += [("type", t.name, t.old, t.new) for t in schema.type_changes]
            if schema.order_changed:
                rows.append(("order", "(column order changed)", "", ""))
            out += ["**Schema**", "", *md_table(["change", "column", "old", "new"], rows), ""]
        if diff.summary_only:
            continue
        for what, listed, columns, total in (
            ("Added", diff.added_rows, diff.new.column_names, diff.counts.added),
            ("Removed", diff.removed_rows, diff.old.column_names, diff.counts.removed),
        ):
            if not listed:
                continue
            out += [f"**{what} rows** ({_n(len(listed))} of {_n(total)})", ""]
            out += md_table(
                ["row", *columns], ([str(r.row), *(cell_text(v) for v in r.values)] for r in listed)
            )
            out.append("")
        if diff.modified_rows:
            changed = _changed_columns(diff)
            lead = list(diff.keys) if diff.keys else ["row"]
            body: list[list[str]] = []
            for row in diff.modified_rows:
                by_column = {c.column: c for c in row.changes}
                md_cells = [cell_text(v) for v in row.key] if diff.keys else [str(row.new_row)]
                for name in changed:
                    ch = by_column.get(name)
                    md_cells.append(f"{cell_text(ch.old)}{_ARROW}{cell_text(ch.new)}" if ch else "")
                body.append(md_cells)
            out += [
                f"**Modified rows** ({_n(len(diff.modified_rows))} of {_n(diff.counts.modified)})",
                "",
                *md_table([*lead, *changed], body),
                "",
            ]
    return "\n".join(out).rstrip() + "\n"


# -- json ---------------------------------------------------------------------------------


def render_json(diffs: Sequence[DataDiff], *, indent: int | None = 2) -> str:
    """The documented JSON document (``docs/data-diff.md``) for a set of diffs."""
    document = {"schema_version": SCHEMA_VERSION, "files": [d.to_dict() for d in diffs]}
    return json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False)
