"""Stage parameters as data: each value with where it comes from, and what changed.

The effective params of a stage are its model's defaults, overridden by ``params.yaml``
(``{stage: {field: value}}``), and the params-file keys its ``ParamsDep`` arguments track
(named ``FILE:KEY``); :func:`pivot.core.pipeline.params.stage_values` computes them. Here
they are flattened to dotted names (``optimizer.lr``) and tagged with their source.
:func:`stage_params` is the one place that decides a value's source; the CLI and the TUI
show it through :mod:`pivot.render.params`.

The old side of a diff is what the stage ran with at a git revision: the ``params`` of its
lock file committed there. A stage without a lock at that revision falls back to
``params.yaml`` at the revision laid over the *current* model defaults (and the tracked keys
as the files held them there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pivot.core.pipeline.params import (
    TRACKED_SEPARATOR,
    ParamsFiles,
    effective_params,
    stage_values,
    tracked_params,
)
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

#: ``"default"``, ``"matrix"``, ``"call"`` (the params a composed stage's call passes),
#: ``"params.yaml"``, or the file a tracked key is read from.
Source = str
OldFrom = Literal["lock", "params.yaml", "defaults"]
Status = Literal["added", "removed", "modified", "unchanged"]


@dataclasses.dataclass(frozen=True)
class ParamValue:
    """One effective param of a stage.

    ``source`` is the layer that set it: the model's ``default``, the stage's section of
    ``params.yaml``, the values its ``matrix`` variant was registered with, the params
    instance its call passes (``call``, a composed stage), or, for a key a ``ParamsDep``
    tracks, the file it is read from.
    """

    name: str
    value: Any
    source: Source


def stage_params(spec: StageSpec, files: ParamsFiles) -> list[ParamValue]:
    """The stage's effective params, flattened, each labelled with where it came from.

    Raises StageDefinitionError (naming the stage and field, or key) for an invalid override
    or a missing tracked key.
    """
    overrides = files.section(spec.name)
    values = flatten(effective_params(spec, overrides), lists=False)
    result = []
    for name, value in values.items():
        parts = name.split(".")
        source: Source = "default"
        if _sets(overrides, parts):
            source = "params.yaml"
        elif _sets(spec.params_overrides, parts):
            source = "matrix" if spec.variant else "call"
        result.append(ParamValue(name, value, source))
    for name, value in flatten(tracked_params(spec, files), lists=False).items():
        result.append(ParamValue(name, value, name.partition(TRACKED_SEPARATOR)[0]))
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
    """Sections of params.yaml named after no stage and read by no ParamsDep (probably
    typos)."""
    whole = False
    read: set[str] = set()
    for spec in pipeline.stages.values():
        keys = spec.tracked_params().get(PARAMS_FILE, ())
        if keys is None:
            whole = True
        else:
            read.update(key.split(".", 1)[0] for key in keys)
            read.update(keys)
    return [name for name in params_file if name not in pipeline and name not in read and not whole]


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
    spec: StageSpec, reader: RevisionReader, rev_files: ParamsFiles
) -> tuple[dict[str, Any], OldFrom]:
    """The params ``spec`` had at the reader's revision, and where they were found."""
    lock_path = f".pivot/stages/{spec.name}.lock"
    found = reader.find_file(lock_path)
    if found is not None and found.source == "git":
        lock = parse_lock(found.read_bytes().decode("utf-8"), f"{lock_path} at {reader.rev}")
        return dict(lock.params), "lock"
    overrides = rev_files.section(spec.name)
    try:
        tracked = tracked_params(spec, rev_files)
    except StageDefinitionError:  # a key or file the stage lists did not exist then
        tracked = {}
    source: OldFrom = "params.yaml" if overrides or tracked else "defaults"
    try:
        return {**effective_params(spec, overrides), **tracked}, source
    except StageDefinitionError:
        # params.yaml at REV does not fit today's model: show its raw values over the defaults.
        try:
            defaults = effective_params(spec, {})
        except StageDefinitionError:
            defaults = {}
        raw = dict(overrides) if isinstance(overrides, Mapping) else {}
        return {**defaults, **raw, **tracked}, "params.yaml"


def files_at(reader: RevisionReader) -> ParamsFiles:
    """The params files as committed at the reader's revision (absent ones read as absent)."""

    def read(rel: str) -> bytes | None:
        found = reader.find_file(rel)
        return None if found is None else found.read_bytes()

    return ParamsFiles(read, where=reader.rev)


def diff_params(
    pipeline: PipelineDefinition,
    stages: Sequence[str],
    files: ParamsFiles,
    reader: RevisionReader,
    *,
    show_all: bool = False,
) -> list[StageParamsDiff]:
    """Per stage, the params that differ between the reader's revision and now.

    Stages with no params on either side are left out; so are stages with no change, unless
    ``show_all``.
    """
    rev_files = files_at(reader)
    diffs = []
    for name in stages:
        spec = pipeline[name]
        new = flatten(stage_values(spec, files), lists=False)
        old_values, old_from = old_params(spec, reader, rev_files)
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
