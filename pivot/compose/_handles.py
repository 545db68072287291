"""Handles: what ``pipeline.input(...)`` and a stage call inside a ``with Pipeline`` block return.

A handle stands for one file (or folder) of the project. Passing it to another stage call makes
that file a dep of the new stage, read with a loader suited to the new stage's annotation.
A handle's path is known once its pipeline's block has closed (calls are named then: a
function called twice becomes ``clean@a`` and ``clean@b``, so no path is fixed before).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from pivot import loaders
from pivot.exceptions import CompositionError


@dataclasses.dataclass(frozen=True)
class Artifact:
    """A resolved handle: the file, how it is read, and whether it is a folder."""

    path: str
    loader: loaders.Loader[Any]
    directory: bool = False


class Handle:
    """One file of a composed pipeline, by the stage (or input) that provides it."""

    __slots__ = ("_artifact", "key", "label", "pipeline")

    def __init__(
        self, pipeline: str, label: str, key: str | None, artifact: Artifact | None = None
    ) -> None:
        self.pipeline = pipeline
        #: A short name for the file, used to tell apart calls of one function.
        self.label = label
        self.key = key
        self._artifact = artifact

    def _resolve(self, artifact: Artifact) -> None:
        self._artifact = artifact

    @property
    def artifact(self) -> Artifact:
        if self._artifact is None:
            raise CompositionError(
                f"the output '{self.label}' of pipeline '{self.pipeline}' has no path until "
                "its `with` block closes; use it only in stage calls inside the block"
            )
        return self._artifact

    @property
    def path(self) -> str:
        """The file's path, relative to the project root."""
        return self.artifact.path

    def __repr__(self) -> str:
        where = self._artifact.path if self._artifact is not None else "pending"
        return f"Handle({self.pipeline}:{self.label}, {where})"


class StageOutputs(Mapping[str, Handle]):
    """The handles of a stage returning a TypedDict, by key: ``cleaned["rows"]``."""

    def __init__(self, stage: str, handles: Mapping[str, Handle]) -> None:
        self._stage = stage
        self._handles = dict(handles)

    def __getitem__(self, key: str) -> Handle:
        try:
            return self._handles[key]
        except KeyError:
            raise CompositionError(
                f"stage '{self._stage}' has no output '{key}' (outputs: {', '.join(self._handles)})"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._handles)

    def __len__(self) -> int:
        return len(self._handles)

    def __repr__(self) -> str:
        return f"StageOutputs({self._stage}, {list(self._handles)})"
