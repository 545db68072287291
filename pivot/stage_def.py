"""Parameters and typed stage definitions as pydantic models.

A stage parameter annotated with a :class:`StageParams` subclass receives the effective values:
the model's defaults, overridden by ``params.yaml`` at the project root
(``{stage_name: {field: value}}``).

A :class:`StageDef` subclass goes further: its ``Dep``/``Out`` class attributes declare the
stage's files, loaded before the call and saved after it; its ordinary fields are params::

    class Train(StageDef):
        data: Dep[pl.DataFrame] = Dep("data/clean.csv", loaders.CSV())
        model: Out[dict] = Out("models/model.pkl", loaders.Pickle())
        epochs: int = 10

    def train(p: Train) -> None:
        p.model = {"rows": p.data.height, "epochs": p.epochs}
"""

from __future__ import annotations

from typing import Any, ClassVar

import pydantic
from pydantic._internal._model_construction import ModelMetaclass

from pivot.outputs import Dep, DirectoryOut, IncrementalOut, Metric, Out, Plot

__all__ = [
    "Dep",
    "DirectoryOut",
    "IncrementalOut",
    "Metric",
    "Out",
    "Plot",
    "StageDef",
    "StageParams",
]


class StageParams(pydantic.BaseModel):
    """Base class for a stage's parameters. Unknown fields in params.yaml are an error."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class _StageDefMeta(ModelMetaclass):
    """Takes Dep/Out attributes out of the class body before pydantic sees them, so only the
    ordinary fields become (validated, overridable) params."""

    def __new__(
        mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> type:
        artifacts: dict[str, Dep[Any] | Out[Any]] = {}
        types: dict[str, tuple[object, str]] = {}
        for base in reversed(bases):
            artifacts.update(getattr(base, "__pivot_artifacts__", {}))
            types.update(getattr(base, "__pivot_artifact_types__", {}))
        annotations = namespace.get("__annotations__", {})
        module = str(namespace.get("__module__", ""))
        for attr, value in list(namespace.items()):
            if isinstance(value, Dep | Out):
                artifacts[attr] = value
                del namespace[attr]
                types.pop(attr, None)
                if attr in annotations:
                    # Kept (maybe as a string) for registration: ``Dep[pd.DataFrame]`` tells
                    # CSV to read pandas.
                    types[attr] = (annotations.pop(attr), module)
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        cls.__pivot_artifacts__ = artifacts  # type: ignore[attr-defined]
        cls.__pivot_artifact_types__ = types  # type: ignore[attr-defined]
        return cls


class StageDef(pydantic.BaseModel, metaclass=_StageDefMeta):
    """A stage's deps, outs and params in one class. Assign outputs as attributes."""

    model_config = pydantic.ConfigDict(extra="forbid")

    __pivot_artifacts__: ClassVar[dict[str, Dep[Any] | Out[Any]]] = {}
    #: attribute -> (its annotation, possibly a string; the module it is resolved in)
    __pivot_artifact_types__: ClassVar[dict[str, tuple[object, str]]] = {}
    _artifact_values: dict[str, Any] = pydantic.PrivateAttr(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        artifacts = type(self).__pivot_artifacts__
        if name in artifacts:
            values = self.__pydantic_private__ or {}
            store = values.get("_artifact_values", {})
            if name in store:
                return store[name]
            raise AttributeError(f"output '{name}' has not been assigned yet")
        return super().__getattr__(name)  # type: ignore[misc]

    def __setattr__(self, name: str, value: Any) -> None:
        if name in type(self).__pivot_artifacts__:
            self._artifact_values[name] = value
            return
        super().__setattr__(name, value)

    @classmethod
    def artifacts(cls) -> dict[str, Dep[Any] | Out[Any]]:
        return dict(cls.__pivot_artifacts__)
