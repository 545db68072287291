"""What ``pivot gc`` keeps, and the sweep of the local cache.

A blob is kept when something recent refers to it: a lock file or a tracked-data manifest in
the workspace or in one of the last N commits of HEAD, or a run-cache entry recorded since the
commit before the oldest of those (older entries are removed too: the runs that led to the
oldest kept commit stay). Everything else in
``.pivot/cache/files`` goes. The same set decides what goes on a remote
(:mod:`pivot.core.remote`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from pivot.core.project import Project
from pivot.core.store.hashing import is_digest
from pivot.core.store.lock import OutRecord, parse_lock
from pivot.core.store.paths import LOCK_SUFFIX, STAGES_DIR
from pivot.core.store.revisions import recent_commits, record_files_at
from pivot.core.store.tracked import MANIFEST_SUFFIX, all_tracked, parse_manifest
from pivot.exceptions import LockFileError

__all__ = ["GcResult", "KeepSet", "keep_set", "sweep_local"]


@dataclasses.dataclass(frozen=True)
class KeepSet:
    """The blobs to keep, and the run-cache entries that expire."""

    blobs: frozenset[str]
    commits: int  # how many commits were read
    expired_runs: tuple[Path, ...]
    kept_runs: int
    #: Historic records that could not be read (their blobs may go): one line each.
    unreadable: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class GcResult:
    removed: int
    removed_bytes: int
    kept: int
    runs_removed: int
    dry_run: bool

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _is_record_file(path: str) -> bool:
    return (path.startswith(STAGES_DIR + "/") and path.endswith(LOCK_SUFFIX)) or path.endswith(
        MANIFEST_SUFFIX
    )


def _blobs_of(records: list[OutRecord]) -> set[str]:
    return {digest for record in records for digest in record.blob_hashes()}


def keep_set(project: Project, keep_commits: int) -> KeepSet:
    """Everything referred to by the workspace, the last ``keep_commits`` commits of HEAD and
    the run-cache entries recorded since the commit before the oldest of them."""
    records: list[OutRecord] = []
    for stage in project.locks.stages():
        lock = project.locks.read_strict(stage)  # a broken lock in the workspace stops gc
        if lock is not None:
            records.extend(lock.outs)
    records.extend(tracked.record for tracked in all_tracked(project.root))

    unreadable: list[str] = []
    # One commit more than kept: its time is when the runs that led to the oldest kept commit
    # may have started.
    history = recent_commits(project.root, keep_commits + 1)
    commits = history[:keep_commits]
    texts = record_files_at(project.root, [sha for sha, _ in commits], _is_record_file)
    for commit, path, text in texts:
        where = f"{path} at {commit[:10]}"
        try:
            if path.endswith(MANIFEST_SUFFIX):
                records.append(parse_manifest(text, path).record)
            else:
                records.extend(parse_lock(text, where).outs)
        except LockFileError as exc:
            unreadable.append(str(exc))

    # Entries since the commit before the oldest kept one; all while history is shorter.
    cutoff = history[keep_commits][1] if len(history) > keep_commits else None
    expired: list[Path] = []
    kept_runs = 0
    for key, entry in project.run_cache.entries():
        # Commit times have whole seconds: a run in the commit's own second counts as before
        # it (at worst one run-cache entry of a kept commit goes; its blobs stay via the commit).
        if cutoff is not None and int(entry.stat().st_mtime) <= cutoff:
            expired.append(entry)
            continue
        outs = project.run_cache.lookup(key)
        if outs is not None:
            records.extend(outs)
            kept_runs += 1
    return KeepSet(
        blobs=frozenset(_blobs_of(records)),
        commits=len(commits),
        expired_runs=tuple(expired),
        kept_runs=kept_runs,
        unreadable=tuple(unreadable),
    )


def sweep_local(project: Project, keep: KeepSet, *, dry_run: bool) -> GcResult:
    """Remove the local blobs ``keep`` does not hold, and the expired run-cache entries."""
    removed = removed_bytes = kept = 0
    files = project.cache.files
    shards = sorted(os.scandir(files), key=lambda e: e.name) if files.is_dir() else []
    for shard in shards:
        if not shard.is_dir():
            continue
        for entry in os.scandir(shard.path):
            digest = shard.name + entry.name
            if not is_digest(digest) or not entry.is_file():
                continue
            if digest in keep.blobs:
                kept += 1
                continue
            removed += 1
            removed_bytes += entry.stat().st_size
            if not dry_run:
                Path(entry.path).unlink(missing_ok=True)
    if not dry_run:
        for path in keep.expired_runs:
            path.unlink(missing_ok=True)
    return GcResult(removed, removed_bytes, kept, len(keep.expired_runs), dry_run)
