"""Stage registration: turn annotated functions into :class:`StageSpec` records.

Two styles, freely mixed in one ``pipeline.py``::

    pipeline = pivot.Pipeline("demo")
    pipeline.register(clean)

    from pivot.registry import REGISTRY
    REGISTRY.register(train)

Every :class:`Pipeline` created while ``pipeline.py`` loads is collected by discovery.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
import os
import re
import sys
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar, overload

from pivot import loaders
from pivot.exceptions import PivotError, StageDefinitionError
from pivot.outputs import Dep, DirectoryOut, IncrementalOut, Out, ParamsDep

F = TypeVar("F", bound=Callable[..., Any])

#: ``name``, ``name@variant``, and for composed stages ``pipeline/name`` (one namespace level).
STAGE_NAME = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_\-.]*/)?[A-Za-z_][A-Za-z0-9_\-.]*(@[A-Za-z0-9_\-.]+)?$"
)

ReturnKind = Literal["none", "single", "dict"]


@dataclasses.dataclass(frozen=True)
class DepSpec:
    """One input of a stage: a parameter that receives the loaded value, or (``arg`` None) a
    declared path, hashed like any dep but not passed to the function."""

    arg: str | None
    paths: tuple[str, ...]
    loader: loaders.Loader[Any]
    many: bool


@dataclasses.dataclass(frozen=True)
class IncrementalArg:
    """A parameter that receives the previous version of an incremental output."""

    arg: str
    path: str
    loader: loaders.Loader[Any]


@dataclasses.dataclass(frozen=True)
class ParamsDepSpec:
    """An argument annotated with :class:`~pivot.outputs.ParamsDep`: keys of a params file
    the stage depends on by value (``keys`` empty: the whole file)."""

    arg: str
    file: str
    keys: tuple[str, ...]


#: File types a ParamsDep may read (by suffix).
PARAMS_SUFFIXES = (".yaml", ".yml", ".json", ".toml")


@dataclasses.dataclass(frozen=True)
class OutSpec:
    """One output of a stage; ``key`` is the TypedDict key, or None for a single return value."""

    key: str | None
    path: str
    marker: Out[Any]

    @property
    def loader(self) -> loaders.Loader[Any]:
        return self.marker.loader

    @property
    def kind(self) -> str:
        return self.marker.kind

    @property
    def cached(self) -> bool:
        return self.marker.cache

    @property
    def incremental(self) -> bool:
        return self.marker.incremental

    @property
    def directory(self) -> bool:
        return self.marker.directory


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """Everything Pivot knows about one stage before running it."""

    name: str
    func: Callable[..., Any]
    deps: tuple[DepSpec, ...]
    outs: tuple[OutSpec, ...]
    return_kind: ReturnKind
    params_arg: str | None = None
    params_model: type | None = None
    params_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: The params model is a StageDef: deps are loaded into it and outs read back from it.
    stagedef: bool = False
    incremental_args: tuple[IncrementalArg, ...] = ()
    #: For a matrix variant: the values of its matrix dimensions.
    variant: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: Keys of params files the stage depends on by value.
    params_deps: tuple[ParamsDepSpec, ...] = ()
    #: Amounts of named resources the stage holds while it runs (``{"gpu": 1}``); the
    #: scheduler starts it only when they fit in what is free (docs/resources.md).
    resources: Mapping[str, float] = dataclasses.field(default_factory=dict)
    #: Parameters of the function that receive a params field of the same name by keyword
    #: (a stage whose function takes no params model; see docs/declared-stages.md).
    params_kwargs: tuple[str, ...] = ()

    @property
    def dep_paths(self) -> tuple[str, ...]:
        return tuple(path for dep in self.deps for path in dep.paths)

    @property
    def out_paths(self) -> tuple[str, ...]:
        return tuple(out.path for out in self.outs)

    def tracked_params(self) -> dict[str, tuple[str, ...] | None]:
        """``{file: keys}`` of the params-file keys the stage tracks, merged over its
        ParamsDep arguments in declaration order; ``None`` for a file tracked whole."""
        merged: dict[str, tuple[str, ...] | None] = {}
        for dep in self.params_deps:
            known = merged.get(dep.file, ())
            if known is None or not dep.keys:
                merged[dep.file] = None
            else:
                merged[dep.file] = tuple(dict.fromkeys((*known, *dep.keys)))
        return merged

    def loaders(self) -> list[loaders.Loader[Any]]:
        """Every loader instance the stage uses (for fingerprinting)."""
        found = [dep.loader for dep in self.deps] + [out.loader for out in self.outs]
        unique: dict[str, loaders.Loader[Any]] = {}
        for loader in found:
            unique.setdefault(repr(loader), loader)
        return [unique[key] for key in sorted(unique)]

    def with_paths(self, normalize: Callable[[str], str]) -> StageSpec:
        """A copy with every path passed through ``normalize``."""
        deps = tuple(
            dataclasses.replace(dep, paths=tuple(normalize(p) for p in dep.paths))
            for dep in self.deps
        )
        outs = tuple(dataclasses.replace(out, path=normalize(out.path)) for out in self.outs)
        incremental = tuple(
            dataclasses.replace(arg, path=normalize(arg.path)) for arg in self.incremental_args
        )
        params_deps = tuple(
            dataclasses.replace(dep, file=normalize(dep.file)) for dep in self.params_deps
        )
        return dataclasses.replace(
            self,
            deps=deps,
            outs=outs,
            incremental_args=incremental,
            params_deps=params_deps,
        )


class Pipeline:
    """A named collection of stages.

    Stages join it by ``register(fn)`` (annotation style) or, as a context manager, by calls
    of ``@stage`` functions inside ``with Pipeline(...) as pipeline:`` (see
    :mod:`pivot.compose`); ``table_format`` is the format of DataFrames such calls return
    (``"parquet"`` or ``"csv"``) where no path is given.
    """

    def __init__(self, name: str = "default", *, table_format: str = "parquet") -> None:
        self.name = name
        self.table_format = table_format
        self._stages: dict[str, StageSpec] = {}
        #: The file that created it: stages registered on a pipeline of a sub-folder's
        #: pipeline.py are named ``<pipeline>/<stage>`` (see discovery.collect).
        self.defined_in: str | None = _caller_file()
        _LIVE_PIPELINES.append(self)

    def __enter__(self) -> Pipeline:
        from pivot.compose._block import open_block

        open_block(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        from pivot.compose._block import close_block

        close_block(self, failed=exc_type is not None)

    def input(self, path: str | os.PathLike[str], loader: loaders.Loader[Any] | None = None) -> Any:
        """A handle to an existing file (tracked data, or a path another stage writes), to
        pass to stage calls in this pipeline's ``with`` block. The loader follows the suffix
        and the annotation of the argument it is passed to, unless given."""
        from pivot.compose._block import input_handle

        return input_handle(self, path, loader)

    @overload
    def register(
        self,
        func: F,
        *,
        name: str | None = None,
        matrix: Mapping[str, Any] | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> F: ...

    @overload
    def register(
        self,
        func: None = None,
        *,
        name: str | None = None,
        matrix: Mapping[str, Any] | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> Callable[[F], F]: ...

    def register(
        self,
        func: F | None = None,
        *,
        name: str | None = None,
        matrix: Mapping[str, Any] | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> F | Callable[[F], F]:
        """Add ``func`` as a stage (usable as a decorator, with or without arguments).

        ``matrix`` expands it into one stage per combination of values, named
        ``name@v1_v2``; ``{dimension}`` placeholders in its paths take each variant's value,
        and dimensions named like a params field set that field::

            pipeline.register(train, matrix={"model": ["bert", "gpt"], "lang": ["swe", "eng"]})

        A dimension may also map labels to params: ``{"model": {"small": {"hidden": 64}}}``.

        ``resources`` names what the stage holds while it runs (``{"gpu": 1, "mem_gb": 8}``);
        every matrix variant asks for the same.
        """
        if func is None:
            return lambda f: self.register(f, name=name, matrix=matrix, resources=resources)
        base = build_stage_spec(func, name=name, resources=resources)
        for spec in expand_matrix(base, matrix) if matrix else [base]:
            self.add(spec)
        return func

    def add_stage(
        self,
        func: F,
        *,
        deps: DeclaredPaths = (),
        outs: DeclaredPaths = (),
        params: type | Mapping[str, Any] | None = None,
        name: str | None = None,
        matrix: Mapping[str, Any] | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> F:
        """Add ``func`` as a stage whose files are declared beside it (the DVC-like form)::

            pipeline.add_stage(train, deps=["processed.parquet"], outs=["model.pkl"])

        The function does its own I/O on those paths (relative to the project root, its
        working directory): deps are hashed but not passed to it, outs must exist when it
        returns. ``outs`` may hold markers (``IncrementalOut("db.sqlite")``, ``Metric``,
        ``Plot``, ``DirectoryOut``, ``Out(path, cache=False)``); a path ending in ``/`` is a
        folder. ``params`` is a pydantic model (the parameter annotated with it receives it)
        or a mapping of values (parameters of the same name receive them); either way
        params.yaml overrides them under the stage's name. See docs/declared-stages.md.
        """
        base = build_stage_spec(
            func,
            name=name,
            resources=resources,
            deps=deps,
            outs=outs,
            params=params,
            matrix=matrix,
        )
        for spec in expand_matrix(base, matrix) if matrix else [base]:
            self.add(spec)
        return func

    def add(self, spec: StageSpec) -> None:
        """Add a ready-made spec."""
        if spec.name in self._stages:
            raise StageDefinitionError(
                f"stage '{spec.name}' is registered twice in pipeline '{self.name}'; "
                "give one of them another name with register(fn, name=...)"
            )
        self._stages[spec.name] = spec

    @property
    def stages(self) -> list[StageSpec]:
        return list(self._stages.values())

    def clear(self) -> None:
        self._stages.clear()

    def __iter__(self) -> Iterator[StageSpec]:
        return iter(self._stages.values())

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, stages={list(self._stages)})"


def _caller_file() -> str | None:
    """The source file of the code that called ``Pipeline(...)``."""
    frame = sys._getframe(2)
    return frame.f_code.co_filename if frame is not None else None


_LIVE_PIPELINES: list[Pipeline] = []

#: The default registry for the module-path style.
REGISTRY = Pipeline("default")


def begin_collection() -> None:
    """Forget previously loaded pipelines before (re)loading pipeline.py."""
    _LIVE_PIPELINES.clear()
    REGISTRY.clear()
    _LIVE_PIPELINES.append(REGISTRY)


def collected_pipelines() -> list[Pipeline]:
    return list(_LIVE_PIPELINES)


def validate_stage_name(name: str) -> None:
    if not STAGE_NAME.match(name):
        raise StageDefinitionError(
            f"bad stage name '{name}': use letters, digits, '_', '-', '.', and one optional "
            "'@variant' suffix (and one 'pipeline/' prefix)"
        )


def _is_params_model(annotation: object) -> bool:
    pydantic = sys.modules.get("pydantic")
    return (
        pydantic is not None
        and isinstance(annotation, type)
        and issubclass(annotation, pydantic.BaseModel)
    )


def _markers(annotation: object) -> tuple[object, list[object]]:
    """Split ``Annotated[T, m1, m2]`` into ``(T, [m1, m2])``; other annotations have no markers."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        return base, list(extras)
    return annotation, []


def _resolve_hints(obj: Any, stage: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception as exc:
        raise StageDefinitionError(f"stage '{stage}': cannot resolve annotations: {exc}") from exc


def _typed_loader(stage: str, loader: loaders.Loader[Any], annotation: object) -> Any:
    """The loader configured for the annotated type (CSV reads pandas for pandas.DataFrame)."""
    try:
        return loader.for_type(annotation)
    except PivotError:
        raise
    except Exception as exc:
        raise StageDefinitionError(
            f"stage '{stage}': {type(loader).__name__}.for_type failed: {type(exc).__name__}: {exc}"
        ) from exc


def _dep_spec(stage: str, arg: str, marker: Dep[Any], annotation: object) -> DepSpec:
    loader = _typed_loader(stage, marker.loader, annotation)
    return DepSpec(arg, marker.paths, loader, marker.many)


def _typed_out(stage: str, marker: Out[Any], annotation: object) -> Out[Any]:
    """``marker`` with its loader configured for the annotated type (the same object when the
    loader does not care)."""
    loader = _typed_loader(stage, marker.loader, annotation)
    return marker if loader is marker.loader else dataclasses.replace(marker, loader=loader)


def _artifact_types(model: Any, stage: str) -> dict[str, Any]:
    """The annotations of a StageDef's Dep/Out attributes (``Dep[pd.DataFrame]``), resolved in
    the module of the class that declared each; empty for unannotated attributes."""
    resolved: dict[str, Any] = {}
    for attr, (annotation, module) in getattr(model, "__pivot_artifact_types__", {}).items():
        holder = type("_Annotations", (), {"__annotations__": {attr: annotation}})
        holder.__module__ = module
        resolved[attr] = _resolve_hints(holder, stage)[attr]
    return resolved


def build_stage_spec(
    func: Callable[..., Any],
    *,
    name: str | None = None,
    resources: Mapping[str, float] | None = None,
    deps: DeclaredPaths | None = None,
    outs: DeclaredPaths | None = None,
    params: type | Mapping[str, Any] | None = None,
    matrix: Mapping[str, Any] | None = None,
) -> StageSpec:
    """Read a stage's deps, outs and params from its annotations, plus the paths and params
    declared beside it (``deps``/``outs``/``params``, see :meth:`Pipeline.add_stage`).

    ``matrix`` is only read for the names of the params its variants set, which a declared
    stage without a params model takes as its params.
    """
    if not callable(func):
        raise StageDefinitionError(f"cannot register {func!r}: a stage must be a function")
    stage = str(name or getattr(func, "__name__", ""))
    validate_stage_name(stage)
    needs = validate_resources(stage, resources)
    hints = _resolve_hints(func, stage)
    signature = inspect.signature(func)
    declared = deps is not None or outs is not None or params is not None
    deps_by_arg = _declared_deps(stage, deps, signature)
    declared_outs = _declared_outs(stage, outs)
    given_model = _given_model(stage, params)

    deps_list: list[DepSpec] = [dep for dep in deps_by_arg if dep.arg is None]
    incremental: list[IncrementalArg] = []
    params_deps: list[ParamsDepSpec] = []
    params_arg: str | None = None
    params_model: type | None = None
    #: Parameters nothing else claims: they may receive a params value of the same name.
    free: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        base, markers = _markers(hints.get(param.name, param.annotation))
        dep_markers = [m for m in markers if isinstance(m, Dep)]
        incremental_markers = [m for m in markers if isinstance(m, Out) and m.incremental]
        params_markers = [m for m in markers if isinstance(m, ParamsDep)]
        named = [dep for dep in deps_by_arg if dep.arg == param.name]
        if named:
            if markers:
                raise StageDefinitionError(
                    f"stage '{stage}': parameter '{param.name}' is both annotated and named in "
                    "deps; declare it one way"
                )
            deps_list.append(named[0])
        elif params_markers:
            params_deps.append(_params_dep(stage, param.name, params_markers[0]))
        elif dep_markers:
            marker = dep_markers[0]
            deps_list.append(_dep_spec(stage, param.name, marker, base))
        elif incremental_markers:
            out_marker = _typed_out(stage, incremental_markers[0], base)
            incremental.append(IncrementalArg(param.name, out_marker.path, out_marker.loader))
        elif _is_params_model(base):
            if params_arg is not None:
                raise StageDefinitionError(
                    f"stage '{stage}': two params models ('{params_arg}' and '{param.name}'); "
                    "use one"
                )
            if given_model is not None and base is not given_model:
                raise StageDefinitionError(
                    f"stage '{stage}': params={given_model.__name__} but parameter "
                    f"'{param.name}' takes {getattr(base, '__name__', base)}; use one model"
                )
            params_arg, params_model = param.name, typing.cast(type, base)
        elif any(isinstance(m, Out) for m in markers):
            raise StageDefinitionError(
                f"stage '{stage}': parameter '{param.name}' is marked Out; declare outputs in "
                "the return annotation (only IncrementalOut may mark a parameter)"
            )
        elif param.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            free.append(param)
    if params_model is None:
        params_model = given_model

    overrides: dict[str, Any] = {}
    if isinstance(params, Mapping) and params_model is not None:
        fields = _model_fields(params_model)
        unknown = [key for key in params if key not in fields]
        if unknown:
            raise StageDefinitionError(
                f"stage '{stage}': params '{unknown[0]}' is not a field of "
                f"{params_model.__name__}; use one of {sorted(fields)}"
            )
        overrides = dict(params)
    elif declared and params_model is None:
        values = dict(params) if isinstance(params, Mapping) else {}
        params_model = _values_model(stage, values, _matrix_fields(matrix), signature, hints)
    params_kwargs: tuple[str, ...] = ()
    if params_model is not None and params_arg is None:
        fields = _model_fields(params_model)
        params_kwargs = tuple(p.name for p in free if p.name in fields)
    for param in free:
        if param.default is inspect.Parameter.empty and param.name not in params_kwargs:
            raise StageDefinitionError(
                f"stage '{stage}': parameter '{param.name}' needs Annotated[..., Dep(...)], a "
                "params model, or a default value"
            )

    returned = hints.get("return", signature.return_annotation)
    if declared_outs and _declares_outs(returned):
        raise StageDefinitionError(
            f"stage '{stage}': outputs are given both in outs= and in the return annotation; "
            "declare outputs one way"
        )
    if declared and not _declares_outs(returned):
        outs_list: list[OutSpec] = []
        return_kind: ReturnKind = "none"  # a declared stage's return value is not an output
    else:
        outs_list, return_kind = _return_outs(stage, returned)
    stagedef = params_model is not None and hasattr(params_model, "__pivot_artifacts__")
    if stagedef:
        if outs_list:
            raise StageDefinitionError(
                f"stage '{stage}': a StageDef stage declares its outputs on the class; its "
                "function should return None"
            )
        types = _artifact_types(params_model, stage)
        for attr, marker in params_model.__pivot_artifacts__.items():  # type: ignore[union-attr]
            if isinstance(marker, Dep):
                deps_list.append(_dep_spec(stage, attr, marker, types.get(attr)))
            else:
                outs_list.append(
                    OutSpec(attr, marker.path, _typed_out(stage, marker, types.get(attr)))
                )
    outs_list.extend(declared_outs)
    known = {out.path for out in outs_list}
    for arg in incremental:
        if arg.path not in known:
            if not isinstance(arg.loader, loaders.PathOnly):
                raise StageDefinitionError(
                    f"stage '{stage}': return the new value of IncrementalOut '{arg.path}' "
                    "(declare it in the return annotation too), or use PathOnly and write it"
                )
            outs_list.append(OutSpec(None, arg.path, IncrementalOut(arg.path, arg.loader)))
    return StageSpec(
        name=stage,
        func=func,
        deps=tuple(deps_list),
        outs=tuple(outs_list),
        return_kind=return_kind,
        params_arg=params_arg,
        params_model=params_model,
        params_overrides=overrides,
        stagedef=stagedef,
        incremental_args=tuple(incremental),
        params_deps=tuple(params_deps),
        resources=needs,
        params_kwargs=params_kwargs,
    )


# -- declared paths and params ------------------------------------------------------------------

#: Paths declared beside a stage: a list of paths or markers, or a mapping of names to them
#: (pivot.yaml's ``deps: {data: data/clean.csv}``).
DeclaredPaths = (
    Sequence["str | os.PathLike[str] | Dep[Any] | Out[Any]"]
    | Mapping[str, "str | os.PathLike[str] | Dep[Any] | Out[Any] | Sequence[str]"]
)


def _entries(stage: str, what: str, given: object) -> list[tuple[str | None, object]]:
    """``(name or None, item)`` for each entry of a ``deps=``/``outs=`` value."""
    if given is None:
        return []
    if isinstance(given, str | os.PathLike | Dep | Out):
        return [(None, given)]  # one path given bare
    if isinstance(given, Mapping):
        for key in given:
            if not isinstance(key, str):
                raise StageDefinitionError(f"stage '{stage}': {what} name {key!r} is not text")
        return list(given.items())
    if isinstance(given, list | tuple):
        return [(None, item) for item in given]
    raise StageDefinitionError(
        f"stage '{stage}': {what}= takes a list of paths, not {type(given).__name__}"
    )


def _declared_deps(
    stage: str, given: object, signature: inspect.Signature | None = None
) -> list[DepSpec]:
    """Declared deps; a named one is passed (as its path) to the parameter of its name."""
    specs = []
    for key, item in _entries(stage, "deps", given):
        arg = key if signature is not None and key in signature.parameters else None
        if isinstance(item, Dep):
            specs.append(DepSpec(arg, item.paths, loaders.PathOnly(), item.many))
        elif isinstance(item, str | os.PathLike):
            specs.append(DepSpec(arg, (os.fspath(item),), loaders.PathOnly(), False))
        elif (
            key is not None
            and isinstance(item, list | tuple)
            and item
            and all(isinstance(p, str | os.PathLike) for p in item)
        ):
            specs.append(DepSpec(arg, tuple(os.fspath(p) for p in item), loaders.PathOnly(), True))
        else:
            hint = " (an output marker: put it in outs=)" if isinstance(item, Out) else ""
            raise StageDefinitionError(
                f"stage '{stage}': dep {item!r} is not a path; give a str, an os.PathLike or "
                f"pivot.Dep(path){hint}"
            )
    return specs


def _declared_outs(stage: str, given: object) -> list[OutSpec]:
    """Declared outputs: the stage writes them itself, so their loader is PathOnly."""
    specs = []
    for _, item in _entries(stage, "outs", given):
        marker: Out[Any]
        if isinstance(item, Out):
            marker = item
            if not isinstance(marker.loader, loaders.PathOnly):
                marker = dataclasses.replace(marker, loader=loaders.PathOnly())
        elif isinstance(item, str | os.PathLike):
            text = os.fspath(item)
            folder = text.endswith(("/", os.sep)) and text.rstrip("/" + os.sep) != ""
            marker = DirectoryOut(text.rstrip("/" + os.sep)) if folder else Out(text)
        else:
            hint = " (a dep marker: put it in deps=)" if isinstance(item, Dep) else ""
            raise StageDefinitionError(
                f"stage '{stage}': output {item!r} is not a path; give a str, an os.PathLike "
                f"or an output marker such as pivot.Out(path){hint}"
            )
        specs.append(OutSpec(None, os.fspath(marker.path), marker))
    return specs


def _given_model(stage: str, params: object) -> type | None:
    """The model of ``params=Model``; None for a mapping of values or no params."""
    if params is None or isinstance(params, Mapping):
        return None
    if _is_params_model(params):
        return typing.cast(type, params)
    raise StageDefinitionError(
        f"stage '{stage}': params= takes a pydantic model class or a mapping of values, not "
        f"{params!r}"
    )


def _model_fields(model: type) -> dict[str, Any]:
    return dict(getattr(model, "model_fields", {}) or {})


def _declares_outs(annotation: object) -> bool:
    """True when a return annotation names outputs (an Out marker, or a TypedDict)."""
    base, markers = _markers(annotation)
    return any(isinstance(m, Out) for m in markers) or typing.is_typeddict(base)


def _matrix_fields(matrix: Mapping[str, Any] | None) -> list[str]:
    """The params a matrix sets: its dimensions and the keys of its labels' params."""
    names: dict[str, None] = {}
    for dim, values in (matrix or {}).items():
        names[str(dim)] = None
        if isinstance(values, Mapping):
            for option in values.values():
                chosen = option.params if isinstance(option, MatrixOption) else option
                if isinstance(chosen, Mapping):
                    names.update(dict.fromkeys(map(str, chosen)))
    return list(names)


def _values_model(
    stage: str,
    values: Mapping[str, Any],
    matrix_fields: list[str],
    signature: inspect.Signature,
    hints: Mapping[str, Any],
) -> type | None:
    """A params model for a declared stage whose function takes none: one field per value
    (typed like the function's parameter of that name, if any) and per matrix-set param,
    so that params.yaml overrides them, locks record them and typos are refused."""
    names = list(dict.fromkeys([*values, *matrix_fields]))
    if not names:
        return None
    import pydantic

    fields: dict[str, Any] = {}
    for key in names:
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise StageDefinitionError(
                f"stage '{stage}': params key {key!r} must be a name (letters, digits, '_', "
                "not starting with '_' or a digit)"
            )
        param = signature.parameters.get(key)
        annotation: Any = Any
        default: Any = None
        if param is not None:
            base, markers = _markers(hints.get(key, param.annotation))
            if not markers and base is not inspect.Parameter.empty:
                annotation = base
            if param.default is not inspect.Parameter.empty:
                default = param.default
        if key in values:
            default = values[key]
        fields[key] = (annotation, default)
    config = pydantic.ConfigDict(
        extra="forbid", validate_default=True, arbitrary_types_allowed=True
    )
    try:
        model: type = pydantic.create_model(
            "Params", __config__=config, __module__=__name__, **fields
        )
    except Exception as exc:
        raise StageDefinitionError(
            f"stage '{stage}': cannot make params of {names}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    return model


@dataclasses.dataclass(frozen=True)
class MatrixOption:
    """A labelled value of a matrix dimension that sets params and adds paths to the
    variants holding it (pivot.yaml's ``params:``, ``deps+:``, ``outs+:`` under a label)."""

    #: Params the variants take; a params field named like the dimension takes the label.
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    deps: tuple[Any, ...] = ()
    outs: tuple[Any, ...] = ()


RESOURCE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_resources(stage: str, resources: object) -> dict[str, float]:
    """``resources`` as a plain dict, checked: identifier names, non-negative finite numbers."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise StageDefinitionError(
            f"stage '{stage}': resources must be a mapping of name to amount, such as "
            f"{{'gpu': 1}}, not {type(resources).__name__}"
        )
    checked: dict[str, float] = {}
    for key, amount in resources.items():
        if not isinstance(key, str) or not RESOURCE_NAME.match(key):
            raise StageDefinitionError(
                f"stage '{stage}': bad resource name {key!r}; use letters, digits and '_', "
                "not starting with a digit (gpu, mem_gb)"
            )
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int | float)
            or not math.isfinite(amount)
            or amount < 0
        ):
            raise StageDefinitionError(
                f"stage '{stage}': resource '{key}' needs a number 0 or more, got {amount!r}"
            )
        checked[key] = amount
    return checked


def _params_dep(stage: str, arg: str, marker: ParamsDep) -> ParamsDepSpec:
    if not marker.file or not marker.file.lower().endswith(PARAMS_SUFFIXES):
        raise StageDefinitionError(
            f"stage '{stage}': ParamsDep of '{arg}' reads '{marker.file}'; a params file must "
            f"be YAML, JSON or TOML ({', '.join(PARAMS_SUFFIXES)})"
        )
    for key in marker.keys:
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise StageDefinitionError(
                f"stage '{stage}': ParamsDep of '{arg}' has the key {key!r}; give a name or a "
                "dotted path such as 'train.lr'"
            )
    return ParamsDepSpec(arg, marker.file, marker.keys)


def _variant_label(value: Any) -> str:
    return str(value).replace(" ", "-")


def _raw_label(values: Mapping[Any, Any], label: str) -> Any:
    """The key of a mapping dimension whose variant label is ``label``."""
    return next((key for key in values if _variant_label(key) == label), label)


def expand_matrix(base: StageSpec, matrix: Mapping[str, Any]) -> list[StageSpec]:
    """One spec per combination of the matrix dimensions' values."""
    dims: list[tuple[str, list[tuple[str, Any]]]] = []
    for dim, values in matrix.items():
        if isinstance(values, Mapping):
            options = [(_variant_label(label), params) for label, params in values.items()]
        elif isinstance(values, list | tuple):
            options = [(_variant_label(value), value) for value in values]
        else:
            raise StageDefinitionError(
                f"stage '{base.name}': matrix dimension '{dim}' needs a list of values or a "
                "mapping of label to params"
            )
        if not options:
            raise StageDefinitionError(f"stage '{base.name}': matrix dimension '{dim}' is empty")
        dims.append((dim, options))
    fields = set(getattr(base.params_model, "model_fields", {}) or {})
    specs = []
    for combo in itertools.product(*(options for _, options in dims)):
        labels = {dim: label for (dim, _), (label, _) in zip(dims, combo, strict=True)}
        overrides: dict[str, Any] = {}
        extra_deps: list[DepSpec] = []
        extra_outs: list[OutSpec] = []
        for (dim, _), (label, value) in zip(dims, combo, strict=True):
            if isinstance(value, MatrixOption):
                extra_deps.extend(_declared_deps(base.name, value.deps))
                extra_outs.extend(_declared_outs(base.name, value.outs))
                if dim in fields:  # a dimension named like a field sets it to the label
                    overrides[dim] = _raw_label(matrix[dim], label)
                overrides.update(value.params)
            elif isinstance(value, Mapping):
                overrides.update(value)
            elif dim in fields:
                overrides[dim] = value
        name = f"{base.name}@{'_'.join(labels.values())}"
        validate_stage_name(name)

        def fill(path: str, name: str = name, labels: dict[str, str] = labels) -> str:
            try:
                return path.format_map(labels)
            except (KeyError, IndexError, ValueError) as exc:
                raise StageDefinitionError(
                    f"stage '{name}': '{path}' has a placeholder the matrix does not define ({exc})"
                ) from None

        spec = dataclasses.replace(
            base, deps=(*base.deps, *extra_deps), outs=(*base.outs, *extra_outs)
        ).with_paths(fill)
        if spec.params_deps:
            spec = dataclasses.replace(
                spec,
                params_deps=tuple(
                    dataclasses.replace(dep, keys=tuple(fill(key) for key in dep.keys))
                    for dep in spec.params_deps
                ),
            )
        specs.append(
            dataclasses.replace(
                spec,
                name=name,
                params_overrides={**dict(base.params_overrides), **overrides},
                variant=labels,
                resources=dict(base.resources),
            )
        )
    return specs


def _return_outs(stage: str, annotation: object) -> tuple[list[OutSpec], ReturnKind]:
    if annotation in (None, type(None), inspect.Signature.empty):
        return [], "none"
    base, markers = _markers(annotation)
    out_markers = [m for m in markers if isinstance(m, Out)]
    if out_markers:
        return [OutSpec(None, out_markers[0].path, _typed_out(stage, out_markers[0], base))], (
            "single"
        )
    if typing.is_typeddict(base):
        fields = _resolve_hints(base, stage)
        outs: list[OutSpec] = []
        for key, field_annotation in fields.items():
            field_base, field_markers = _markers(field_annotation)
            field_outs = [m for m in field_markers if isinstance(m, Out)]
            if not field_outs:
                raise StageDefinitionError(
                    f"stage '{stage}': return field '{key}' needs Annotated[..., Out(...)]"
                )
            outs.append(
                OutSpec(key, field_outs[0].path, _typed_out(stage, field_outs[0], field_base))
            )
        return outs, "dict"
    raise StageDefinitionError(
        f"stage '{stage}': the return annotation must be None, Annotated[..., Out(...)], or a "
        "TypedDict whose fields are Annotated with Out"
    )
