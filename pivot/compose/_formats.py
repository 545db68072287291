"""Which file format a composed stage's output gets, from its return type or its path.

The defaults (``docs/compose.md``): a DataFrame is Parquet (or the pipeline's
``table_format``), a dict or list JSON, a str text, anything else a pickle. An explicit path
picks the loader from its suffix.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from pathlib import PurePosixPath
from typing import Any, Literal

from pivot import loaders
from pivot._frames import frame_kind
from pivot.exceptions import CompositionError

TableFormat = Literal["parquet", "csv"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("parquet", "csv")

#: Loader class by file suffix, for explicit output paths and ``pipeline.input``.
_BY_SUFFIX: dict[str, type[loaders.Loader[Any]]] = {
    ".csv": loaders.CSV,
    ".parquet": loaders.Parquet,
    ".pq": loaders.Parquet,
    ".json": loaders.JSON,
    ".jsonl": loaders.JSONL,
    ".ndjson": loaders.JSONL,
    ".yaml": loaders.YAML,
    ".yml": loaders.YAML,
    ".txt": loaders.Text,
    ".md": loaders.Text,
    ".pkl": loaders.Pickle,
    ".pickle": loaders.Pickle,
}

_TABLE_SUFFIX = {"parquet": ".parquet", "csv": ".csv"}


def loader_for_path(path: str) -> loaders.Loader[Any] | None:
    """The loader a file's suffix implies, or None for a suffix Pivot has no loader for."""
    cls = _BY_SUFFIX.get(PurePosixPath(path).suffix.lower())
    return cls() if cls is not None else None


def explicit_loader(path: str, where: str) -> loaders.Loader[Any]:
    """The loader for an output placed at ``path``; an unknown suffix is an error."""
    loader = loader_for_path(path)
    if loader is None:
        known = ", ".join(sorted(_BY_SUFFIX))
        raise CompositionError(
            f"{where}: no format for the output '{path}' (known suffixes: {known}); use one, "
            "or annotate the return with pivot.Out(path, loader)"
        )
    return loader


def _is_container(annotation: object) -> bool:
    origin = typing.get_origin(annotation) or annotation
    if not isinstance(origin, type) or issubclass(origin, str | bytes):
        return False
    return issubclass(origin, collections.abc.Mapping | list | tuple) or typing.is_typeddict(origin)


def default_format(
    annotation: object, table_format: TableFormat
) -> tuple[str, loaders.Loader[Any]]:
    """(suffix, loader) for a value of the annotated type at its default path."""
    if frame_kind(annotation) is not None:
        suffix = _TABLE_SUFFIX[table_format]
        return suffix, _BY_SUFFIX[suffix]()
    if _is_container(annotation):
        return ".json", loaders.JSON()
    if annotation is str:
        return ".txt", loaders.Text()
    return ".pkl", loaders.Pickle()


def metric_format(annotation: object, where: str) -> tuple[str, loaders.Loader[Any]]:
    """Metrics are small JSON documents: a mapping of names to numbers."""
    if annotation is not inspect.Parameter.empty and not _is_container(annotation):
        raise CompositionError(
            f"{where}: a Metric output holds a dict of numbers; annotate it as dict"
        )
    return ".json", loaders.JSON()


def plot_format(annotation: object, where: str) -> tuple[str, loaders.Loader[Any]]:
    """Plots are read by ``pivot plots`` as CSV (tables) or JSON (records)."""
    if frame_kind(annotation) is not None:
        return ".csv", loaders.CSV()
    if _is_container(annotation):
        return ".json", loaders.JSON()
    raise CompositionError(
        f"{where}: a Plot output is a DataFrame or a list of records; annotate it as one"
    )


def directory_loader(annotation: object, table_format: TableFormat) -> loaders.Loader[Any]:
    """The loader for each entry of a folder output annotated ``dict[str, T]``."""
    args = typing.get_args(annotation)
    item = args[1] if len(args) == 2 else typing.Any
    return default_format(item, table_format)[1]
