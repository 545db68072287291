"""Loaders turn files into Python values and back.

A loader is a frozen dataclass: its fields are its configuration, and both its code and its
configuration are part of the fingerprint of every stage that uses it, so changing
``CSV(separator=";")`` re-runs those stages.

Write a custom loader by subclassing :class:`Loader`::

    @dataclasses.dataclass(frozen=True)
    class Lines(Loader[list[str]]):
        def load(self, path: Path) -> list[str]:
            return path.read_text().splitlines()

        def save(self, value: list[str], path: Path) -> None:
            path.write_text("\\n".join(value) + "\\n")

``save`` is always handed a temporary path next to the final one; Pivot renames it into place
once it is complete, so a crash never leaves a half-written output.

CSV, Parquet and JSONL follow the annotation: ``Annotated[pandas.DataFrame, Dep("a.csv",
CSV())]`` receives a pandas DataFrame read by pandas itself, ``polars.DataFrame`` (or no
DataFrame in the annotation) a polars one; JSONL without a DataFrame annotation stays a list of
values. They save whichever kind of frame the stage returns. pandas is optional
(``pip install 'pivot[pandas]'``); a stage that asks for it without it fails with that advice.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any, Generic, TypeVar

from pivot._frames import FrameKind, frame_kind, import_pandas, pandas_parquet, value_kind
from pivot.exceptions import StageDefinitionError, StageOutputError

T = TypeVar("T")

__all__ = [
    "CSV",
    "JSON",
    "JSONL",
    "YAML",
    "Loader",
    "Parquet",
    "PathOnly",
    "Pickle",
    "Text",
]


@dataclasses.dataclass(frozen=True)
class Loader(Generic[T]):
    """Base class: how to read a value of type ``T`` from a path and write it back."""

    def load(self, path: Path) -> T:
        raise NotImplementedError(f"{type(self).__name__} cannot load files")

    def save(self, value: T, path: Path) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot save files")

    def empty(self) -> T:
        """The value an incremental output starts from when it has no previous version."""
        raise NotImplementedError(f"{type(self).__name__} has no empty value")

    def for_type(self, annotation: object) -> Loader[T]:
        """This loader, configured for values of the annotated type.

        Registration calls it with the type a dep or output is annotated with (the ``T`` of
        ``Annotated[T, Dep(...)]``, or of a StageDef's ``Dep[T]``). The base class ignores it;
        CSV, Parquet and JSONL return a copy that reads pandas or polars accordingly. Override
        it in a custom loader to do the same; return a configured copy, never mutate.
        """
        return self


@dataclasses.dataclass(frozen=True)
class PathOnly(Loader[Path]):
    """The stage does its own I/O: deps receive the path, outputs must exist after the call."""

    def load(self, path: Path) -> Path:
        return path

    def save(self, value: Path, path: Path) -> None:
        raise TypeError("PathOnly outputs are written by the stage itself")

    def empty(self) -> Path:
        return Path()


@dataclasses.dataclass(frozen=True)
class JSON(Loader[Any]):
    """A JSON document."""

    indent: int | None = 2
    sort_keys: bool = False

    def load(self, path: Path) -> Any:
        with path.open("rb") as handle:
            return json.load(handle)

    def save(self, value: Any, path: Path) -> None:
        text = json.dumps(value, indent=self.indent, sort_keys=self.sort_keys, default=str)
        path.write_text(text + "\n", encoding="utf-8")

    def empty(self) -> Any:
        return {}


@dataclasses.dataclass(frozen=True)
class YAML(Loader[Any]):
    """A YAML document (safe load/dump)."""

    sort_keys: bool = False

    def load(self, path: Path) -> Any:
        import yaml

        with path.open("rb") as handle:
            return yaml.safe_load(handle)

    def save(self, value: Any, path: Path) -> None:
        import yaml

        with path.open("w", encoding="utf-8") as handle:
            yaml.safe_dump(value, handle, sort_keys=self.sort_keys)

    def empty(self) -> Any:
        return {}


@dataclasses.dataclass(frozen=True)
class Text(Loader[str]):
    """A text file."""

    encoding: str = "utf-8"

    def load(self, path: Path) -> str:
        return path.read_text(encoding=self.encoding)

    def save(self, value: str, path: Path) -> None:
        path.write_text(value, encoding=self.encoding)

    def empty(self) -> str:
        return ""


@dataclasses.dataclass(frozen=True)
class Pickle(Loader[Any]):
    """Any picklable Python object. Only load pickles you trust: a pickle is code."""

    protocol: int = 5

    def load(self, path: Path) -> Any:
        with path.open("rb") as handle:
            return pickle.load(handle)

    def save(self, value: Any, path: Path) -> None:
        with path.open("wb") as handle:
            pickle.dump(value, handle, protocol=self.protocol)

    def empty(self) -> Any:
        return None


@dataclasses.dataclass(frozen=True)
class _Tabular(Loader[Any]):
    """Base of the loaders that read a table into a polars or a pandas DataFrame.

    ``frame`` names the library. Registration fills it from the annotation of the dep or
    output (:meth:`for_type`); pass it yourself only where there is no annotation to read it
    from. As a field it is part of the loader's fingerprinted configuration, so retyping a dep
    from polars to pandas re-runs the stage (the edit changes the stage's code anyway).
    Saving looks at the value instead: a stage may return either kind of frame.
    """

    frame: FrameKind | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.frame not in (None, "polars", "pandas"):
            raise StageDefinitionError(
                f"{type(self).__name__}(frame={self.frame!r}): frame must be 'polars' or 'pandas'"
            )

    def for_type(self, annotation: object) -> Loader[Any]:
        if self.frame is not None:
            return self
        kind = frame_kind(annotation)
        return self if kind is None else dataclasses.replace(self, frame=kind)

    def _pandas(self, path: Path) -> Any:
        return import_pandas(f"{type(self).__name__}: {path.name} as a pandas DataFrame")

    def _empty_frame(self) -> Any:
        if self.frame == "pandas":
            return import_pandas(f"an empty {type(self).__name__} pandas DataFrame").DataFrame()
        import polars as pl

        return pl.DataFrame()

    def _not_a_frame(self, value: object) -> StageOutputError:
        return StageOutputError(
            f"{type(self).__name__} saves a polars or pandas DataFrame, got "
            f"{type(value).__name__}; return a DataFrame or use another loader"
        )


@dataclasses.dataclass(frozen=True)
class CSV(_Tabular):
    """A CSV file as a polars DataFrame, or a pandas one when annotated ``pandas.DataFrame``.

    pandas frames are read with ``pandas.read_csv``, so a pandas stage gets pandas' own dtypes
    (NaN for missing numbers, ``object``/``str`` text), exactly as if it had read the file
    itself. They are written without their index, like polars frames; call ``reset_index()``
    first to keep one.
    """

    separator: str = ","
    has_header: bool = True

    def load(self, path: Path) -> Any:
        if self.frame == "pandas":
            header = 0 if self.has_header else None
            return self._pandas(path).read_csv(path, sep=self.separator, header=header)
        import polars as pl

        return pl.read_csv(path, separator=self.separator, has_header=self.has_header)

    def save(self, value: Any, path: Path) -> None:
        kind = value_kind(value)
        if kind == "pandas":
            value.to_csv(path, sep=self.separator, header=self.has_header, index=False)
        elif kind == "polars":
            value.write_csv(path, separator=self.separator, include_header=self.has_header)
        else:
            raise self._not_a_frame(value)

    def empty(self) -> Any:
        return self._empty_frame()


@dataclasses.dataclass(frozen=True)
class Parquet(_Tabular):
    """A Parquet file as a polars DataFrame, or a pandas one when annotated ``pandas.DataFrame``.

    pandas frames go through ``pandas.read_parquet``/``to_parquet`` (pyarrow, which the
    ``pivot[pandas]`` extra installs), so a pandas index survives the round trip.
    """

    compression: str = "zstd"

    def load(self, path: Path) -> Any:
        if self.frame == "pandas":
            pd = self._pandas(path)
            return pandas_parquet(f"Parquet: {path.name}", pd.read_parquet, path)
        import polars as pl

        return pl.read_parquet(path)

    def save(self, value: Any, path: Path) -> None:
        kind = value_kind(value)
        if kind == "pandas":
            compression = None if self.compression == "uncompressed" else self.compression
            pandas_parquet(f"Parquet: {path.name}", value.to_parquet, path, compression=compression)
        elif kind == "polars":
            value.write_parquet(path, compression=self.compression)
        else:
            raise self._not_a_frame(value)

    def empty(self) -> Any:
        return self._empty_frame()


@dataclasses.dataclass(frozen=True)
class JSONL(_Tabular):
    """One JSON value per line: a list of those values, or a DataFrame of records when the
    annotation names polars or pandas (``pandas.read_json(lines=True)`` for pandas).

    Saving follows the value: a DataFrame is written one record per line, anything else is
    iterated and each item written as one line.
    """

    def load(self, path: Path) -> Any:
        if self.frame == "pandas":
            return self._pandas(path).read_json(path, lines=True)
        if self.frame == "polars":
            import polars as pl

            return pl.read_ndjson(path)
        with path.open("rb") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def save(self, value: Any, path: Path) -> None:
        kind = value_kind(value)
        if kind == "pandas":
            value.to_json(path, orient="records", lines=True, date_format="iso")
            return
        if kind == "polars":
            value.write_ndjson(path)
            return
        with path.open("w", encoding="utf-8") as handle:
            for item in value:
                handle.write(json.dumps(item, default=str) + "\n")

    def empty(self) -> Any:
        return [] if self.frame is None else self._empty_frame()
