"""Immutable results of a data diff, and their JSON form.

Values inside rows are plain Python objects as polars returns them (``int``, ``float``,
``str``, ``None``, ``datetime.date``, ``Decimal``, lists, dicts, ...). :func:`jsonable`
turns them into JSON-safe values; ``to_dict()`` on every result applies it, so
``json.dumps(diff.to_dict())`` always works. The JSON schema is documented in
``docs/data-diff.md`` and versioned by :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MAX_ROWS_JSON",
    "SCHEMA_VERSION",
    "CellChange",
    "Column",
    "DataDiff",
    "ListedRow",
    "ModifiedRow",
    "RowCounts",
    "SchemaDiff",
    "Side",
    "Status",
    "TypeChange",
    "jsonable",
]

SCHEMA_VERSION = 1

#: Rows listed per kind of change unless asked otherwise (text and Markdown; JSON lists more).
DEFAULT_MAX_ROWS = 50
DEFAULT_MAX_ROWS_JSON = 1000

Status = Literal["identical", "changed", "reordered", "added", "deleted"]
Mode = Literal["key", "position"]
SideSource = Literal["git", "cache", "workspace", "missing"]


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}


@dataclass(frozen=True)
class TypeChange:
    name: str
    old: str
    new: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class SchemaDiff:
    """Columns added and removed (by name), dtype changes, and whether the order changed."""

    added: tuple[Column, ...] = ()
    removed: tuple[Column, ...] = ()
    type_changes: tuple[TypeChange, ...] = ()
    order_changed: bool = False

    @property
    def changed(self) -> bool:
        """True when columns or dtypes differ (a pure column-order change does not count)."""
        return bool(self.added or self.removed or self.type_changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [c.to_dict() for c in self.added],
            "removed": [c.to_dict() for c in self.removed],
            "type_changes": [t.to_dict() for t in self.type_changes],
            "order_changed": self.order_changed,
        }


@dataclass(frozen=True)
class Side:
    """One version of the file: where it came from and its shape."""

    label: str
    source: SideSource
    rows: int
    columns: tuple[Column, ...]
    revision: str | None = None
    size: int | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "source": self.source,
            "revision": self.revision,
            "size": self.size,
            "rows": self.rows,
            "columns": [c.to_dict() for c in self.columns],
        }


@dataclass(frozen=True)
class ListedRow:
    """A whole added or removed row; ``row`` is its 1-based position in its own version."""

    row: int
    values: tuple[Any, ...]

    def to_dict(self, columns: Sequence[str]) -> dict[str, Any]:
        return {
            "row": self.row,
            "values": {c: jsonable(v) for c, v in zip(columns, self.values, strict=True)},
        }


@dataclass(frozen=True)
class CellChange:
    column: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"old": jsonable(self.old), "new": jsonable(self.new)}


@dataclass(frozen=True)
class ModifiedRow:
    """A row present in both versions with at least one differing cell.

    ``key`` holds the key values (empty in positional mode); ``old_row``/``new_row`` are the
    1-based positions of the row in each version (equal in positional mode). ``values`` are
    the new version's values of :attr:`DataDiff.compared_columns`, changed or not, so that a
    browser can show a modified row whole; the JSON form lists the changes only.
    """

    key: tuple[Any, ...]
    old_row: int
    new_row: int
    changes: tuple[CellChange, ...]
    values: tuple[Any, ...] = ()

    def to_dict(self, keys: Sequence[str]) -> dict[str, Any]:
        return {
            "key": {k: jsonable(v) for k, v in zip(keys, self.key, strict=True)} if keys else None,
            "old_row": self.old_row,
            "new_row": self.new_row,
            "changes": {c.column: c.to_dict() for c in self.changes},
        }


@dataclass(frozen=True)
class RowCounts:
    """Row-level counts, always computed over the whole files (never capped).

    ``moved`` counts rows whose position changed; it is ``None`` when rows were added or
    removed, since positions then shift for reasons other than reordering.
    """

    added: int = 0
    removed: int = 0
    modified: int = 0
    unchanged: int = 0
    moved: int | None = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "modified": self.modified,
            "unchanged": self.unchanged,
            "moved": self.moved,
        }


@dataclass(frozen=True)
class DataDiff:
    """The full comparison of one file between two versions.

    ``compared_columns`` are the non-key columns present in both versions (in the new
    version's order): the only ones whose values can make a row modified.
    """

    path: str
    format: str
    old: Side
    new: Side
    mode: Mode
    keys: tuple[str, ...]
    status: Status
    schema: SchemaDiff
    counts: RowCounts
    changed_cells: tuple[tuple[str, int], ...] = ()
    added_rows: tuple[ListedRow, ...] = ()
    removed_rows: tuple[ListedRow, ...] = ()
    modified_rows: tuple[ModifiedRow, ...] = ()
    summary_only: bool = False
    summary_reason: str | None = None
    max_rows: int = 50
    compared_columns: tuple[str, ...] = ()

    @property
    def truncated(self) -> bool:
        """True when some changed rows are counted but not listed."""
        if self.status == "reordered":
            return False
        return (
            len(self.added_rows) < self.counts.added
            or len(self.removed_rows) < self.counts.removed
            or len(self.modified_rows) < self.counts.modified
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "status": self.status,
            "mode": self.mode,
            "keys": list(self.keys),
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
            "schema": self.schema.to_dict(),
            "rows": self.counts.to_dict(),
            "changed_cells": dict(self.changed_cells),
            "summary_only": self.summary_only,
            "summary_reason": self.summary_reason,
            "max_rows": self.max_rows,
            "truncated": self.truncated,
            "added_rows": [r.to_dict(self.new.column_names) for r in self.added_rows],
            "removed_rows": [r.to_dict(self.old.column_names) for r in self.removed_rows],
            "modified_rows": [r.to_dict(self.keys) for r in self.modified_rows],
        }


def jsonable(value: Any) -> Any:
    """A JSON-safe version of a cell value (see the table in ``docs/data-diff.md``)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [jsonable(v) for v in value]
    return str(value)
