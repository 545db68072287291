"""Pivot: fast Python data pipelines with code-aware change detection.

Write stages as typed functions, declare what they read and write with :class:`Dep` and
:class:`Out` inside ``typing.Annotated``, register them on a :class:`Pipeline`, and run
``pivot run``.
"""

from __future__ import annotations

from typing import Any

from pivot import loaders, outputs
from pivot.outputs import Dep, DirectoryOut, IncrementalOut, Metric, Out, ParamsDep, Plot
from pivot.registry import REGISTRY, Pipeline

__version__ = "0.1.0"

__all__ = [
    "REGISTRY",
    "Dep",
    "DirectoryOut",
    "IncrementalOut",
    "Metric",
    "Out",
    "ParamsDep",
    "Pipeline",
    "Plot",
    "StageParams",
    "__version__",
    "loaders",
    "outputs",
]


def __getattr__(name: str) -> Any:
    # pydantic costs ~100 ms to import: only pay for it when params are used.
    if name == "StageParams":
        from pivot import stage_def

        return getattr(stage_def, name)
    raise AttributeError(f"module 'pivot' has no attribute {name!r}")
