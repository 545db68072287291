"""``@stage``: a plain function that becomes a stage when called inside a ``with Pipeline``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from pivot.compose._block import call_site, current_block, record_call
from pivot.compose._handles import Handle, StageOutputs
from pivot.compose._signature import SignaturePlan, read_signature
from pivot.exceptions import CompositionError
from pivot.registry import REGISTRY, DeclaredPaths

F = TypeVar("F", bound=Callable[..., Any])


class ComposedStage:
    """A function marked ``@stage``. Called outside a ``with Pipeline(...)`` block it is just
    the function (unit tests call it with real values); inside, the call becomes a stage and
    returns handles to its outputs instead of running."""

    __wrapped__: Callable[..., Any]

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        out: object | None = None,
        resources: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(func) or isinstance(func, ComposedStage):
            raise CompositionError(f"@stage needs a plain function, got {func!r}")
        functools.update_wrapper(self, func)
        self.base_name = name or str(getattr(func, "__name__", ""))
        self.out = out
        self.resources = dict(resources) if resources is not None else None
        self._plan: SignaturePlan | None = None

    def plan(self) -> SignaturePlan:
        """The signature read into roles (once: annotations are resolved at the first call,
        so they may name classes defined after the function)."""
        if self._plan is None:
            self._plan = read_signature(self.__wrapped__, self.base_name, self.out)
        return self._plan

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        block = current_block()
        if block is None:
            return self.__wrapped__(*args, **kwargs)
        return record_call(block, self, args, kwargs, call_site(1))

    def __repr__(self) -> str:
        return f"<stage {self.base_name}>"


@overload
def stage(func: Callable[..., Any], /) -> ComposedStage: ...


@overload
def stage(
    *,
    name: str | None = None,
    out: object | None = None,
    resources: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], ComposedStage]: ...


@overload
def stage(
    *,
    deps: DeclaredPaths | None = None,
    outs: DeclaredPaths | None = None,
    params: type | Mapping[str, Any] | None = None,
    name: str | None = None,
    matrix: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
) -> Callable[[F], F]: ...


def stage(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    out: object | None = None,
    resources: Mapping[str, Any] | None = None,
    deps: DeclaredPaths | None = None,
    outs: DeclaredPaths | None = None,
    params: type | Mapping[str, Any] | None = None,
    matrix: Mapping[str, Any] | None = None,
) -> Any:
    """Mark ``func`` as a stage to be wired by calling it inside ``with Pipeline(...)``.

    ``name`` replaces the function's name; ``out`` places its single output: a path
    (``"data/clean.csv"``, the format from the suffix), a ``pivot.Out(path, loader)``, or an
    output kind such as ``pivot.Metric`` at the default path.

    With ``deps=``, ``outs=`` or ``params=`` it is instead the declared form (the original
    Pivot's and DVC's): the function, which does its own I/O on those paths, is registered at
    once in the default registry and returned unchanged (see
    :meth:`pivot.registry.Pipeline.add_stage`)::

        @stage(deps=["data.csv"], outs=["processed.parquet"])
        def preprocess(): ...
    """
    if deps is not None or outs is not None or params is not None or matrix is not None:
        if out is not None:
            raise CompositionError(
                "@stage: out= places a composed stage's output; a stage with deps=/outs= "
                "lists its outputs in outs="
            )

        def declare(f: F) -> F:
            return REGISTRY.add_stage(
                f,
                deps=() if deps is None else deps,
                outs=() if outs is None else outs,
                params=params,
                name=name,
                matrix=matrix,
                resources=resources,
            )

        return declare(func) if func is not None else declare
    if func is not None:
        return ComposedStage(func, name=name, out=out, resources=resources)
    return lambda f: ComposedStage(f, name=name, out=out, resources=resources)


__all__ = ["ComposedStage", "Handle", "StageOutputs", "stage"]
