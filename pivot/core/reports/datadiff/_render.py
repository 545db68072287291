"""Presenting data diffs: rich renderables for the terminal, Markdown, and JSON.

Text output is built from rich renderables (``Text`` and ``Table``) so the same objects
print in colour on a terminal and as plain text when piped (the caller's ``Console``
decides). Every listing says how many rows it shows out of how many there are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pivot.core.reports.datadiff._model import SCHEMA_VERSION, DataDiff, ListedRow, ModifiedRow

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MAX_ROWS_JSON",
    "render_json",
    "render_markdown",
    "render_text",
    "text_renderables",
]

DEFAULT_MAX_ROWS = 50
DEFAULT_MAX_ROWS_JSON = 1000
_CELL_WIDTH = 48
_ARROW = " → "

_STYLE_ADDED = "green"
_STYLE_REMOVED = "red"
_STYLE_MODIFIED = "yellow"


# -- shared wording -----------------------------------------------------------------------


def _n(value: int) -> str:
    return f"{value:,}"


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


def _mode(diff: DataDiff) -> str:
    if diff.mode == "key":
        return "by key " + ", ".join(diff.keys)
    return "by position"


def _status_line(diff: DataDiff) -> str:
    c = diff.counts
    if diff.status == "identical":
        return "no changes"
    if diff.status == "reordered":
        return f"reordered only: same {_n(diff.new.rows)} rows, {_n(c.moved or 0)} moved"
    if diff.status == "added":
        return f"new file: {_n(diff.new.rows)} rows (absent at {diff.old.label})"
    if diff.status == "deleted":
        return f"deleted: {_n(diff.old.rows)} rows at {diff.old.label}, absent in the workspace"
    parts = [
        f"{_n(c.added)} added",
        f"{_n(c.removed)} removed",
        f"{_n(c.modified)} modified",
        f"{_n(c.unchanged)} unchanged",
    ]
    return ", ".join(parts)


def _cell(value: Any) -> str:
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
    if len(text) > _CELL_WIDTH:
        text = text[: _CELL_WIDTH - 1] + "…"
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
    header.append(f"  {_versions(diff)} · {diff.format} · {_mode(diff)}", style="dim")
    yield header

    status_style = {
        "identical": "green",
        "reordered": "cyan",
        "added": _STYLE_ADDED,
        "deleted": _STYLE_REMOVED,
        "changed": _STYLE_MODIFIED,
    }[diff.status]
    line = Text("  rows    ")
    line.append(
        f"{_n(diff.old.rows)}{_ARROW}{_n(diff.new.rows)}{_delta(diff.old.rows, diff.new.rows)}"
    )
    yield line
    status = Text("  status  ")
    status.append(_status_line(diff), style=status_style)
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


def _schema_text(diff: DataDiff) -> Iterator[Text]:
    from rich.text import Text

    schema = diff.schema
    if diff.status in ("added", "deleted"):
        return
    for col in schema.added:
        line = Text("  schema  ")
        line.append(f"+ {col.name} ({col.dtype})", style=_STYLE_ADDED)
        yield line
    for col in schema.removed:
        line = Text("  schema  ")
        line.append(f"- {col.name} ({col.dtype})", style=_STYLE_REMOVED)
        yield line
    for change in schema.type_changes:
        line = Text("  schema  ")
        line.append(f"~ {change.name}: ", style=_STYLE_MODIFIED)
        line.append(change.old, style=_STYLE_REMOVED)
        line.append(_ARROW)
        line.append(change.new, style=_STYLE_ADDED)
        yield line
    if schema.order_changed:
        yield Text("  schema  column order changed", style="dim")


def _title(title: str, style: str) -> Iterator[Text]:
    from rich.text import Text

    yield Text("")
    yield Text(title, style=f"bold {style}")


def _table() -> Table:
    from rich import box
    from rich.table import Table

    return Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
    )


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
    table = _table()
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

    return Text(_cell(value), style="dim italic" if value is None else "")


def _modified_table(diff: DataDiff) -> Iterator[RenderableType]:
    from rich.text import Text

    rows = diff.modified_rows
    total = diff.counts.modified
    shown = f"{_n(len(rows))} of {_n(total)}" if len(rows) < total else _n(total)
    yield from _title(f"~ modified rows ({shown})", _STYLE_MODIFIED)
    table = _table()
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
        lead = [_cell(v) for v in row.key] if diff.keys else [str(row.new_row)]
        cells: list[Text | str] = list(lead)
        for name in changed:
            change = by_column.get(name)
            if change is None:
                cells.append(Text("·", style="dim"))
                continue
            cell = Text()
            cell.append(_cell(change.old), style=_STYLE_REMOVED)
            cell.append(_ARROW, style="dim")
            cell.append(_cell(change.new), style=_STYLE_ADDED)
            cells.append(cell)
        table.add_row(*cells)
    yield table
    more = _more(len(rows), total, "modified rows")
    if more:
        yield Text(more, style="dim")


# -- markdown -----------------------------------------------------------------------------


def _md(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(_md(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(diffs: Sequence[DataDiff]) -> str:
    """GitHub-flavoured Markdown for a set of diffs (for PR comments and reports)."""
    out: list[str] = []
    for diff in diffs:
        out += [f"### `{diff.path}`", ""]
        out += [f"{_versions(diff)} · {diff.format} · {_mode(diff)}", ""]
        out += [
            f"- **rows**: {_n(diff.old.rows)}{_ARROW}{_n(diff.new.rows)}"
            f"{_delta(diff.old.rows, diff.new.rows)}",
            f"- **status**: {_status_line(diff)}",
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
            out += ["**Schema**", "", *_md_table(["change", "column", "old", "new"], rows), ""]
        if diff.summary_only:
            continue
        for what, listed, columns, total in (
            ("Added", diff.added_rows, diff.new.column_names, diff.counts.added),
            ("Removed", diff.removed_rows, diff.old.column_names, diff.counts.removed),
        ):
            if not listed:
                continue
            out += [f"**{what} rows** ({_n(len(listed))} of {_n(total)})", ""]
            out += _md_table(
                ["row", *columns], ([str(r.row), *(_cell(v) for v in r.values)] for r in listed)
            )
            out.append("")
        if diff.modified_rows:
            changed = _changed_columns(diff)
            lead = list(diff.keys) if diff.keys else ["row"]
            body: list[list[str]] = []
            for row in diff.modified_rows:
                by_column = {c.column: c for c in row.changes}
                md_cells = [_cell(v) for v in row.key] if diff.keys else [str(row.new_row)]
                for name in changed:
                    ch = by_column.get(name)
                    md_cells.append(f"{_cell(ch.old)}{_ARROW}{_cell(ch.new)}" if ch else "")
                body.append(md_cells)
            out += [
                f"**Modified rows** ({_n(len(diff.modified_rows))} of {_n(diff.counts.modified)})",
                "",
                *_md_table([*lead, *changed], body),
                "",
            ]
    return "\n".join(out).rstrip() + "\n"


# -- json ---------------------------------------------------------------------------------


def render_json(diffs: Sequence[DataDiff], *, indent: int | None = 2) -> str:
    """The documented JSON document (``docs/data-diff.md``) for a set of diffs."""
    document = {"schema_version": SCHEMA_VERSION, "files": [d.to_dict() for d in diffs]}
    return json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False)
