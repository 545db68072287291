"""Plots: numeric series (CSV/TSV/JSON/JSONL/YAML) or images, from the workspace or a revision.

A :class:`~pivot.outputs.Plot` output names its x column, y column(s) and title; without
them x is the row index and every numeric column is a series. A file is turned into a
:class:`Figure` (series of points, or images) that the SVG writer
(:mod:`pivot.render.plots_svg`) and the terminal drawer (:mod:`pivot.render.terminal_plot`)
both consume. :func:`overlay` puts two versions of one plot in one figure for ``plots diff``.

Supported series layouts: CSV/TSV with a header; JSON/YAML as a list of records
(``[{"step": 1, "loss": 0.5}, ...]``), a mapping of equal-length columns
(``{"loss": [...], "acc": [...]}``), a mapping with one list of records
(``{"train": [...]}``), or a bare list of numbers; JSONL with one record per line.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from pivot.exceptions import CacheError, DataDiffError

if TYPE_CHECKING:
    from pathlib import Path

    from pivot.core.reports.metrics import OutputTarget
    from pivot.core.store.revisions import RevisionReader

__all__ = [
    "IMAGE_TYPES",
    "Figure",
    "Image",
    "Series",
    "build_figure",
    "figure_from_bytes",
    "overlay",
    "read_revision_figure",
    "read_workspace_figure",
]

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".bmp": "image/bmp",
}


@dataclasses.dataclass(frozen=True)
class Series:
    """One line: points in file order (NaN y values leave gaps)."""

    name: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    #: Series sharing a colour key are one column in two versions (drawn in one colour).
    color_key: str = ""
    #: Drawn dashed/dim: the old version in a diff.
    old: bool = False

    def points(self) -> list[tuple[float, float]]:
        return [
            (x, y)
            for x, y in zip(self.xs, self.ys, strict=True)
            if math.isfinite(x) and math.isfinite(y)
        ]


@dataclasses.dataclass(frozen=True)
class Image:
    label: str
    mime: str
    data: bytes


@dataclasses.dataclass(frozen=True)
class Figure:
    """Everything needed to draw one plot, in the browser or the terminal."""

    path: str
    title: str
    x_label: str = ""
    y_label: str = ""
    series: tuple[Series, ...] = ()
    images: tuple[Image, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None

    def bounds(self) -> tuple[float, float, float, float] | None:
        """(x_min, x_max, y_min, y_max) over every finite point, or None without points."""
        points = [p for s in self.series for p in s.points()]
        if not points:
            return None
        xs = [x for x, _ in points]
        ys = [y for _, y in points]
        return min(xs), max(xs), min(ys), max(ys)


# -- parsing ------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """The value as a float; None when it is not numeric. Empty cells become NaN."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _records(path: str, data: bytes) -> list[Mapping[str, Any]] | dict[str, list[Any]]:
    """Rows of the file (or columns, for a mapping of lists)."""
    suffix = PurePosixPath(path).suffix.lower()
    text = data.decode("utf-8-sig")
    if suffix in (".csv", ".tsv", ".tab"):
        delimiter = "," if suffix == ".csv" else "\t"
        return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    if suffix in (".jsonl", ".ndjson"):
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise DataDiffError(f"{path}: not valid JSON lines ({exc.msg})") from None
    if suffix == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataDiffError(
                f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})"
            ) from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        from pivot.core.store.safe_yaml import first_line, load_yaml

        try:
            doc = load_yaml(text)
        except yaml.YAMLError as exc:
            raise DataDiffError(f"{path}: not valid YAML ({first_line(exc)})") from None
        except RecursionError:
            raise DataDiffError(f"{path}: nests too deeply to read") from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            return list(csv.DictReader(io.StringIO(text)))
    return _document_rows(path, doc)


def _document_rows(path: str, doc: Any) -> list[Mapping[str, Any]] | dict[str, list[Any]]:
    if isinstance(doc, list):
        if all(isinstance(row, Mapping) for row in doc):
            return list(doc)
        if all(_number(v) is not None for v in doc):
            return {"value": list(doc)}
    if isinstance(doc, Mapping) and doc:
        values = list(doc.values())
        if (
            len(values) == 1
            and isinstance(values[0], list)
            and all(isinstance(row, Mapping) for row in values[0])
        ):
            return _document_rows(path, values[0])
        if all(isinstance(v, list) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) == 1:
                return {str(k): list(v) for k, v in doc.items()}
    raise DataDiffError(
        f"{path}: cannot read series from this layout; use a list of records "
        '([{"step": 1, "loss": 0.5}, ...]) or a mapping of equal-length columns'
    )


def _columns(rows: list[Mapping[str, Any]] | dict[str, list[Any]]) -> dict[str, list[Any]]:
    if isinstance(rows, dict):
        return rows
    names: dict[str, None] = {}
    for row in rows:
        names.update((str(k), None) for k in row)
    return {name: [row.get(name) for row in rows] for name in names}


def _numeric(values: Sequence[Any]) -> list[float] | None:
    numbers = [_number(v) for v in values]
    if not numbers or any(n is None for n in numbers):
        return None
    floats = [n for n in numbers if n is not None]
    if all(math.isnan(n) for n in floats):
        return None
    return floats


def _split(names: str | None) -> list[str]:
    return [n.strip() for n in (names or "").split(",") if n.strip()]


def build_figure(
    path: str,
    data: bytes,
    *,
    x: str | None = None,
    y: str | None = None,
    title: str | None = None,
) -> Figure:
    """Read a series file (or an image) into a figure. DataDiffError when it cannot be read."""
    shown_title = title or path
    mime = IMAGE_TYPES.get(PurePosixPath(path).suffix.lower())
    if mime is not None:
        return Figure(path, shown_title, images=(Image(path, mime, data),))
    try:
        columns = _columns(_records(path, data))
    except UnicodeDecodeError:
        raise DataDiffError(f"{path}: not a text file, nor an image Pivot can embed") from None
    if not columns:
        raise DataDiffError(f"{path}: no rows to plot")
    notes: list[str] = []
    available = ", ".join(columns)
    for name in [*(_split(x)), *_split(y)]:
        if name not in columns:
            raise DataDiffError(f"{path}: no column '{name}' (columns: {available})")
    rows = max(len(v) for v in columns.values())
    xs: list[float] | None = None
    x_label = "row"
    if x:
        xs = _numeric(columns[x])
        if xs is None:
            notes.append(f"x column '{x}' is not numeric; plotting against the row number")
        else:
            x_label = x
    if xs is None:
        xs = [float(i) for i in range(rows)]
    wanted = _split(y) or [name for name in columns if name != x]
    series = []
    for name in wanted:
        ys = _numeric(columns[name])
        if ys is None:
            if _split(y):
                raise DataDiffError(f"{path}: column '{name}' is not numeric")
            continue
        series.append(Series(name, tuple(xs), tuple(ys), color_key=name))
    if not series:
        raise DataDiffError(f"{path}: no numeric column to plot (columns: {available})")
    y_label = series[0].name if len(series) == 1 else ""
    return Figure(path, shown_title, x_label, y_label, tuple(series), notes=tuple(notes))


def figure_from_bytes(target: OutputTarget, data: bytes) -> Figure:
    marker = target.marker
    return build_figure(
        target.path,
        data,
        x=getattr(marker, "x", None),
        y=getattr(marker, "y", None),
        title=getattr(marker, "title", None),
    )


def _failed(target: OutputTarget, error: str) -> Figure:
    title = getattr(target.marker, "title", None) or target.path
    return Figure(target.path, title, error=error)


def read_workspace_figure(root: Path, target: OutputTarget) -> Figure:
    """The plot as it is in the workspace; a figure with ``error`` set when it cannot be read."""
    try:
        data = (root / target.path).read_bytes()
    except FileNotFoundError:
        return _failed(target, "missing (run the stage that writes it)")
    except OSError as exc:
        return _failed(target, f"cannot be read ({exc.strerror})")
    try:
        return figure_from_bytes(target, data)
    except DataDiffError as exc:
        return _failed(target, str(exc))


def read_revision_figure(reader: RevisionReader, target: OutputTarget) -> Figure | None:
    """The plot at the reader's revision; None when it did not exist there."""
    try:
        found = reader.find_file(target.path)
        if found is None:
            return None
        return figure_from_bytes(target, found.read_bytes())
    except (CacheError, DataDiffError) as exc:
        return _failed(target, str(exc))


def overlay(old: Figure | None, new: Figure, rev: str) -> Figure:
    """One figure with the version at ``rev`` (dashed) and the workspace version."""
    notes = list(new.notes)
    if old is None:
        notes.append(f"not present at {rev}: showing the workspace version only")
    elif old.error is not None:
        notes.append(f"{rev}: {old.error}")
    if new.error is not None:
        if old is None or old.error is not None:
            return dataclasses.replace(new, notes=tuple(notes))
        notes.append(f"workspace: {new.error}")
        base = old
    else:
        base = new
    series: list[Series] = []
    images: list[Image] = []
    usable_old = old if old is not None and old.error is None else None
    if usable_old is not None:
        series += [
            dataclasses.replace(s, name=f"{s.name} ({rev})", color_key=s.name, old=True)
            for s in usable_old.series
        ]
        images += [dataclasses.replace(i, label=rev) for i in usable_old.images]
    if new.error is None:
        series += [
            dataclasses.replace(s, name=f"{s.name} (workspace)", color_key=s.name)
            for s in new.series
        ]
        images += [dataclasses.replace(i, label="workspace") for i in new.images]
    return Figure(
        base.path,
        base.title,
        base.x_label,
        base.y_label,
        tuple(series),
        tuple(images),
        tuple(notes),
    )
