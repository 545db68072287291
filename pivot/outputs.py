"""Markers that declare what a stage reads and writes.

Put them inside ``typing.Annotated``::

    def clean(raw: Annotated[pl.DataFrame, Dep("data/raw.csv", loaders.CSV())]) -> Annotated[
        pl.DataFrame, Out("data/clean.csv", loaders.CSV())
    ]: ...

Paths are relative to the project root. Output kinds:

- :class:`Out` — a file, cached by content.
- :class:`IncrementalOut` — the previous version is restored (as a writable copy) before the
  stage runs, so the stage can extend it.
- :class:`Metric` — small JSON/YAML kept in git rather than the cache; ``pivot metrics`` reads it.
- :class:`Plot` — data or an image for ``pivot plots``; cached.
- :class:`DirectoryOut` — a whole folder, cached file by file.

:class:`ParamsDep` declares keys of a params file (``params.yaml`` by default) as inputs,
tracked by value, for stages whose code reads that file itself (a script run as a
subprocess, or a pipeline imported from DVC).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from pivot import loaders

T = TypeVar("T")

__all__ = ["Dep", "DirectoryOut", "IncrementalOut", "Metric", "Out", "ParamsDep", "Plot"]


@dataclasses.dataclass(frozen=True, init=False)
class Dep(Generic[T]):
    """An input of a stage: one path, or a list of paths loaded into a list of values."""

    paths: tuple[str, ...]
    loader: loaders.Loader[Any]
    many: bool

    def __init__(
        self,
        path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        loader: loaders.Loader[Any] | None = None,
    ) -> None:
        many = not isinstance(path, str | os.PathLike)
        paths = tuple(os.fspath(p) for p in path) if many else (os.fspath(path),)  # type: ignore[union-attr,arg-type]
        object.__setattr__(self, "paths", paths)
        object.__setattr__(self, "loader", loader if loader is not None else loaders.PathOnly())
        object.__setattr__(self, "many", many)

    @property
    def path(self) -> str:
        return self.paths[0]


@dataclasses.dataclass(frozen=True)
class Out(Generic[T]):
    """A file the stage writes, cached by content."""

    path: str
    loader: loaders.Loader[Any] = dataclasses.field(default_factory=loaders.PathOnly)
    cache: bool = True

    kind: ClassVar[str] = "out"
    #: Restore the previous version before the stage runs.
    incremental: ClassVar[bool] = False
    #: The path is a folder.
    directory: ClassVar[bool] = False


@dataclasses.dataclass(frozen=True)
class IncrementalOut(Out[T]):
    """An output that starts from its previous version on every run."""

    kind: ClassVar[str] = "incremental"
    incremental: ClassVar[bool] = True


@dataclasses.dataclass(frozen=True)
class Metric(Out[T]):
    """Small JSON/YAML numbers tracked in git, not in the cache."""

    loader: loaders.Loader[Any] = dataclasses.field(default_factory=loaders.JSON)
    cache: bool = False

    kind: ClassVar[str] = "metric"


@dataclasses.dataclass(frozen=True)
class Plot(Out[T]):
    """A series (CSV/JSON) or an image, drawn by ``pivot plots``."""

    x: str | None = None
    y: str | None = None
    title: str | None = None

    kind: ClassVar[str] = "plot"


@dataclasses.dataclass(frozen=True)
class DirectoryOut(Out[T]):
    """A folder. Return ``{relative_name: value}`` to have each entry saved by the loader, or use
    ``PathOnly`` and write the files yourself (the folder exists and is empty when the stage starts).
    """

    kind: ClassVar[str] = "directory"
    directory: ClassVar[bool] = True


#: The params file a :class:`ParamsDep` reads when it names none (DVC's default too).
DEFAULT_PARAMS_FILE = "params.yaml"


@dataclasses.dataclass(frozen=True, init=False)
class ParamsDep:
    """Keys of a params file that a stage depends on, by value (DVC's ``params:``).

    ::

        def train(
            data: Annotated[Path, Dep("data/features.csv")],
            params: Annotated[dict[str, Any], ParamsDep("train.lr", "base.seed")],
        ) -> Annotated[Path, Out("model.pkl")]:
            subprocess.run([sys.executable, "src/train.py"], check=True)  # reads params.yaml

    Each key is a top-level name (``lr``), a dotted path into nested mappings (``train.lr``)
    or a whole section (``train``); no keys means every top-level key of the file. The values
    are part of the stage's params: the lock records them as ``FILE:KEY``, editing one re-runs
    exactly the stages that list it, and ``pivot explain`` names it. The argument receives
    ``{key: value}``. ``file`` is YAML, JSON or TOML, relative to the project root; in a
    matrix stage, ``{dimension}`` placeholders in keys and file take each variant's value.
    Unlike a model's params.yaml section, these values have no defaults: a missing key fails
    the stage.
    """

    keys: tuple[str, ...]
    file: str

    def __init__(self, *keys: str, file: str | os.PathLike[str] = DEFAULT_PARAMS_FILE) -> None:
        object.__setattr__(self, "keys", tuple(dict.fromkeys(keys)))
        object.__setattr__(self, "file", os.fspath(file))
