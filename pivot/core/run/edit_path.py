"""`status` after an edit confined to stage functions' bodies, without importing the pipeline.

The fast path (:mod:`pivot.core.run.fast_path`) answers when nothing moved. The commonest
edit, changing the body of one stage function, moves only one source file; re-importing a
``pipeline.py`` of 2,000 stages to find that out costs seconds. This module answers such an
edit from what the last up-to-date evaluation left behind:

* the fast path's record (every path it rests on, with its stat; the run order; upstreams)
  plus, for each stage, the file and name of its function (:func:`stage_functions`);
* the shape of each project source file as it was then (:func:`remember_shapes`): its
  top-level statements as chunks of text with digests, and whether importing it runs
  anything but definitions, imports and Pivot's API.

It answers only when all of these hold, and otherwise returns None (the full evaluation):

1. every path that moved is a project ``.py`` file, and every project source file the
   evaluation read is *pure* (importing it calls no project code), so no function body runs
   at import time and the import would register the same stages as before;
2. in each moved file, the edit only changed ``def`` statements, each keeping its name and
   place (:func:`~pivot.core.pipeline.fingerprint.edited_bodies`);
3. every edited ``def`` is the function of a stage, and no other stage's code reaches it;
4. each such function kept its header (decorators, arguments, annotations) and reads exactly
   the names it read before, so only its own manifest key can change, and the new hash of
   that key is computed as the fingerprint walk computes it;
5. no earlier run matches a changed stage's new inputs (the run cache's rules stay with the
   full evaluation).

The rows are the ones the full evaluation gives: the edited stages ``code changed:
self:<name>``, their downstream ``upstream <name> will run``, the rest up to date.
"""

from __future__ import annotations

import json
import os
import types
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pivot.core.pipeline.fingerprint import (
    FileShape,
    SourceStore,
    body_edit_hash,
    edited_bodies,
    file_shape,
    module_path,
    unwrap,
)
from pivot.core.run import fast_path
from pivot.core.run.fast_path import UP_TO_DATE
from pivot.core.run.planner import Action, Change
from pivot.core.store.run_cache import run_key
from pivot.core.store.state import DB_FAST_PATH
from pivot.exceptions import PivotError

if TYPE_CHECKING:
    from pivot.core.pipeline.discovery import PipelineDefinition
    from pivot.core.project import Project
    from pivot.core.store.lock import StageLock

_SHAPE = b"shape:"


# -- what an up-to-date evaluation leaves behind --------------------------------------------


def stage_functions(
    project: Project, pipeline: PipelineDefinition, locks: Mapping[str, StageLock]
) -> dict[str, tuple[str, str]]:
    """``{stage: (file, name)}`` for stages whose function is a plain module-level function
    of a project file that no other stage's code reaches (its ``func:`` key is in no lock)."""
    reached = {key for lock in locks.values() for key in lock.code if key.startswith("func:")}
    prefix = str(project.root).rstrip(os.sep) + os.sep
    found: dict[str, tuple[str, str]] = {}
    for name in locks:
        target = unwrap(pipeline[name].func)
        if not isinstance(target, types.FunctionType) or "." in target.__qualname__:
            continue
        path = os.path.abspath(target.__code__.co_filename)
        if not path.startswith(prefix):
            continue
        rel = path[len(prefix) :].replace(os.sep, "/")
        if f"func:{module_path(rel)}.{target.__name__}" not in reached:
            found[name] = (path, target.__name__)
    return found


def remember_shapes(project: Project, paths: Iterable[str]) -> None:
    """Keep the shape of each project source file among ``paths`` as it is now (parsed once
    per version of the file: the evaluation has usually parsed an edited file already)."""
    from pivot.core.pipeline.fingerprint._parse import load_file

    state = project.state
    fresh: list[tuple[bytes, bytes]] = []
    for path in paths:
        if not path.endswith(".py"):
            continue
        current = fast_path.stat_of(path)
        if current is None or _stored_shape(project, path, current) is not None:
            continue
        try:
            parsed = load_file(path)
        except (OSError, SyntaxError, ValueError):
            continue
        if (parsed.stat.ino, parsed.stat.mtime_ns, parsed.stat.size) != current:
            continue  # changed while being read: the record will not hold either
        payload = {"stat": list(current), "shape": file_shape(parsed).to_dict()}
        fresh.append((_shape_key(project, path), json.dumps(payload).encode()))
    if fresh:
        state.put_many(DB_FAST_PATH, fresh)


def _shape_key(project: Project, path: str) -> bytes:
    return _SHAPE + os.path.relpath(path, project.root).encode()


def _stored_shape(project: Project, path: str, stat: fast_path.Stat) -> FileShape | None:
    """The remembered shape of ``path`` when it had ``stat``; None when none is kept."""
    data = project.state.get(DB_FAST_PATH, _shape_key(project, path))
    if data is None:
        return None
    try:
        payload = json.loads(data)
        if tuple(payload["stat"]) != stat:
            return None
        return FileShape.from_dict(payload["shape"])
    except (ValueError, KeyError, TypeError):
        return None


# -- answering ------------------------------------------------------------------------------


def status_rows(project: Project, targets: Iterable[str]) -> list[dict[str, Any]] | None:
    """`status` rows after an edit of stage function bodies only, or None to evaluate."""
    try:
        return _status_rows(project, targets)
    except (PivotError, OSError):
        return None


def _status_rows(project: Project, targets: Iterable[str]) -> list[dict[str, Any]] | None:
    record = fast_path.load(project.state, project.root)
    if (
        record is None
        or not record.functions
        or record.environment != fast_path.environment_key(project.root)
    ):
        return None
    moved = [path for path, st in record.stats.items() if fast_path.stat_of(path) != st]
    if not moved or any(not path.endswith(".py") for path in moved):
        return None
    selected = record.select(targets)
    if selected is None:
        return None
    shapes: dict[str, FileShape] = {}
    for path, st in record.stats.items():
        if path.endswith(".py") and st is not None:  # None: looked for and absent
            shape = _stored_shape(project, path, st)
            if shape is None or not shape.pure:
                return None
            shapes[path] = shape
    changed = _changed_stages(project, record, moved, shapes)
    if changed is None:
        return None
    rows: list[dict[str, Any]] = []
    running: set[str] = set()
    for name in selected:
        row: dict[str, Any]
        if name in changed:
            change = changed[name]
            row = _row(name, Action.RUN, f"code changed: {change.key}", [change.to_dict()])
            running.add(name)
        else:
            upstream = sorted(up for up in record.upstream[name] if up in running)
            if upstream:
                row = _row(name, Action.RUN, f"upstream {upstream[0]} will run", [])
                running.add(name)
            else:
                row = _row(name, Action.SKIP, UP_TO_DATE, [])
        row["warnings"] = list(record.warnings.get(name, ()))
        row["resources"] = record.resources.get(name, {})
        rows.append(row)
    return rows


def _changed_stages(
    project: Project,
    record: fast_path.UpToDate,
    moved: list[str],
    shapes: Mapping[str, FileShape],
) -> dict[str, Change] | None:
    """The code change of each stage whose function's body was edited; None when the edit
    is not one this module can answer (including when an earlier run matches a changed
    stage's new inputs)."""
    by_function: dict[tuple[str, str], list[str]] = {}
    for stage, function in record.functions.items():
        by_function.setdefault(function, []).append(stage)
    store = SourceStore(project.code_store_dir)
    changed: dict[str, Change] = {}
    for path in moved:
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError):
            return None
        shape = shapes.get(path)
        edits = edited_bodies(shape, text) if shape is not None else None
        if edits is None:
            return None
        for name, node in edits.defs.items():
            stages = by_function.get((path, name))
            if not stages:
                return None  # a helper, or a function other stages reach: the full walk
            key = f"self:{name}"
            for stage in stages:
                lock = project.locks.read(stage)
                if lock is None or key not in lock.code:
                    return None
                old = lock.code[key]
                source = store.get(old)
                if source is None:
                    return None
                new = body_edit_hash(key, source.source, edits, node)
                if new is None:
                    return None
                if new != old:
                    change = Change("code", key, old, new)
                    if _earlier_run(project, lock, change):
                        return None  # whether it can be restored is the planner's to decide
                    changed[stage] = change
    return changed


def _earlier_run(project: Project, lock: StageLock, change: Change) -> bool:
    """Whether the run cache holds a run on the stage's new inputs (the full evaluation then
    decides whether it can be restored)."""
    code = {**lock.code, change.key: change.new}
    key = run_key(lock.stage, code, lock.params, lock.dep_hashes(), [o.path for o in lock.outs])
    return project.run_cache.lookup(key) is not None


def _row(name: str, action: Action, reason: str, changes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "stage": name,
        "action": str(action),
        "reason": reason,
        "changes": changes,
        "status": "stale" if action is Action.RUN else "cached",
    }
