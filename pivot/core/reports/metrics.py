"""Metrics: small JSON/YAML files of numbers, read from the workspace or a git revision.

A :class:`~pivot.outputs.Metric` output is kept in git rather than the cache, so its old
version is whatever was committed at the revision (read through
:mod:`pivot.core.store.revisions`, which also falls back to the cache for a metric declared with
``cache=True``). Values are flattened to dotted keys (``train.loss``, ``per_class.0``) so that
two versions compare key by key.

This module also resolves the targets that ``metrics`` and ``plots`` commands accept: stage
names, paths of pipeline outputs, or any file path. Showing values to people (precision,
Markdown, JSON) is :mod:`pivot.render.metrics`'s job.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pivot.core.store.paths import normalize_path
from pivot.exceptions import CacheError, UsageError

if TYPE_CHECKING:
    from pivot.core.pipeline.discovery import PipelineDefinition
    from pivot.core.store.revisions import RevisionReader
    from pivot.outputs import Out

__all__ = [
    "MetricChange",
    "MetricsDiff",
    "MetricsFile",
    "OutputTarget",
    "compare_metrics",
    "diff_metrics",
    "flatten",
    "is_number",
    "parse_metrics",
    "read_revision_metrics",
    "read_workspace_metrics",
    "select_outputs",
    "workspace_metrics",
]

Status = Literal["added", "removed", "modified", "unchanged"]


# -- targets ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OutputTarget:
    """A file to show: its project-relative path, and the stage output it is (if any)."""

    path: str
    stage: str | None = None
    marker: Out[Any] | None = None


def select_outputs(
    pipeline: PipelineDefinition | None,
    root: Path,
    targets: Sequence[str],
    kind: str,
    *,
    cwd: Path | None = None,
) -> list[OutputTarget]:
    """The files named by ``targets``, or every output of ``kind`` when there are none.

    A target is a stage name (its outputs of ``kind``) or a path relative to ``cwd``; a path
    that is an output of the pipeline keeps its marker (for a Plot: x, y, title).
    """
    outputs: dict[str, OutputTarget] = {}
    if pipeline is not None:
        for spec in pipeline.stages.values():
            for out in spec.outs:
                outputs[out.path] = OutputTarget(out.path, spec.name, out.marker)
    if not targets:
        return [t for t in outputs.values() if t.marker is not None and t.marker.kind == kind]
    here = cwd or Path.cwd()
    selected: dict[str, OutputTarget] = {}
    for target in targets:
        if pipeline is not None and target in pipeline and not (here / target).exists():
            found = [t for t in outputs.values() if t.stage == target and _kind(t) == kind]
            if not found:
                raise UsageError(f"stage '{target}' has no {kind.capitalize()} outputs")
            selected.update((t.path, t) for t in found)
            continue
        rel = normalize_path(os.path.abspath(here / target), root)
        selected[rel] = outputs.get(rel, OutputTarget(rel))
    return list(selected.values())


def _kind(target: OutputTarget) -> str | None:
    return target.marker.kind if target.marker is not None else None


# -- values -------------------------------------------------------------------------------


def flatten(value: Any, *, lists: bool = True) -> dict[str, Any]:
    """Nested mappings (and, with ``lists``, sequences) as ``{"a.b.0": leaf}``.

    An empty document flattens to ``{}``; a bare scalar to ``{"value": scalar}``.
    """
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        children: Iterable[tuple[str, Any]]
        if isinstance(node, Mapping) and node:
            children = ((str(k), v) for k, v in node.items())
        elif lists and isinstance(node, list | tuple) and node:
            children = ((str(i), v) for i, v in enumerate(node))
        else:
            flat[prefix or "value"] = node
            return
        for key, child in children:
            walk(child, f"{prefix}.{key}" if prefix else key)

    if value is None or (isinstance(value, Mapping) and not value):
        return flat
    walk(value, "")
    return flat


def is_number(value: Any) -> bool:
    """An int or float, but not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- reading ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MetricsFile:
    """One metrics file at one version; ``values`` is None when it is absent or unreadable."""

    path: str
    values: dict[str, Any] | None
    error: str | None = None

    @property
    def absent(self) -> bool:
        return self.values is None and self.error is None


def parse_metrics(data: bytes, path: str) -> dict[str, Any]:
    """Flattened values of a JSON or YAML document; ValueError when it does not parse."""
    text = data.decode("utf-8-sig")
    if path.lower().endswith(".json"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    else:
        import yaml

        from pivot.core.store.safe_yaml import first_line, load_yaml

        try:
            doc = load_yaml(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML ({first_line(exc)})") from None
        except RecursionError:
            raise ValueError("nests too deeply to read") from None
    if doc is None:
        return {}
    return flatten(doc)


def read_workspace_metrics(root: Path, path: str) -> MetricsFile:
    file = root / path
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        return MetricsFile(path, None)
    except IsADirectoryError:
        return MetricsFile(path, None, "is a folder, not a metrics file")
    except OSError as exc:
        return MetricsFile(path, None, f"cannot be read ({exc.strerror})")
    return _parsed(path, data)


def read_revision_metrics(reader: RevisionReader, path: str) -> MetricsFile:
    """The file at the reader's revision; absent (no error) when it did not exist there."""
    found = reader.find_file(path)
    if found is None:
        return MetricsFile(path, None)
    try:
        data = found.read_bytes()
    except CacheError as exc:
        return MetricsFile(path, None, str(exc))
    return _parsed(path, data)


def workspace_metrics(root: Path, selected: Sequence[OutputTarget]) -> list[MetricsFile]:
    """Every selected file as it is in the workspace (``pivot metrics show``, the TUI)."""
    return [read_workspace_metrics(root, target.path) for target in selected]


def _parsed(path: str, data: bytes) -> MetricsFile:
    try:
        return MetricsFile(path, parse_metrics(data, path))
    except (ValueError, UnicodeDecodeError) as exc:
        return MetricsFile(path, None, str(exc))


# -- diff ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MetricChange:
    path: str
    key: str
    old: Any
    new: Any
    status: Status

    @property
    def change(self) -> float | int | None:
        """new - old when both are numbers."""
        if self.status in ("modified", "unchanged") and is_number(self.old) and is_number(self.new):
            delta: float | int = self.new - self.old
            return delta
        return None


@dataclasses.dataclass(frozen=True)
class MetricsDiff:
    rev: str
    changes: tuple[MetricChange, ...]
    #: path -> why a file could not be compared (unreadable, or absent on both sides)
    errors: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        files: dict[str, dict[str, Any]] = {}
        for change in self.changes:
            entry: dict[str, Any] = {"old": change.old, "new": change.new, "status": change.status}
            if change.change is not None:
                entry["change"] = change.change
            files.setdefault(change.path, {})[change.key] = entry
        return {"rev": self.rev, "metrics": files, "errors": dict(self.errors)}


def diff_metrics(
    rev: str,
    pairs: Sequence[tuple[MetricsFile, MetricsFile]],
    *,
    show_all: bool = False,
) -> MetricsDiff:
    """Compare (old, new) versions of each file key by key; unchanged keys only with ``show_all``."""
    changes: list[MetricChange] = []
    errors: dict[str, str] = {}
    for old, new in pairs:
        if new.error is not None:
            errors[new.path] = f"workspace: {new.error}"
            continue
        if old.error is not None:
            errors[new.path] = f"{rev}: {old.error}"
            continue
        if old.values is None and new.values is None:
            errors[new.path] = f"missing in the workspace and at {rev}"
            continue
        before, after = old.values or {}, new.values or {}
        keys = list(after) + [k for k in before if k not in after]
        for key in keys:
            status: Status
            if key not in before:
                status = "added"
            elif key not in after:
                status = "removed"
            elif _same(before[key], after[key]):
                status = "unchanged"
            else:
                status = "modified"
            if status != "unchanged" or show_all:
                changes.append(MetricChange(new.path, key, before.get(key), after.get(key), status))
    return MetricsDiff(rev, tuple(changes), errors)


def _same(old: Any, new: Any) -> bool:
    if is_number(old) and is_number(new):
        return bool(old == new or (math.isnan(old) and math.isnan(new)))
    return bool(old == new)


def compare_metrics(
    root: Path, selected: Sequence[OutputTarget], rev: str, *, show_all: bool = False
) -> MetricsDiff:
    """The selected files at ``rev`` against the workspace (``pivot metrics diff``, the TUI)."""
    from pivot.core.store.revisions import RevisionReader

    reader = RevisionReader(root, rev)
    pairs = [
        (read_revision_metrics(reader, t.path), read_workspace_metrics(root, t.path))
        for t in selected
    ]
    return diff_metrics(rev, pairs, show_all=show_all)
