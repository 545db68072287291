"""Which DataFrame library an annotation or a value belongs to, without importing pandas.

The tabular loaders (CSV, Parquet, JSONL) read into whichever library the stage's annotation
names. Both libraries are recognised by class name and module, so deciding costs no import:
pandas is optional, and importing it takes about half a second.
"""

from __future__ import annotations

import typing
from types import ModuleType
from typing import Any, Literal

from pivot.exceptions import MissingDependencyError

FrameKind = Literal["polars", "pandas"]

#: The one-line instruction every "pandas is missing" message ends with.
INSTALL_PANDAS = "install it with: pip install 'pivot[pandas]' (or uv add pandas pyarrow)"

_LIBRARIES: dict[str, FrameKind] = {"polars": "polars", "pandas": "pandas"}


def _kind_of_class(cls: type) -> FrameKind | None:
    """``polars.DataFrame``, ``pandas.DataFrame`` or a subclass of either."""
    for klass in cls.__mro__:
        if klass.__name__ == "DataFrame":
            kind = _LIBRARIES.get(klass.__module__.split(".", 1)[0])
            if kind is not None:
                return kind
    return None


def frame_kind(annotation: object) -> FrameKind | None:
    """The library a type annotation asks for, or None when it names no DataFrame.

    Looks inside generic types too, so ``list[pd.DataFrame]`` (a list dep),
    ``dict[str, pd.DataFrame]`` (a DirectoryOut), ``Dep[pd.DataFrame]`` (a StageDef attribute)
    and ``pd.DataFrame | None`` all name pandas. An annotation that names both libraries is
    ambiguous and counts as naming neither.
    """
    found: set[FrameKind] = set()
    pending = [annotation]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, type):
            kind = _kind_of_class(item)
            if kind is not None:
                found.add(kind)
                continue
        pending.extend(typing.get_args(item))
    return found.pop() if len(found) == 1 else None


def value_kind(value: object) -> FrameKind | None:
    """The library ``value`` is a DataFrame of, or None."""
    return _kind_of_class(type(value))


def import_pandas(purpose: str) -> ModuleType:
    """pandas, or a :class:`MissingDependencyError` saying what to install."""
    try:
        import pandas
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs pandas, which is not installed; {INSTALL_PANDAS}"
        ) from None
    return pandas


def pandas_parquet(purpose: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a pandas Parquet call, turning "no engine" into the same one-line instruction."""
    try:
        return call(*args, **kwargs)
    except ImportError as exc:
        if "pyarrow" not in str(exc) and "fastparquet" not in str(exc):
            raise
        raise MissingDependencyError(
            f"{purpose} needs pyarrow for Parquet with pandas; {INSTALL_PANDAS}"
        ) from None
