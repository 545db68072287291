"""The ``with Pipeline(...)`` block: stage calls are recorded, then compiled when it closes.

Calls are compiled only when the block closes because a stage's name, and so its default
output path, depends on how many times its function is called (``clean`` once; ``clean@a``
and ``clean@b`` twice).
"""

from __future__ import annotations

import os
import sys
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from pivot import loaders, registry
from pivot.compose._calls import PIPELINE_NAME, Block, Call, safe_label
from pivot.compose._compile import compile_block
from pivot.compose._formats import TABLE_FORMATS, loader_for_path
from pivot.compose._handles import Artifact, Handle, StageOutputs
from pivot.exceptions import CompositionError

if TYPE_CHECKING:
    from pivot.compose._decorator import ComposedStage

_OPEN: list[Block] = []


def current_block() -> Block | None:
    return _OPEN[-1] if _OPEN else None


def call_site(depth: int) -> str:
    """``file.py:line`` of the caller ``depth`` frames up, for messages about a call."""
    frame = sys._getframe(depth + 1)
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def open_block(pipeline: registry.Pipeline) -> None:
    if not PIPELINE_NAME.match(pipeline.name):
        raise CompositionError(
            f"bad pipeline name '{pipeline.name}' for a `with` block: use letters, digits, "
            "'_', '-' and '.' (it names a folder and prefixes stage names)"
        )
    table_format = getattr(pipeline, "table_format", "parquet")
    if table_format not in TABLE_FORMATS:
        raise CompositionError(
            f"pipeline '{pipeline.name}': table_format={table_format!r}; use one of "
            f"{', '.join(TABLE_FORMATS)}"
        )
    _OPEN.append(Block(pipeline))


def close_block(pipeline: registry.Pipeline, *, failed: bool) -> None:
    """Compile the block's calls into stages of ``pipeline`` (nothing when the block raised)."""
    block = _OPEN.pop() if _OPEN else None
    if block is None or block.pipeline is not pipeline:
        raise CompositionError(f"pipeline '{pipeline.name}': `with` blocks closed out of order")
    if not failed:
        for spec in compile_block(block):
            pipeline.add(spec)


def input_handle(
    pipeline: registry.Pipeline, path: str | os.PathLike[str], loader: loaders.Loader[Any] | None
) -> Handle:
    """A handle to a file that exists already (tracked data, or what another stage writes)."""
    rel = os.fspath(path)
    if not rel or not isinstance(rel, str):
        raise CompositionError(f"pipeline '{pipeline.name}': input() needs a path")
    directory = rel.endswith("/")
    rel = rel.rstrip("/") or rel
    chosen = loader if loader is not None else loader_for_path(rel)
    if directory or chosen is None:
        chosen = loaders.PathOnly()
    label = safe_label(PurePosixPath(rel).stem)
    return Handle(pipeline.name, label, None, Artifact(rel, chosen, directory))


def record_call(
    block: Block, stage: ComposedStage, args: tuple[Any, ...], kwargs: dict[str, Any], where: str
) -> Handle | StageOutputs | None:
    """Record a call inside ``block`` and return its handles (paths fixed when it closes)."""
    plan = stage.plan()
    name = None
    if "name" in kwargs and "name" not in plan.signature.parameters:
        name = kwargs.pop("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise CompositionError(f"{where}: name= must be a stage name such as 'clean_eu'")
    try:
        bound = plan.signature.bind_partial(*args, **kwargs)
    except TypeError as exc:
        raise CompositionError(f"{where}: {stage.base_name}(): {exc}") from None
    label = name or stage.base_name
    handles: dict[str | None, Handle] = {
        out.key: Handle(block.pipeline.name, label, out.key) for out in plan.outs
    }
    call = Call(stage, plan, dict(bound.arguments), name, where, handles)
    _check_data_args(call)
    block.calls.append(call)
    return call.result()


def _check_data_args(call: Call) -> None:
    """Fail at the call's own line for a plain value where a handle belongs."""
    for arg in call.plan.args:
        if arg.role != "data" or arg.name not in call.arguments:
            continue
        value = call.arguments[arg.name]
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, StageOutputs):
                raise CompositionError(
                    f"{call.where}: {call.stage.base_name}(): '{arg.name}' got all the outputs "
                    f"of '{item._stage}'; pick one, such as result[{next(iter(item), 'key')!r}]"
                )
            if not isinstance(item, Handle):
                raise CompositionError(
                    f"{call.where}: {call.stage.base_name}(): '{arg.name}' got "
                    f"{type(item).__name__} {_short_repr(item)}; inside a `with Pipeline` block "
                    "pass a handle (pipeline.input(...) or another stage's result), and "
                    "settings through the params model"
                )


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
