"""Data for the Params and Outputs tabs (no Textual here; blocking, call from workers)."""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from pivot.core.pipeline.params import ParamsFiles
from pivot.core.reports.params_diff import ParamValue, stage_params
from pivot.core.store.artifacts import ArtifactHasher
from pivot.exceptions import PivotError

if TYPE_CHECKING:
    from pivot.core.run.engine import Engine


@dataclasses.dataclass(frozen=True)
class ParamsInfo:
    model: str | None
    #: The stage's effective params, each with its source, as ``pivot params show`` has them.
    rows: tuple[ParamValue, ...]
    error: str | None = None


def params_info(engine: Engine, name: str) -> ParamsInfo:
    """Effective params of ``name`` with their sources (from the same function as the CLI)."""
    pipeline, _ = engine.load()
    spec = pipeline[name]
    model = getattr(spec.params_model, "__name__", None)
    try:
        rows = stage_params(spec, ParamsFiles.workspace(engine.project.root))
    except PivotError as exc:
        return ParamsInfo(model, (), str(exc))
    return ParamsInfo(model, tuple(rows))


@dataclasses.dataclass(frozen=True)
class OutputRow:
    path: str
    kind: str  # the output marker's kind: out, incremental, metric, plot, directory
    cached: bool
    #: From the stage's lock (the last committed run); None when never committed.
    locked_hash: str | None
    #: Size in the workspace; None when missing.
    size: int | None
    #: Hash of the workspace copy (stat-cached, so cheap when unchanged); None when missing.
    current_hash: str | None
    #: The data-diff format when the file is tabular (csv, json, parquet...), else None.
    diff_format: str | None


def stage_outputs(engine: Engine, name: str) -> list[OutputRow]:
    pipeline, _ = engine.load()
    spec = pipeline[name]
    try:
        lock = engine.project.locks.read(name)
    except PivotError:
        lock = None
    records = lock.out_records() if lock is not None else {}
    hasher = ArtifactHasher(engine.project.root, engine.project.state)
    rows = []
    for out in spec.outs:
        record = records.get(out.path)
        try:
            current = hasher.hash_path(out.path)
        except (OSError, PivotError):
            current = None
        rows.append(
            OutputRow(
                path=out.path,
                kind=str(out.kind),
                cached=out.cached,
                locked_hash=record.hash if record else None,
                size=_size(engine.project.abspath(out.path)),
                current_hash=current.hash if current is not None else None,
                diff_format=None if out.directory else diff_format(out.path),
            )
        )
    return rows


def diff_format(path: str) -> str | None:
    suffix = os.path.splitext(path)[1].lower()
    try:
        from pivot.core.reports.datadiff import FORMATS
    except ImportError:  # pragma: no cover - datadiff is part of core
        return None
    return FORMATS.get(suffix)


def _size(path: os.PathLike[str]) -> int | None:
    try:
        if os.path.isdir(path):
            return sum(
                entry.stat().st_size
                for entry in _walk(os.fspath(path))
                if entry.is_file(follow_symlinks=False)
            )
        return os.stat(path).st_size
    except OSError:
        return None


def _walk(root: str) -> list[os.DirEntry[str]]:
    found = []
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    found.append(entry)
    return found
