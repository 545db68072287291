"""Stage parameters as people see them: where each value comes from, and what changed.

The effective params of a stage are its model's defaults, overridden by ``params.yaml``
(``{stage: {field: value}}``); :func:`pivot.core.pipeline.params.effective_params` computes them.
Here they are flattened to dotted names (``optimizer.lr``) and labelled with their source.

The old side of a diff is what the stage ran with at a git revision: the ``params`` of its
lock file committed there. A stage without a lock at that revision falls back to
``params.yaml`` at the revision laid over the *current* model defaults.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pivot.core.pipeline.params import effective_params, parse_params_text
from pivot.core.reports.metrics import flatten, md_table
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
    "StageParamsDiff",
    "diff_params",
    "format_param",
    "old_params",
    "render_diff_json",
    "render_diff_markdown",
    "render_show_json",
    "render_show_markdown",
    "stage_params",
    "unknown_stages",
]

PARAMS_FILE = "params.yaml"

Source = Literal["default", "matrix", "params.yaml"]
OldFrom = Literal["lock", "params.yaml", "defaults"]
Status = Literal["added", "removed", "modified", "unchanged"]


@dataclasses.dataclass(frozen=True)
class ParamValue:
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


def format_param(value: Any) -> str:
    """A param value as it would be written in params.yaml."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, default=str)


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


# -- rendering ----------------------------------------------------------------------------


def render_show_json(shown: Sequence[tuple[str, Sequence[ParamValue]]]) -> str:
    return json.dumps(
        {
            "stages": {
                stage: {p.name: {"value": p.value, "source": p.source} for p in values}
                for stage, values in shown
            }
        },
        indent=2,
        default=str,
    )


def render_show_markdown(shown: Sequence[tuple[str, Sequence[ParamValue]]]) -> str:
    rows = [
        (stage, p.name, format_param(p.value), p.source) for stage, values in shown for p in values
    ]
    if not rows:
        return "No stage takes params.\n"
    return "\n".join(md_table(("Stage", "Param", "Value", "Source"), rows)) + "\n"


def render_diff_json(rev: str, diffs: Sequence[StageParamsDiff]) -> str:
    return json.dumps(
        {
            "rev": rev,
            "stages": {
                d.stage: {
                    "old_from": d.old_from,
                    "params": {
                        c.name: {"old": c.old, "new": c.new, "status": c.status} for c in d.changes
                    },
                }
                for d in diffs
            },
        },
        indent=2,
        default=str,
    )


def diff_cells(change: ParamChange) -> tuple[str, str]:
    old = "—" if change.status == "added" else format_param(change.old)
    new = "—" if change.status == "removed" else format_param(change.new)
    return old, new


def render_diff_markdown(rev: str, diffs: Sequence[StageParamsDiff]) -> str:
    rows = [(d.stage, c.name, *diff_cells(c), c.status) for d in diffs for c in d.changes]
    if not rows:
        return f"No params changed since {rev}.\n"
    return "\n".join(md_table(("Stage", "Param", rev, "workspace", "Status"), rows)) + "\n"
