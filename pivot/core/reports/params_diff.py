"""Stage parameters as data: each value with where it comes from, and what changed.

The effective params of a stage are its model's defaults, overridden by ``params.yaml``
(``{stage: {field: value}}``); :func:`pivot.core.pipeline.params.effective_params` computes them.
Here they are flattened to dotted names (``optimizer.lr``) and tagged with their source.
:func:`stage_params` is the one place that decides a value's source; the CLI and the TUI
show it through :mod:`pivot.render.params`.

The old side of a diff is what the stage ran with at a git revision: the ``params`` of its
lock file committed there. A stage without a lock at that revision falls back to
``params.yaml`` at the revision laid over the *current* model defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pivot.core.pipeline.params import effective_params, parse_params_text
from pivot.core.reports.metrics import flatten
from pivot.core.store.lock import parse_lock
from pivot.exceptions import StageDefinitionError

if TYPE_CHECKING:
    from pivot.core.pipeline.discovery import PipelineDefinition
    from pivot.core.store.revisions import RevisionReader
    from pivot.registry import StageSpec

__all__ = [
    "PARAMS_FILE",
    "ParamChange",
    "ParamValue",
    "Source",
    "StageParamsDiff",
    "diff_params",
    "old_params",
    "stage_params",
    "unknown_stages",
]

PARAMS_FILE = "params.yaml"

Source = Literal["default", "matrix", "params.yaml"]
OldFrom = Literal["lock", "params.yaml", "defaults"]
Status = Literal["added", "removed", "modified", "unchanged"]


@dataclasses.dataclass(frozen=True)
class ParamValue:
    """One effective param of a stage.

    ``source`` is the layer that set it: the model's ``default``, the stage's section of
    ``params.yaml``, or the values its ``matrix`` variant was registered with.
    """

    name: str
    value: Any
    source: Source


def stage_params(spec: StageSpec, overrides: Mapping[str, Any]) -> list[ParamValue]:
    """The stage's effective params, flattened, each labelled with where it came from.

    Raises StageDefinitionError (naming the stage and field) for an invalid override.
    """
    values = flatten(effective_params(spec, dict(overrides)), lists=False)
    result = []
    for name, value in values.items():
        parts = name.split(".")
        source: Source = "default"
        if _sets(overrides, parts):
            source = "params.yaml"
        elif _sets(spec.params_overrides, parts):
            source = "matrix"
        result.append(ParamValue(name, value, source))
    return result


def _sets(overrides: Mapping[str, Any], parts: Sequence[str]) -> bool:
    """True when ``overrides`` gives a value for the dotted field ``parts`` (or a parent)."""
    node: Any = overrides
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
        if not isinstance(node, Mapping):
            return True
    return True


def unknown_stages(pipeline: PipelineDefinition, params_file: Mapping[str, Any]) -> list[str]:
    """Stages named in params.yaml that the pipeline does not define (probably typos)."""
    return [name for name in params_file if name not in pipeline]


# -- diff ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParamChange:
    name: str
    old: Any
    new: Any
    status: Status


@dataclasses.dataclass(frozen=True)
class StageParamsDiff:
    stage: str
    #: Where the old values came from: the lock at the revision, params.yaml there over
    #: today's defaults, or (no params.yaml either) today's defaults.
    old_from: OldFrom
    changes: tuple[ParamChange, ...]


def old_params(
    spec: StageSpec, reader: RevisionReader, rev_params_file: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Any], OldFrom]:
    """The params ``spec`` had at the reader's revision, and where they were found."""
    lock_path = f".pivot/stages/{spec.name}.lock"
    found = reader.find_file(lock_path)
    if found is not None and found.source == "git":
        lock = parse_lock(found.read_bytes().decode("utf-8"), f"{lock_path} at {reader.rev}")
        return dict(lock.params), "lock"
    overrides = dict(rev_params_file.get(spec.name, {}))
    try:
        return effective_params(spec, overrides), "params.yaml" if overrides else "defaults"
    except StageDefinitionError:
        # params.yaml at REV does not fit today's model: show its raw values over the defaults.
        try:
            defaults = effective_params(spec, {})
        except StageDefinitionError:
            defaults = {}
        return {**defaults, **overrides}, "params.yaml"


def read_params_at(reader: RevisionReader) -> dict[str, dict[str, Any]]:
    """params.yaml as committed at the reader's revision (empty when it did not exist)."""
    found = reader.find_file(PARAMS_FILE)
    if found is None:
        return {}
    return parse_params_text(found.read_bytes().decode("utf-8"), f"{PARAMS_FILE} at {reader.rev}")


def diff_params(
    pipeline: PipelineDefinition,
    stages: Sequence[str],
    params_file: Mapping[str, Mapping[str, Any]],
    reader: RevisionReader,
    *,
    show_all: bool = False,
) -> list[StageParamsDiff]:
    """Per stage, the params that differ between the reader's revision and now.

    Stages with no params on either side are left out; so are stages with no change, unless
    ``show_all``.
    """
    rev_file = read_params_at(reader)
    diffs = []
    for name in stages:
        spec = pipeline[name]
        new = flatten(effective_params(spec, dict(params_file.get(name, {}))), lists=False)
        old_values, old_from = old_params(spec, reader, rev_file)
        old = flatten(old_values, lists=False)
        changes = []
        for key in list(new) + [k for k in old if k not in new]:
            status: Status
            if key not in old:
                status = "added"
            elif key not in new:
                status = "removed"
            elif old[key] == new[key] and type(old[key]) is type(new[key]):
                status = "unchanged"
            else:
                status = "modified"
            if status != "unchanged" or show_all:
                changes.append(ParamChange(key, old.get(key), new.get(key), status))
        if changes:
            diffs.append(StageParamsDiff(name, old_from, tuple(changes)))
    return diffs
