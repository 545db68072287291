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
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import polars as pl

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
class JSONL(Loader[list[Any]]):
    """One JSON value per line."""

    def load(self, path: Path) -> list[Any]:
        with path.open("rb") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def save(self, value: list[Any], path: Path) -> None:
        with path.open("w", encoding="utf-8") as handle:
            for item in value:
                handle.write(json.dumps(item, default=str) + "\n")

    def empty(self) -> list[Any]:
        return []


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
class CSV(Loader["pl.DataFrame"]):
    """A CSV file as a polars DataFrame."""

    separator: str = ","
    has_header: bool = True

    def load(self, path: Path) -> pl.DataFrame:
        import polars as pl

        return pl.read_csv(path, separator=self.separator, has_header=self.has_header)

    def save(self, value: pl.DataFrame, path: Path) -> None:
        value.write_csv(path, separator=self.separator, include_header=self.has_header)

    def empty(self) -> pl.DataFrame:
        import polars as pl

        return pl.DataFrame()


@dataclasses.dataclass(frozen=True)
class Parquet(Loader["pl.DataFrame"]):
    """A Parquet file as a polars DataFrame."""

    compression: str = "zstd"

    def load(self, path: Path) -> pl.DataFrame:
        import polars as pl

        return pl.read_parquet(path)

    def save(self, value: pl.DataFrame, path: Path) -> None:
        value.write_parquet(path, compression=self.compression)  # type: ignore[arg-type]

    def empty(self) -> pl.DataFrame:
        import polars as pl

        return pl.DataFrame()
