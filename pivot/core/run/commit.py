"""Record the outputs in the workspace as stages' results, without running them."""

from __future__ import annotations

import dataclasses

from pivot.core.run.engine import Engine, output_paths
from pivot.core.store.lock import DepRecord, OutRecord, StageLock
from pivot.core.store.run_lock import ProjectRunLock
from pivot.core.store.sweep import sweep_leftovers
from pivot.exceptions import CacheError, PivotError


@dataclasses.dataclass(frozen=True)
class CommitResult:
    stage: str
    changed: bool  # False when the lock already said exactly this


def commit_stages(engine: Engine, targets: tuple[str, ...] = ()) -> list[CommitResult]:
    """Hash each stage's current deps and outputs, cache the outputs, and write its lock."""
    names = engine.select(targets, no_deps=bool(targets))
    planner = engine.planner()
    project = engine.project
    results: list[CommitResult] = []
    with ProjectRunLock(project.paths.run_lock, "commit") as run_lock:
        sweep_leftovers(project.paths, run_lock.acquired_at, output_paths(planner.pipeline))
        for name in names:
            spec = planner.pipeline[name]
            inputs = planner.inputs(name)
            missing_deps = [path for path, digest in inputs.deps.items() if digest is None]
            if missing_deps:
                raise PivotError(
                    f"cannot commit '{name}': its dep '{missing_deps[0]}' does not exist"
                )
            outs: list[OutRecord] = []
            for out in spec.outs:
                record = planner.hasher.hash_path(out.path)
                if record is None:
                    raise CacheError(
                        f"cannot commit '{name}': its output '{out.path}' does not exist; run the stage instead"
                    )
                if out.cached:
                    full = project.abspath(out.path)
                    if record.files is None:
                        project.cache.add_file(full, record.hash)
                    else:
                        for entry in record.files:
                            project.cache.add_file(full / entry.path, entry.hash)
                outs.append(record)
            lock = StageLock(
                stage=name,
                code=inputs.code,
                params=inputs.params,
                deps=tuple(
                    DepRecord(path, digest) for path, digest in inputs.deps.items() if digest
                ),
                outs=tuple(outs),
            )
            previous = project.locks.read(name)
            changed = previous is None or previous.to_dict() != lock.to_dict()
            if changed:
                project.locks.write(lock)
                project.run_cache.record(lock)
                planner.code.keep_sources(planner.code.fingerprint(spec))
            results.append(CommitResult(name, changed))
    planner.flush()
    return results
