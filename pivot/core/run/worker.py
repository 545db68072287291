"""What runs inside a worker process: load deps, call the stage, save and cache its outputs.

Workers never write lock files or LMDB: they return an :class:`StageOutcome` with the hashes of
what they produced, and the engine commits it. Each stage's stdout and stderr (file
descriptors 1 and 2, so subprocesses are captured too) go to its log file, with what it writes
to ``sys.stderr`` tagged (see :mod:`pivot.core.run.capture`); the engine tails the file to
stream log events.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pivot
from pivot.core.pipeline.discovery import (
    PipelineDefinition,
    code_token,
    load_pipeline,
    unload_project,
)
from pivot.core.run.capture import captured_output
from pivot.core.run.jobs import peak_rss
from pivot.core.store.atomic import atomic_path, remove_path
from pivot.core.store.cache import Cache
from pivot.core.store.hashing import FileEntry, hash_file, manifest_hash, walk_files
from pivot.core.store.links import LinkMode
from pivot.core.store.lock import OutRecord
from pivot.core.store.paths import PivotPaths
from pivot.exceptions import CodeMismatchError, MissingDependencyError, StageOutputError
from pivot.loaders import PathOnly
from pivot.registry import OutSpec, StageSpec


@dataclasses.dataclass(frozen=True)
class StageTask:
    root: str
    stage: str
    log_path: str
    code_token: str
    params: dict[str, Any]
    #: When set, the worker refuses to run unless its own fingerprint of the stage matches.
    expected_code: dict[str, str] | None = None
    #: What the stage reads (deps and previous incremental outputs), as the coordinator hashed
    #: them; filled only for executors whose workers do not see the workspace.
    inputs: tuple[OutRecord, ...] = ()
    #: How outputs enter the cache (``cache.link``).
    cache_link: LinkMode = "copy"


@dataclasses.dataclass(frozen=True)
class Workspace:
    """Where a stage runs. Locally (and on a shared filesystem) all of it is the project; a
    worker that reaches data through a remote uses a scratch copy of the code and the data."""

    code: Path  # pipeline.py and the project's modules are imported from here
    data: Path  # deps are read and outputs written here; the stage's working directory
    cache: Cache  # where outputs are cached
    log: Path  # the stage's stdout and stderr
    #: Cache outputs declared ``cache=False`` too (they travel to the coordinator by hash).
    cache_everything: bool = False

    @classmethod
    def of_project(cls, task: StageTask) -> Workspace:
        root = Path(task.root)
        return cls(
            root, root, Cache(PivotPaths(root).cache, link=task.cache_link), Path(task.log_path)
        )


@dataclasses.dataclass(frozen=True)
class StageOutcome:
    stage: str
    ok: bool
    outs: tuple[OutRecord, ...]
    duration: float
    error: str | None
    pid: int
    #: Peak resident memory of the worker process so far (bytes; 0 when unknown).
    peak_rss: int = 0


_loaded: tuple[tuple[str, str], PipelineDefinition] | None = None


def _pipeline(root: Path, code_token: str) -> PipelineDefinition:
    """The project's pipeline, imported once per worker and re-imported when code changed."""
    if _loaded is None or _loaded[0] != (str(root), code_token):
        _import(root, lambda: code_token)
    assert _loaded is not None
    return _loaded[1]


def preload(root: str) -> None:
    """Import the project's pipeline in this worker before its first stage arrives, so the
    import overlaps the main process's own import and planning. The code is keyed by the
    token this process computes from what it imported; a stage whose token differs (the code
    changed in between) reloads as usual."""
    path = Path(root)
    if _loaded is None or _loaded[0] != (str(path), code_token(path)):
        _import(path, lambda: code_token(path))


def _import(root: Path, token: Callable[[], str]) -> None:
    """(Re)import ``root``'s pipeline, keyed by ``token()`` as it is after the import.

    A worker that moves to other code (another project, another shipped copy) first unloads
    the previous one, so a same-named helper module can never be served from the old copy.
    """
    global _loaded
    if _loaded is not None and _loaded[0][0] != str(root):
        unload_project(Path(_loaded[0][0]))
    pipeline = load_pipeline(root, fresh=_loaded is not None)
    _loaded = ((str(root), token()), pipeline)


def execute_stage(task: StageTask, where: Workspace | None = None) -> StageOutcome:
    """Run one stage in this (worker) process."""
    started = time.perf_counter()
    where = where or Workspace.of_project(task)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    with captured_output(where.log):
        try:
            os.chdir(where.data)
            spec = _pipeline(where.code, task.code_token)[task.stage]
            if task.expected_code is not None:
                _check_code(spec, where.code, task.expected_code)
            outs = _run(spec, where, task.params)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the stage's own failure, SystemExit included
            error = _format_error(exc)
            sys.stderr.write(error)
            return StageOutcome(
                task.stage,
                False,
                (),
                time.perf_counter() - started,
                error,
                os.getpid(),
                peak_rss(),
            )
    return StageOutcome(
        task.stage, True, outs, time.perf_counter() - started, None, os.getpid(), peak_rss()
    )


def _check_code(spec: StageSpec, root: Path, expected: dict[str, str]) -> None:
    from pivot.core.pipeline.fingerprint import fingerprint_stage

    extra: list[object] = list(spec.loaders())
    if spec.params_model is not None:
        extra.append(spec.params_model)
    actual = fingerprint_stage(spec.func, project_root=root, extra_objects=extra).manifest
    differing = sorted(
        k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k)
    )
    if differing:
        raise CodeMismatchError(
            f"refusing to run '{spec.name}': the code on this worker differs from the "
            f"coordinator's ({', '.join(differing[:5])}); sync the project code to the workers"
        )


def _run(spec: StageSpec, where: Workspace, params: dict[str, Any]) -> tuple[OutRecord, ...]:
    root = where.data
    kwargs: dict[str, Any] = {}
    loaded_deps: dict[str, Any] = {}
    for dep in spec.deps:
        if dep.arg is None:
            continue  # a declared path: hashed by the engine, read by the stage itself
        loaded = [dep.loader.load(root / path) for path in dep.paths]
        loaded_deps[dep.arg] = loaded if dep.many else loaded[0]
    for arg in spec.incremental_args:
        previous = root / arg.path
        if isinstance(arg.loader, PathOnly):
            previous.parent.mkdir(parents=True, exist_ok=True)
            kwargs[arg.arg] = previous
        else:
            kwargs[arg.arg] = arg.loader.load(previous) if previous.exists() else arg.loader.empty()
    stage_object: Any = None
    if spec.params_model is not None and (spec.params_arg is not None or spec.params_kwargs):
        from pivot.core.pipeline.params import model_values

        stage_object = spec.params_model(**model_values(params))
        if spec.params_arg is not None:
            kwargs[spec.params_arg] = stage_object
        for name in spec.params_kwargs:
            kwargs[name] = getattr(stage_object, name)
    if spec.params_deps:
        from pivot.core.pipeline.params import tracked_arguments

        kwargs.update(tracked_arguments(spec, params))
    if spec.stagedef:
        for name, value in loaded_deps.items():
            setattr(stage_object, name, value)
        for out in spec.outs:
            if isinstance(out.loader, PathOnly) and out.key is not None:
                setattr(stage_object, out.key, root / out.path)
    else:
        kwargs.update(loaded_deps)
    for out in spec.outs:
        _prepare_output(root / out.path, out)

    result = spec.func(**kwargs)
    if inspect.isawaitable(result):
        import asyncio

        result = asyncio.run(_await(result))

    values = (
        _stagedef_values(spec, stage_object) if spec.stagedef else _returned_values(spec, result)
    )
    records = []
    for out in spec.outs:
        target = root / out.path
        if not isinstance(out.loader, PathOnly):
            _save(out, values[out.path], target)
        cache = where.cache if out.cached or where.cache_everything else None
        records.append(_record_output(out, target, cache))
    return tuple(records)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _prepare_output(target: Path, out: OutSpec) -> None:
    """Remove the previous version (unless incremental) so a stage that fails to write its
    output is noticed; give folder outputs an empty folder."""
    if out.incremental:
        return
    remove_path(target)
    if out.directory:
        target.mkdir(parents=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)


def _returned_values(spec: StageSpec, result: Any) -> dict[str, Any]:
    if spec.return_kind == "none":
        return {}
    if spec.return_kind == "single":
        return {spec.outs[0].path: result}
    if not isinstance(result, Mapping):
        raise StageOutputError(
            f"stage '{spec.name}' must return a dict with keys {[o.key for o in spec.outs]}, "
            f"got {type(result).__name__}"
        )
    values = {}
    for out in spec.outs:
        if out.key not in result:
            if isinstance(out.loader, PathOnly):
                continue
            raise StageOutputError(f"stage '{spec.name}' returned no value for '{out.key}'")
        values[out.path] = result[out.key]
    return values


def _stagedef_values(spec: StageSpec, stage_object: Any) -> dict[str, Any]:
    values = {}
    for out in spec.outs:
        if isinstance(out.loader, PathOnly):
            continue
        try:
            values[out.path] = getattr(stage_object, str(out.key))
        except AttributeError:
            raise StageOutputError(
                f"stage '{spec.name}' did not assign its output '{out.key}' ({out.path})"
            ) from None
    return values


def _save(out: OutSpec, value: Any, target: Path) -> None:
    if out.directory:
        if not isinstance(value, Mapping):
            raise StageOutputError(
                f"DirectoryOut '{out.path}' needs a dict of {{file name: value}}, got "
                f"{type(value).__name__}"
            )
        for name, item in value.items():
            child = target / str(name)
            if not child.resolve().is_relative_to(target.resolve()):
                raise StageOutputError(
                    f"DirectoryOut '{out.path}': entry '{name}' leaves the folder"
                )
            with atomic_path(child) as tmp:
                out.loader.save(item, tmp)
        return
    with atomic_path(target) as tmp:
        out.loader.save(value, tmp)


def _record_output(out: OutSpec, target: Path, cache: Cache | None) -> OutRecord:
    if out.directory:
        if not target.is_dir():
            raise StageOutputError(f"the stage did not create the folder '{out.path}'")
        entries = []
        for name in walk_files(target):
            child = target / name
            digest = hash_file(child)
            entries.append(FileEntry(name, digest, child.stat().st_size))
            if cache is not None:
                cache.add_file(child, digest)
        return OutRecord(
            out.path, manifest_hash(entries), sum(e.size for e in entries), tuple(entries)
        )
    if not target.is_file():
        raise StageOutputError(f"the stage did not write its output '{out.path}'")
    digest = hash_file(target)
    if cache is not None:
        cache.add_file(target, digest)
    return OutRecord(out.path, digest, target.stat().st_size)


def _format_error(exc: BaseException) -> str:
    """The traceback from the stage's own frames on (Pivot's frames are noise to the user).

    Pivot's own verdicts (an output not produced, a library to install) are one line."""
    if isinstance(exc, StageOutputError | MissingDependencyError):
        return f"{exc}\n"
    frames = traceback.extract_tb(exc.__traceback__)
    here = os.path.dirname(pivot.__file__)
    user = [i for i, frame in enumerate(frames) if not frame.filename.startswith(here)]
    tb = exc.__traceback__
    for _ in range(user[0] if user else 0):
        assert tb is not None
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))
