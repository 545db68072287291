"""Restore stage outputs (as their lock files record them) and tracked data (as its manifests
record it) in the workspace from the cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pivot.core.project import Project
from pivot.core.store.artifacts import ArtifactHasher
from pivot.core.store.atomic import remove_path
from pivot.core.store.cache import Cache
from pivot.core.store.lock import OutRecord
from pivot.core.store.paths import confined_path, is_within, normalize_path
from pivot.core.store.run_lock import ProjectRunLock
from pivot.core.store.sweep import sweep_leftovers
from pivot.core.store.tracked import MANIFEST_SUFFIX, all_tracked
from pivot.exceptions import CacheError, UsageError


@dataclasses.dataclass(frozen=True)
class CheckoutResult:
    path: str
    action: str  # "restored" | "unchanged" | "modified" (kept; needs --force) | "missing-blob"
    detail: str = ""


def _records(project: Project, targets: tuple[str, ...]) -> list[OutRecord]:
    """What to restore: the outputs of stages' locks and the data of tracked manifests."""
    records: list[OutRecord] = []
    locks = {name: project.locks.read(name) for name in project.locks.stages()}
    tracked = [item.record for item in all_tracked(project.root)]
    outputs = [out for lock in locks.values() if lock is not None for out in lock.outs]
    if not targets:
        return outputs + tracked
    for target in targets:
        if target in locks:
            lock = locks[target]
            records.extend(lock.outs if lock else [])
            continue
        path = normalize_path(target, project.root)
        if path.endswith(MANIFEST_SUFFIX):
            path = path[: -len(MANIFEST_SUFFIX)]
        found = [
            out
            for out in outputs + tracked
            if is_within(out.path, path) or is_within(path, out.path)
        ]
        if not found:
            raise UsageError(
                f"'{target}' is neither a stage with a lock, a recorded output nor tracked data"
            )
        records.extend(found)
    return records


def restore_record(
    cache: Cache,
    record: OutRecord,
    target: Path,
    hasher: ArtifactHasher | None,
    *,
    writable: bool = False,
) -> None:
    """Make ``target`` exactly what ``record`` says, from the cache (a folder file by file,
    dropping files its record does not list), and remember the hashes written (when given a
    ``hasher``). ``writable``: files of their own, never hardlinks into the cache."""
    if record.files is None:
        if target.is_dir():
            remove_path(target)
        cache.restore(record.hash, target, writable=writable)
        if hasher is not None:
            hasher.record(target, record.hash)
        return
    if target.exists() and not target.is_dir():
        remove_path(target)
    target.mkdir(parents=True, exist_ok=True)
    wanted = {entry.path for entry in record.files}
    for child in sorted(target.rglob("*"), reverse=True):
        if child.is_file() and child.relative_to(target).as_posix() not in wanted:
            child.unlink()
    for entry in record.files:
        cache.restore(entry.hash, target / entry.path, writable=writable)
        if hasher is not None:
            hasher.record(target / entry.path, entry.hash)


def checkout(
    project: Project, targets: tuple[str, ...] = (), *, force: bool = False
) -> list[CheckoutResult]:
    """Restore outputs, holding the project's run lock: a run writing the same outputs at the
    same time makes this stop with one line (RunInProgressError) instead of interleaving."""
    with ProjectRunLock(project.paths.run_lock, "checkout") as run_lock:
        return _checkout(project, targets, force=force, since=run_lock.acquired_at)


def _confine(project: Project, record: OutRecord) -> None:
    """ProjectError if restoring ``record`` would write through a symlink out of the project."""
    confined_path(project.root, record.path, folder=record.files is not None)
    for entry in record.files or ():
        confined_path(project.root, f"{record.path}/{entry.path}")


def _checkout(
    project: Project, targets: tuple[str, ...], *, force: bool, since: float
) -> list[CheckoutResult]:
    hasher = ArtifactHasher(project.root, project.state)
    results: list[CheckoutResult] = []
    records = _records(project, targets)
    sweep_leftovers(project.paths, since, [record.path for record in records])
    for record in records:
        current = hasher.hash_path(record.path)
        if current is not None and current.hash == record.hash:
            results.append(CheckoutResult(record.path, "unchanged"))
            continue
        if current is not None and not force:
            results.append(
                CheckoutResult(
                    record.path, "modified", "differs from its lock; --force to overwrite"
                )
            )
            continue
        _confine(project, record)
        try:
            restore_record(project.cache, record, project.abspath(record.path), hasher)
        except CacheError as exc:
            results.append(CheckoutResult(record.path, "missing-blob", str(exc)))
            continue
        results.append(CheckoutResult(record.path, "restored"))
    hasher.flush()
    return results
