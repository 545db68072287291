"""Format detection and reading of tabular files into polars frames.

A side of a diff is a :class:`DataSource`: a file on local disk (the workspace file, a
blob in the cache read in place, or a git blob that ``git cat-file`` wrote to a temporary
file) or bytes. Each reader turns one source
into a :class:`polars.DataFrame`; every failure becomes a one-line :class:`DataDiffError`
that names the file and the side, never a polars traceback.

Frames are read eagerly, once per side, with polars' multi-threaded readers: the diff then
runs lazy queries over them (see ``_diff``). Reading once is what lets parse errors name
the side that is broken, and keeps every file from being parsed once per query.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from pivot.exceptions import DataDiffError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["FORMATS", "DataSource", "Format", "detect_format", "read_frame"]

Format = Literal["csv", "tsv", "json", "jsonl", "parquet"]

FORMATS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

_SNIFF = 8192
_INFER_ROWS = 10_000
_PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class DataSource:
    """One version of a data file: a local file to read in place, or its bytes.

    ``label`` says which version it is in messages (e.g. ``"HEAD"``, ``"workspace"``).
    """

    path: str
    label: str
    local: Path | None = None
    data: bytes | None = None

    def describe(self) -> str:
        return f"{self.path} ({self.label})"

    def head(self, size: int) -> bytes:
        if self.data is not None:
            return self.data[:size]
        assert self.local is not None
        with self.local.open("rb") as fh:
            return fh.read(size)

    def tail(self, size: int) -> bytes:
        if self.data is not None:
            return self.data[-size:]
        assert self.local is not None
        with self.local.open("rb") as fh:
            fh.seek(0, io.SEEK_END)
            end = fh.tell()
            fh.seek(max(0, end - size))
            return fh.read()

    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.local is not None
        return self.local.stat().st_size

    def reader_input(self) -> str | io.BytesIO:
        """What a polars ``read_*`` function accepts for this source."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.local is not None
        return str(self.local)


def detect_format(path: str) -> Format:
    """The format implied by the file extension (case-insensitive)."""
    suffix = PurePosixPath(path).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        what = f"extension {suffix!r}" if suffix else "no extension"
        raise DataDiffError(f"{path}: unsupported data format ({what}); supported: {known}")
    return fmt


def read_frame(source: DataSource, fmt: Format) -> pl.DataFrame:
    """Read a whole source into a DataFrame, or raise a one-line :class:`DataDiffError`."""
    import polars as pl

    if source.size() == 0:
        return pl.DataFrame()
    head = source.head(_SNIFF)
    if fmt == "parquet":
        if not head.startswith(_PARQUET_MAGIC) or not source.tail(4) == _PARQUET_MAGIC:
            raise DataDiffError(f"{source.describe()} is not a Parquet file (bad magic bytes)")
    elif b"\0" in head:
        raise DataDiffError(f"{source.describe()} looks like a binary file, not {fmt.upper()} text")
    elif fmt == "json" and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] not in (b"[", b""):
        raise DataDiffError(
            f"{source.describe()} is not a JSON array of records "
            f"(a .json data file must hold [{{...}}, {{...}}]; use .jsonl for JSON lines)"
        )

    readers: dict[Format, Callable[[int | None], pl.DataFrame]] = {
        "csv": lambda n: pl.read_csv(source.reader_input(), infer_schema_length=n),
        "tsv": lambda n: pl.read_csv(source.reader_input(), separator="\t", infer_schema_length=n),
        "json": lambda n: pl.read_json(source.reader_input(), infer_schema_length=n),
        "jsonl": lambda n: pl.read_ndjson(source.reader_input(), infer_schema_length=n),
        "parquet": lambda n: pl.read_parquet(source.reader_input()),
    }
    read = readers[fmt]
    try:
        try:
            frame = read(_INFER_ROWS)
        except pl.exceptions.ComputeError:
            if fmt == "parquet":
                raise
            # The first rows suggested a type that a later row breaks: infer from all rows.
            frame = read(None)
        if frame.height == 0 and fmt != "parquet":
            # Without rows the types of a text file are unknown, not String.
            frame = frame.select(pl.all().cast(pl.Null))
        return frame
    except pl.exceptions.NoDataError:
        return pl.DataFrame()
    except (pl.exceptions.PolarsError, OSError, ValueError, TypeError) as exc:
        raise DataDiffError(
            f"cannot read {source.describe()} as {fmt}: {_first_line(exc)}"
        ) from None
    except BaseException as exc:
        # polars reports internal failures as pyo3 PanicException, a BaseException.
        if type(exc).__name__ == "PanicException":
            raise DataDiffError(
                f"cannot read {source.describe()} as {fmt}: {_first_line(exc)}"
            ) from None
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line[:300]
