"""The diff engine: two polars DataFrames in, one immutable :class:`DataDiff` out.

Two modes:

- **by key** (``keys`` given): the versions are joined on the key columns (nulls match
  nulls). Rows only in the new version are *added*, only in the old one *removed*; a row in
  both is *modified* when any non-key column present on both sides differs. Comparison is
  null-aware (null equals null). When a column's dtype changed, values are compared as
  Float64 if both dtypes are numeric, else as strings; the dtype change itself is reported in
  the schema.
- **by position** (no keys): when both versions hold the same multiset of rows in a
  different order the result is *reordered*; otherwise row i is compared with row i over
  the common length, and extra rows at the end are added or removed.

Counts are always computed over the whole files with lazy polars queries on the streaming
engine; by key, only the key columns are joined and the other columns are compared after
(see :func:`_by_key`). Only the first ``max_rows`` rows of each category are materialised
as Python objects, and none in summary-only mode.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pivot.core.reports.datadiff._model import (
    CellChange,
    Column,
    DataDiff,
    ListedRow,
    ModifiedRow,
    RowCounts,
    SchemaDiff,
    Side,
    SideSource,
    Status,
    TypeChange,
)
from pivot.exceptions import DataDiffError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["SideInfo", "diff_frames"]

# Internal column names; the NUL byte keeps them clear of any real column name.
_ROW_OLD = "\0row_old"
_ROW_NEW = "\0row_new"
_KEY = "\0key:"
_OLD = "\0old:"
_NEW = "\0new:"
_FLAG = "\0diff:"
_LEN = "\0len"
_MODIFIED = "\0modified"
_MOVED = "\0moved"


@dataclass(frozen=True)
class SideInfo:
    """What the caller knows about one version: how to name it and where it came from.

    ``missing`` means the file does not exist in that version; its frame is then ignored.
    """

    label: str
    source: SideSource
    description: str
    revision: str | None = None
    size: int | None = None

    @property
    def missing(self) -> bool:
        return self.source == "missing"


def diff_frames(
    old: pl.DataFrame,
    new: pl.DataFrame,
    *,
    keys: Sequence[str] = (),
    max_rows: int = 50,
    summary_only: bool = False,
    summary_reason: str | None = None,
    path: str = "",
    fmt: str = "",
    old_info: SideInfo | None = None,
    new_info: SideInfo | None = None,
) -> DataDiff:
    """Compare two versions of a table. See the module docstring for the semantics."""
    import polars as pl

    old_info = old_info or SideInfo("old", "workspace", "old version")
    new_info = new_info or SideInfo("new", "workspace", "new version")
    if old_info.missing and new_info.missing:
        raise DataDiffError(f"{path or 'the file'} exists in neither version")
    if old_info.missing:
        old = pl.DataFrame(schema=new.schema)
    if new_info.missing:
        new = pl.DataFrame(schema=old.schema)
    keys = tuple(dict.fromkeys(keys))
    limit = 0 if summary_only else max(0, max_rows)

    schema = _schema_diff(old, new)
    if keys:
        body = _by_key(old, new, keys, limit, old_info, new_info)
    else:
        body = _by_position(old, new, limit)

    status: Status
    if old_info.missing:
        status = "added"
    elif new_info.missing:
        status = "deleted"
    elif schema.changed or body.counts.added or body.counts.removed or body.counts.modified:
        status = "changed"
    elif body.counts.moved:
        status = "reordered"
    elif schema.order_changed:
        status = "changed"
    else:
        status = "identical"

    return DataDiff(
        path=path,
        format=fmt,
        old=_side(old_info, old),
        new=_side(new_info, new),
        mode="key" if keys else "position",
        keys=keys,
        status=status,
        schema=schema,
        counts=body.counts,
        changed_cells=body.changed_cells,
        added_rows=body.added_rows,
        removed_rows=body.removed_rows,
        modified_rows=() if status == "reordered" else body.modified_rows,
        summary_only=summary_only,
        summary_reason=summary_reason if summary_only else None,
        max_rows=max_rows,
        compared_columns=tuple(_common_columns(old, new, keys)),
    )


@dataclass(frozen=True)
class _Body:
    counts: RowCounts
    changed_cells: tuple[tuple[str, int], ...] = ()
    added_rows: tuple[ListedRow, ...] = ()
    removed_rows: tuple[ListedRow, ...] = ()
    modified_rows: tuple[ModifiedRow, ...] = ()


def _side(info: SideInfo, frame: pl.DataFrame) -> Side:
    columns = () if info.missing else _columns(frame)
    rows = 0 if info.missing else frame.height
    return Side(info.label, info.source, rows, columns, info.revision, info.size)


def _columns(frame: pl.DataFrame) -> tuple[Column, ...]:
    return tuple(Column(name, str(dtype)) for name, dtype in frame.schema.items())


def _schema_diff(old: pl.DataFrame, new: pl.DataFrame) -> SchemaDiff:
    import polars as pl

    old_schema, new_schema = old.schema, new.schema
    added = tuple(Column(n, str(t)) for n, t in new_schema.items() if n not in old_schema)
    removed = tuple(Column(n, str(t)) for n, t in old_schema.items() if n not in new_schema)
    # A Null dtype means "unknown" (a header-only CSV, an all-null JSON column): no change.
    changes = tuple(
        TypeChange(n, str(old_schema[n]), str(t))
        for n, t in new_schema.items()
        if n in old_schema and old_schema[n] != t and pl.Null not in (old_schema[n], t)
    )
    common_old = [n for n in old_schema if n in new_schema]
    common_new = [n for n in new_schema if n in old_schema]
    return SchemaDiff(added, removed, changes, order_changed=common_old != common_new)


def _common_columns(old: pl.DataFrame, new: pl.DataFrame, exclude: Sequence[str]) -> list[str]:
    return [c for c in new.columns if c in old.schema and c not in exclude]


def _differs(a: pl.Expr, b: pl.Expr, old_dtype: pl.DataType, new_dtype: pl.DataType) -> pl.Expr:
    """True where the old values ``a`` and the new values ``b`` differ (null equals null)."""
    import polars as pl

    if old_dtype == new_dtype:
        return a.ne_missing(b)
    if old_dtype.is_numeric() and new_dtype.is_numeric():
        return a.cast(pl.Float64).ne_missing(b.cast(pl.Float64))
    if old_dtype.is_nested() or new_dtype.is_nested():
        # No common representation: every pair counts as changed unless both are null.
        return ~(a.is_null() & b.is_null())
    return a.cast(pl.String).ne_missing(b.cast(pl.String))


def _any(flags: list[pl.Expr]) -> pl.Expr:
    import polars as pl

    return pl.any_horizontal(flags) if flags else pl.lit(False)


def _changes(
    row: dict[str, Any], columns: Sequence[str], flags_prefix: str = _FLAG
) -> tuple[CellChange, ...]:
    return tuple(
        CellChange(c, row[_OLD + c], row[_NEW + c]) for c in columns if row[flags_prefix + c]
    )


def _new_values(columns: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function taking a named result row to its new values of ``columns``, as a tuple.

    ``itemgetter`` keeps this cheap: it runs once per listed modified row.
    """
    names = [_NEW + c for c in columns]
    if not names:
        return lambda row: ()
    getter = operator.itemgetter(*names)
    if len(names) == 1:
        return lambda row: (getter(row),)
    return getter


def _changed_cells(counts: dict[str, Any], columns: Sequence[str]) -> tuple[tuple[str, int], ...]:
    return tuple((c, int(counts[_FLAG + c])) for c in columns if counts[_FLAG + c])


# -- by key -------------------------------------------------------------------------------


def _by_key(
    old: pl.DataFrame,
    new: pl.DataFrame,
    keys: tuple[str, ...],
    limit: int,
    old_info: SideInfo,
    new_info: SideInfo,
) -> _Body:
    """Match rows on the keys, then compare the matched rows column by column.

    Only the key columns go through the join, which yields for each new row the index of
    the old row with the same key. Each column is then compared by gathering the old values
    in new-row order. Carrying every column through a join instead cost about three times
    the time and 200 MiB more memory on the 1M-row benchmark (its hash table holds a copy of
    one side).
    """

    _check_key_columns(old, keys, old_info)
    _check_key_columns(new, keys, new_info)
    old_keys = old.lazy().select(_key_exprs(old, new, keys))
    new_keys = new.lazy().select(_key_exprs(old, new, keys))
    _check_unique(old_keys, keys, old_info)
    _check_unique(new_keys, keys, new_info)

    common = _common_columns(old, new, keys)
    old_index = _match_rows(old_keys, new_keys, keys)
    (flags,) = _collect([_flags(old, new, old_index, common)])
    body = _key_counts(flags, old.height, common)
    if not limit:
        return body
    counts = body.counts
    added = old_index.is_null().arg_true().head(limit) if counts.added else None
    removed = _unmatched(old_index, old.height).head(limit) if counts.removed else None
    modified = _modified_rows(old, new, flags, keys, common, limit) if counts.modified else ()
    return _Body(
        counts,
        body.changed_cells,
        added_rows=_listed(_rows_at(new, added, _ROW_NEW)),
        removed_rows=_listed(_rows_at(old, removed, _ROW_OLD)),
        modified_rows=modified,
    )


def _key_counts(flags: pl.DataFrame, old_height: int, common: Sequence[str]) -> _Body:
    """Row and cell counts from the flags of each new row (see :func:`_flags`)."""
    import polars as pl

    totals = flags.select(
        (pl.col(_ROW_OLD) != pl.int_range(pl.len(), dtype=pl.UInt32)).sum().alias(_MOVED),
        _any([pl.col(_FLAG + c) for c in common]).sum().alias(_MODIFIED),
        *[pl.col(_FLAG + c).sum() for c in common],
    ).row(0, named=True)
    n_added = flags.get_column(_ROW_OLD).null_count()
    matched_rows = flags.height - n_added
    n_removed = old_height - matched_rows
    n_modified = int(totals[_MODIFIED])
    counts = RowCounts(
        added=n_added,
        removed=n_removed,
        modified=n_modified,
        unchanged=matched_rows - n_modified,
        moved=int(totals[_MOVED]) if not (n_added or n_removed) else None,
    )
    return _Body(counts, _changed_cells(totals, common))


def _check_key_columns(frame: pl.DataFrame, keys: Sequence[str], info: SideInfo) -> None:
    """Raise a :class:`DataDiffError` when a key column is missing from a version."""
    if info.missing:
        return
    missing = [k for k in keys if k not in frame.schema]
    if missing:
        names = ", ".join(repr(k) for k in missing)
        plural = "s" if len(missing) > 1 else ""
        have = ", ".join(frame.columns[:10]) + (", ..." if frame.width > 10 else "")
        raise DataDiffError(
            f"key column{plural} {names} missing from {info.description} "
            f"(columns: {have or 'none'})"
        )


def _key_exprs(old: pl.DataFrame, new: pl.DataFrame, keys: Sequence[str]) -> list[pl.Expr]:
    """The join columns: each key as it is, or as strings when its dtype differs by side."""
    import polars as pl

    return [
        (pl.col(k) if old.schema[k] == new.schema[k] else pl.col(k).cast(pl.String)).alias(_KEY + k)
        for k in keys
    ]


def _match_rows(old_keys: pl.LazyFrame, new_keys: pl.LazyFrame, keys: Sequence[str]) -> pl.Series:
    """For each new row (in order), the index of the old row with its key; null if none.

    The keys must be unique on both sides (:func:`_check_unique`).
    """
    import polars as pl

    key_cols = [_KEY + k for k in keys]
    (matched,) = _collect(
        [
            new_keys.with_row_index(_ROW_NEW)
            .join(old_keys.with_row_index(_ROW_OLD), on=key_cols, how="left", nulls_equal=True)
            .sort(_ROW_NEW)
            .select(pl.col(_ROW_OLD))
        ]
    )
    return matched.to_series()


def _flags(
    old: pl.DataFrame, new: pl.DataFrame, old_index: pl.Series, common: Sequence[str]
) -> pl.LazyFrame:
    """One row per new row: its old row index (``_ROW_OLD``) and a changed flag per column.

    Rows without an old row (added ones) are never flagged.
    """
    import polars as pl

    matched = pl.col(_ROW_OLD).is_not_null()
    old_value = {c: pl.lit(old.get_column(c)).gather(pl.col(_ROW_OLD)) for c in common}
    return (
        new.lazy()
        .with_columns(old_index.alias(_ROW_OLD))
        .select(
            _ROW_OLD,
            *[
                (_differs(old_value[c], pl.col(c), old.schema[c], new.schema[c]) & matched).alias(
                    _FLAG + c
                )
                for c in common
            ],
        )
    )


def _unmatched(old_index: pl.Series, height: int) -> pl.Series:
    """Indices (ascending) of the old rows that no new row matched."""
    import polars as pl

    seen = pl.repeat(False, height, eager=True).scatter(old_index.drop_nulls(), True)
    return (~seen).arg_true()


def _rows_at(frame: pl.DataFrame, indices: pl.Series | None, row_column: str) -> pl.DataFrame:
    """The rows of ``frame`` at ``indices``, after a first column of 1-based row numbers."""
    import polars as pl

    if indices is None:
        return pl.DataFrame()
    numbers = pl.DataFrame({row_column: indices + 1})
    return pl.concat([numbers, frame.select(pl.all().gather(indices))], how="horizontal")


def _modified_rows(
    old: pl.DataFrame,
    new: pl.DataFrame,
    flags: pl.DataFrame,
    keys: Sequence[str],
    common: Sequence[str],
    limit: int,
) -> tuple[ModifiedRow, ...]:
    """The first ``limit`` modified rows in new-row order, as Python objects."""
    import polars as pl

    positions = flags.select(_any([pl.col(_FLAG + c) for c in common])).to_series()
    new_at = positions.arg_true().head(limit)
    picked = flags.select(pl.all().gather(new_at))
    old_at = picked.get_column(_ROW_OLD)
    rows = pl.concat(
        [
            picked.with_columns((pl.col(_ROW_OLD) + 1), (new_at + 1).alias(_ROW_NEW)),
            new.select(
                *[pl.col(k).gather(new_at).alias(_NEW + k) for k in keys],
                *[pl.col(c).gather(new_at).alias(_NEW + c) for c in common],
            ),
            old.select(pl.col(c).gather(old_at).alias(_OLD + c) for c in common),
        ],
        how="horizontal",
    )
    values = _new_values(common)
    return tuple(
        ModifiedRow(
            key=tuple(row[_NEW + k] for k in keys),
            old_row=int(row[_ROW_OLD]),
            new_row=int(row[_ROW_NEW]),
            changes=_changes(row, common),
            values=values(row),
        )
        for row in rows.iter_rows(named=True)
    )


def _check_unique(frame: pl.LazyFrame, keys: Sequence[str], info: SideInfo) -> None:
    """Raise a :class:`DataDiffError` naming a duplicated key value, if there is one."""
    import polars as pl

    if info.missing:
        return
    key_cols = [_KEY + k for k in keys]
    (stats,) = _collect(
        [
            frame.select(
                pl.len().alias("rows"),
                (pl.col(key_cols[0]) if len(keys) == 1 else pl.struct(key_cols))
                .n_unique()
                .alias("n"),
            )
        ]
    )
    if stats["rows"][0] == stats["n"][0]:
        return
    (dups,) = _collect(
        [frame.group_by(key_cols).agg(pl.len().alias(_LEN)).filter(pl.col(_LEN) > 1).head(1)]
    )
    dup = dups.row(0, named=True)
    value = ", ".join(f"{k}={dup[_KEY + k]!r}" for k in keys)
    raise DataDiffError(
        f"duplicate key in {info.description}: {value} appears {dup[_LEN]} times; "
        f"--key must name columns that identify each row uniquely"
    )


def _listed(frame: pl.DataFrame) -> tuple[ListedRow, ...]:
    return tuple(ListedRow(int(row[0]), tuple(row[1:])) for row in frame.iter_rows())


# -- by position --------------------------------------------------------------------------


def _by_position(old: pl.DataFrame, new: pl.DataFrame, limit: int) -> _Body:
    import polars as pl

    common = _common_columns(old, new, ())
    same_shape = (
        old.height == new.height
        and set(old.columns) == set(new.columns)
        and all(old.schema[c] == new.schema[c] for c in common)
    )
    if same_shape:
        aligned = new.select(old.columns)
        if old.equals(aligned, null_equal=True):
            return _Body(RowCounts(unchanged=old.height))
        moved = _moved_if_permutation(old, aligned)
        if moved is not None:
            return _Body(RowCounts(unchanged=old.height, moved=moved))

    length = min(old.height, new.height)
    pair = pl.concat(
        [
            old.lazy()
            .head(length)
            .with_row_index(_ROW_OLD, offset=1)
            .select(_ROW_OLD, *[pl.col(c).alias(_OLD + c) for c in common]),
            new.lazy().head(length).select(*[pl.col(c).alias(_NEW + c) for c in common]),
        ],
        how="horizontal",
    )
    flags = [
        _differs(pl.col(_OLD + c), pl.col(_NEW + c), old.schema[c], new.schema[c]).alias(_FLAG + c)
        for c in common
    ]
    queries = [pair.select(_any(flags).sum().alias(_MODIFIED), *[f.sum() for f in flags])]
    if limit:
        queries.append(
            pair.with_columns(flags).filter(_any([pl.col(_FLAG + c) for c in common])).head(limit)
        )
    results = _collect(queries)
    totals = results[0].row(0, named=True) if length else {_MODIFIED: 0}
    if not length:
        totals.update({_FLAG + c: 0 for c in common})
    n_modified = int(totals[_MODIFIED] or 0)
    n_added = max(0, new.height - length)
    n_removed = max(0, old.height - length)
    counts = RowCounts(
        added=n_added,
        removed=n_removed,
        modified=n_modified,
        unchanged=length - n_modified,
        moved=0 if not (n_added or n_removed) else None,
    )
    body = _Body(counts, _changed_cells(totals, common))
    if not limit:
        return body
    values = _new_values(common)
    modified_rows = tuple(
        ModifiedRow(
            (),
            int(row[_ROW_OLD]),
            int(row[_ROW_OLD]),
            _changes(row, common),
            values(row),
        )
        for row in results[1].iter_rows(named=True)
    )
    added = new.slice(length, limit).with_row_index(_ROW_NEW, offset=length + 1)
    removed = old.slice(length, limit).with_row_index(_ROW_OLD, offset=length + 1)
    return _Body(
        counts,
        body.changed_cells,
        added_rows=_listed(added),
        removed_rows=_listed(removed),
        modified_rows=modified_rows,
    )


def _moved_if_permutation(old: pl.DataFrame, new: pl.DataFrame) -> int | None:
    """How many rows changed position, if ``new`` is a reordering of ``old``; else None.

    Rows are compared through a 64-bit hash of the whole row; both frames have the same
    columns in the same order with the same dtypes, so equal rows hash equally.
    """
    import polars as pl

    if old.width == 0:
        return None
    row_hash = pl.struct(old.columns).hash(seed=0x9E3779B9).alias("h")
    old_hash, new_hash = _collect([old.lazy().select(row_hash), new.lazy().select(row_hash)])
    if not old_hash["h"].sort().equals(new_hash["h"].sort()):
        return None
    return int((old_hash["h"] != new_hash["h"]).sum())


def _collect(queries: list[pl.LazyFrame]) -> list[pl.DataFrame]:
    """Run queries one after the other on polars' streaming engine.

    Measured on the 1M-row benchmark: as fast as ``collect_all`` (reading the files
    dominates), with a lower peak memory, since only one query's hash tables are alive at a
    time. Every polars failure becomes a one-line :class:`DataDiffError`.
    """
    import polars as pl

    try:
        return [query.collect(engine="streaming") for query in queries]
    except pl.exceptions.PolarsError as exc:
        text = str(exc).strip().splitlines()
        raise DataDiffError(
            f"cannot compare the versions: {text[0] if text else type(exc).__name__}"
        ) from None
