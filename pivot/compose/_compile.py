"""Compiling a block's calls into :class:`~pivot.registry.StageSpec` records.

Each call becomes the same record ``register()`` builds from annotations (deps and outs with
paths and loaders, the params model, the call's params as the values ``params.yaml``
overrides), so nothing downstream knows which style wrote a stage.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from pivot import loaders, registry
from pivot.compose._calls import DEFAULT_ROOT, Block, Call, safe_label
from pivot.compose._formats import (
    TableFormat,
    default_format,
    directory_loader,
    explicit_loader,
    metric_format,
    plot_format,
)
from pivot.compose._handles import Artifact, Handle
from pivot.compose._signature import ArgPlan, OutPlan
from pivot.exceptions import CompositionError, StageDefinitionError
from pivot.outputs import DirectoryOut, IncrementalOut, Metric, Plot


def compile_block(block: Block) -> list[registry.StageSpec]:
    pipeline = block.pipeline
    counts = Counter(id(call.stage) for call in block.calls if call.name is None)
    taken: dict[str, Call] = {}
    specs = []
    for call in block.calls:
        call.short = _short_name(call, counts[id(call.stage)] > 1)
        clash = taken.get(call.short)
        if clash is not None:
            raise CompositionError(
                f"{call.where}: a second stage named '{pipeline.name}/{call.short}' (the first "
                f"is at {clash.where}); give the call its own name: "
                f"{call.stage.base_name}(..., name='...')"
            )
        taken[call.short] = call
        specs.append(_compile_call(pipeline, call))
    return specs


def _short_name(call: Call, several: bool) -> str:
    if call.name is not None:
        return call.name
    if not several:
        return call.stage.base_name
    for arg in call.plan.args:
        value = call.arguments.get(arg.name)
        first = value[0] if isinstance(value, list | tuple) and value else value
        if isinstance(first, Handle):
            return f"{call.stage.base_name}@{first.label}"
    raise CompositionError(
        f"{call.where}: '{call.stage.base_name}' is called more than once in this block and "
        "this call has no input to tell it apart; give it a name: "
        f"{call.stage.base_name}(..., name='...')"
    )


def _compile_call(pipeline: registry.Pipeline, call: Call) -> registry.StageSpec:
    name = f"{pipeline.name}/{call.short}"
    try:
        registry.validate_stage_name(name)
    except StageDefinitionError as exc:
        raise CompositionError(f"{call.where}: {exc}") from None
    outs: list[registry.OutSpec] = []
    for plan in call.plan.outs:
        out, untyped = _out_spec(pipeline, call, name, plan)
        outs.append(out)
        handle = call.handles[plan.key]
        handle.label = safe_label(call.short if plan.key is None else f"{call.short}.{plan.key}")
        loader = loaders.PathOnly() if out.directory else untyped
        handle._resolve(Artifact(out.path, loader, out.directory))

    deps: list[registry.DepSpec] = []
    params_deps: list[registry.ParamsDepSpec] = []
    incremental: list[registry.IncrementalArg] = []
    params_arg: str | None = None
    params_model: type | None = None
    overrides: dict[str, Any] = {}
    for arg in call.plan.args:
        passed = arg.name in call.arguments
        value = call.arguments.get(arg.name)
        if arg.role == "marked":
            if passed:
                raise CompositionError(
                    f"{call.where}: stage '{name}': '{arg.name}' is declared in the "
                    "annotation (Dep/ParamsDep/IncrementalOut); do not pass it"
                )
            _marked(call, name, arg, deps, params_deps, incremental, outs)
        elif arg.role == "incremental":
            incremental.append(_incremental(call, name, arg, outs))
        elif arg.role == "params":
            params_arg, params_model = arg.name, arg.annotation  # type: ignore[assignment]
            if passed and value is not None:
                overrides = _params_values(call, name, arg, value)
        elif passed:
            deps.append(_dep(call, name, arg, value))
        elif not arg.has_default and not arg.variadic:
            raise CompositionError(
                f"{call.where}: stage '{name}' needs '{arg.name}'; pass a handle "
                "(pipeline.input(...) or another stage's result)"
            )
    if params_model is not None and hasattr(params_model, "__pivot_artifacts__"):
        raise CompositionError(
            f"{call.where}: stage '{name}' takes a StageDef; StageDef stages are registered "
            "with pipeline.register(fn), not called in a `with` block"
        )
    spec = registry.StageSpec(
        name=name,
        func=call.stage.__wrapped__,
        deps=tuple(deps),
        outs=tuple(outs),
        return_kind=call.plan.return_kind,
        params_arg=params_arg,
        params_model=params_model,
        params_overrides=overrides,
        incremental_args=tuple(incremental),
        params_deps=tuple(params_deps),
    )
    return _with_resources(spec, call)


def _with_resources(spec: registry.StageSpec, call: Call) -> registry.StageSpec:
    resources = call.stage.resources
    if resources is None:
        return spec
    return dataclasses.replace(spec, resources=registry.validate_resources(spec.name, resources))


def _default_path(pipeline: registry.Pipeline, call: Call, plan: OutPlan, suffix: str) -> str:
    stem = call.short if plan.key is None else f"{call.short}/{plan.key}"
    return f"{DEFAULT_ROOT}/{pipeline.name}/{stem}{suffix}"


def _out_spec(
    pipeline: registry.Pipeline, call: Call, name: str, plan: OutPlan
) -> tuple[registry.OutSpec, loaders.Loader[Any]]:
    """The output's spec, and its loader before it was fitted to the producer's annotation
    (a consumer fits it to its own: polars in, pandas out)."""
    if plan.marker is not None:
        marker = plan.marker
    else:
        where = f"{call.where}: stage '{name}'" + (f" output '{plan.key}'" if plan.key else "")
        table: TableFormat = getattr(pipeline, "table_format", "parquet")
        if plan.path is not None:
            loader = explicit_loader(plan.path, where)
            marker = plan.kind(plan.path, loader)
        elif issubclass(plan.kind, DirectoryOut):
            path = _default_path(pipeline, call, plan, "")
            marker = plan.kind(path, directory_loader(plan.annotation, table))
        else:
            if issubclass(plan.kind, Metric):
                suffix, loader = metric_format(plan.annotation, where)
            elif issubclass(plan.kind, Plot):
                suffix, loader = plot_format(plan.annotation, where)
            else:
                suffix, loader = default_format(plan.annotation, table)
            marker = plan.kind(_default_path(pipeline, call, plan, suffix), loader)
    typed = registry._typed_out(name, marker, plan.annotation)
    return registry.OutSpec(plan.key, typed.path, typed), marker.loader


def _dep(call: Call, name: str, arg: ArgPlan, value: object) -> registry.DepSpec:
    many = isinstance(value, list | tuple)
    items = list(value) if isinstance(value, list | tuple) else [value]
    if many and not items:
        raise CompositionError(f"{call.where}: stage '{name}': '{arg.name}' got an empty list")
    artifacts = []
    for item in items:
        assert isinstance(item, Handle)  # checked at the call
        try:
            artifacts.append(item.artifact)
        except CompositionError as exc:
            raise CompositionError(f"{call.where}: stage '{name}': {exc}") from None
    kinds = {type(a.loader) for a in artifacts}
    if len(kinds) > 1:
        raise CompositionError(
            f"{call.where}: stage '{name}': the files passed as '{arg.name}' need different "
            "loaders; pass files of one format"
        )
    loader: loaders.Loader[Any] = artifacts[0].loader
    if not isinstance(loader, loaders.PathOnly):
        loader = registry._typed_loader(name, loader, arg.annotation)
    return registry.DepSpec(arg.name, tuple(a.path for a in artifacts), loader, many)


def _params_values(call: Call, name: str, arg: ArgPlan, value: object) -> dict[str, Any]:
    model = arg.annotation
    if isinstance(model, type) and isinstance(value, model):
        dumped = value.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        return dict(dumped)
    if isinstance(value, dict):
        return dict(value)
    raise CompositionError(
        f"{call.where}: stage '{name}': '{arg.name}' takes a "
        f"{getattr(model, '__name__', 'params model')} instance, got {type(value).__name__}"
    )


def _incremental(
    call: Call, name: str, arg: ArgPlan, outs: list[registry.OutSpec]
) -> registry.IncrementalArg:
    """The previous version of the incremental output this parameter is tagged for: the
    single output, or the TypedDict key of the parameter's name."""
    for out in outs:
        if out.incremental and (out.key is None or out.key == arg.name):
            loader = registry._typed_loader(name, out.marker.loader, arg.annotation)
            return registry.IncrementalArg(arg.name, out.path, loader)
    raise CompositionError(
        f"{call.where}: stage '{name}': '{arg.name}' is tagged IncrementalOut, but no "
        "incremental output matches it; tag the return (or the TypedDict field of the same "
        "name) with pivot.IncrementalOut"
    )


def _marked(
    call: Call,
    name: str,
    arg: ArgPlan,
    deps: list[registry.DepSpec],
    params_deps: list[registry.ParamsDepSpec],
    incremental: list[registry.IncrementalArg],
    outs: list[registry.OutSpec],
) -> None:
    """An annotation-style parameter: exactly what ``register()`` makes of it."""
    from pivot.outputs import Dep, ParamsDep

    hints = registry._resolve_hints(call.stage.__wrapped__, name)
    base, markers = registry._markers(hints[arg.name])
    for marker in markers:
        if isinstance(marker, ParamsDep):
            params_deps.append(registry._params_dep(name, arg.name, marker))
            return
        if isinstance(marker, Dep):
            deps.append(registry._dep_spec(name, arg.name, marker, base))
            return
        if isinstance(marker, IncrementalOut):
            out_marker = registry._typed_out(name, marker, base)
            incremental.append(
                registry.IncrementalArg(arg.name, out_marker.path, out_marker.loader)
            )
            if out_marker.path not in {o.path for o in outs}:
                outs.append(registry.OutSpec(None, out_marker.path, out_marker))
            return
