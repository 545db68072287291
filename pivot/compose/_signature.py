"""What a ``@stage`` function's signature says, read once per function.

Each parameter is one of: the params model, an annotation-style input (``Dep``, ``ParamsDep``,
``IncrementalOut`` instances, exactly as in ``register()``), the previous version of an
incremental output (the ``IncrementalOut`` tag), or data: a handle passed at the call. The
return annotation lists the outputs: one value, the keys of a TypedDict, or none.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any

from pivot import registry
from pivot.exceptions import CompositionError
from pivot.outputs import Dep, IncrementalOut, Out, ParamsDep


@dataclasses.dataclass(frozen=True)
class OutPlan:
    """One output before its stage is named: a fixed marker, or a kind and a type."""

    key: str | None
    annotation: object
    #: ``Out(...)`` written by the user: path and loader fixed.
    marker: Out[Any] | None
    #: The output kind when Pivot places it (``Out``, ``Metric``, ``Plot``, ...).
    kind: type[Out[Any]] = Out
    #: ``@stage(out="data/clean.csv")``: the path is fixed, the loader follows its suffix.
    path: str | None = None


@dataclasses.dataclass(frozen=True)
class ArgPlan:
    """One parameter of the stage function."""

    name: str
    annotation: object
    role: typing.Literal["params", "marked", "incremental", "data"]
    has_default: bool
    variadic: bool = False


@dataclasses.dataclass(frozen=True)
class SignaturePlan:
    signature: inspect.Signature
    args: tuple[ArgPlan, ...]
    outs: tuple[OutPlan, ...]
    return_kind: registry.ReturnKind


def _out_tag(markers: list[object]) -> tuple[Out[Any] | None, type[Out[Any]] | None]:
    """The first Out marker (an instance) or tag (the class itself) among ``markers``."""
    for marker in markers:
        if isinstance(marker, Out):
            return marker, None
        if isinstance(marker, type) and issubclass(marker, Out):
            return None, marker
    return None, None


def _out_plan(key: str | None, annotation: object) -> OutPlan:
    base, markers = registry._markers(annotation)
    marker, tag = _out_tag(markers)
    return OutPlan(key, base, marker, tag or Out)


def _decorator_out(out: object, annotation: object, stage: str) -> OutPlan:
    """``@stage(out=...)``: a path, an ``Out`` marker, or an output kind."""
    if isinstance(out, str):
        return OutPlan(None, annotation, None, Out, path=out)
    if isinstance(out, Out):
        return OutPlan(None, annotation, out)
    if isinstance(out, type) and issubclass(out, Out):
        return OutPlan(None, annotation, None, out)
    raise CompositionError(
        f"stage '{stage}': out= takes a path, a pivot.Out(...) marker or an output kind such "
        f"as pivot.Metric, not {type(out).__name__}"
    )


def read_signature(func: Callable[..., Any], stage: str, out: object | None) -> SignaturePlan:
    """Split ``func``'s parameters into roles and its return annotation into outputs."""
    hints = registry._resolve_hints(func, stage)
    signature = inspect.signature(func)
    args: list[ArgPlan] = []
    for param in signature.parameters.values():
        annotation = hints.get(param.name, param.annotation)
        base, markers = registry._markers(annotation)
        has_default = param.default is not inspect.Parameter.empty
        variadic = param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        if any(isinstance(m, Dep | ParamsDep) for m in markers) or any(
            isinstance(m, IncrementalOut) for m in markers
        ):
            role: typing.Literal["params", "marked", "incremental", "data"] = "marked"
        elif any(isinstance(m, type) and issubclass(m, IncrementalOut) for m in markers):
            role = "incremental"
        elif registry._is_params_model(base):
            role = "params"
        else:
            role = "data"
        args.append(ArgPlan(param.name, base, role, has_default, variadic))
    if sum(arg.role == "params" for arg in args) > 1:
        raise CompositionError(f"stage '{stage}': two params models; use one")

    returned = hints.get("return", signature.return_annotation)
    if out is not None:
        if typing.is_typeddict(registry._markers(returned)[0]):
            raise CompositionError(
                f"stage '{stage}': out= places a single output, but the function returns a "
                "TypedDict; annotate each field with pivot.Out(path, loader) instead"
            )
        plan = _decorator_out(out, registry._markers(returned)[0], stage)
        return SignaturePlan(signature, tuple(args), (plan,), "single")
    if returned in (None, type(None)):
        return SignaturePlan(signature, tuple(args), (), "none")
    base, _ = registry._markers(returned)
    if typing.is_typeddict(base):
        fields = registry._resolve_hints(base, stage)
        outs = tuple(_out_plan(key, field) for key, field in fields.items())
        return SignaturePlan(signature, tuple(args), outs, "dict")
    return SignaturePlan(signature, tuple(args), (_out_plan(None, returned),), "single")
