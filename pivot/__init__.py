"""Pivot: fast Python data pipelines with code-aware change detection.

Write stages as typed functions, declare what they read and write with :class:`Dep` and
:class:`Out` inside ``typing.Annotated``, register them on a :class:`Pipeline`, and run
``pivot run``. Or declare the paths beside a function that does its own I/O:
``@stage(deps=["data.csv"], outs=["model.pkl"])`` (see ``docs/declared-stages.md``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pivot import loaders, outputs
    from pivot.compose import stage
    from pivot.outputs import Dep, DirectoryOut, IncrementalOut, Metric, Out, ParamsDep, Plot
    from pivot.registry import REGISTRY, Pipeline
    from pivot.stage_def import StageParams

__version__ = "0.1.0"

#: Where each public name lives. They are imported on first use, so commands that never touch
#: a pipeline (a no-op answered from stats, `--help`) do not pay for them; pydantic alone
#: (StageParams) costs ~100 ms.
_EXPORTS = {
    "Dep": "pivot.outputs",
    "DirectoryOut": "pivot.outputs",
    "IncrementalOut": "pivot.outputs",
    "Metric": "pivot.outputs",
    "Out": "pivot.outputs",
    "ParamsDep": "pivot.outputs",
    "Plot": "pivot.outputs",
    "REGISTRY": "pivot.registry",
    "Pipeline": "pivot.registry",
    "StageParams": "pivot.stage_def",
    "stage": "pivot.compose",
}
_SUBMODULES = frozenset({"loaders", "outputs"})

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
    "stage",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"pivot.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pivot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
