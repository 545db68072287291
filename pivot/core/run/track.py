"""``pivot track``: version raw data no stage writes (Pivot's ``dvc add``), and report on it.

Tracking caches the data, writes its manifest beside it (:mod:`pivot.core.store.tracked`) and
gitignores the data in that folder's ``.gitignore``, so git carries the manifest and the cache
(or a remote) carries the bytes.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from pivot.core.project import Project
from pivot.core.store.artifacts import ArtifactHasher
from pivot.core.store.atomic import write_text_atomic
from pivot.core.store.lock import OutRecord
from pivot.core.store.paths import is_within
from pivot.core.store.run_lock import ProjectRunLock
from pivot.core.store.sweep import sweep_leftovers
from pivot.core.store.tracked import (
    MANIFEST_SUFFIX,
    TrackedData,
    all_tracked,
    find_manifests,
    read_manifest,
    tracking,
    write_manifest,
)
from pivot.exceptions import LockFileError, UsageError

__all__ = [
    "TrackResult",
    "TrackedStatus",
    "gitignore_data",
    "track",
    "tracked_status",
]


@dataclasses.dataclass(frozen=True)
class TrackResult:
    path: str
    manifest: str
    changed: bool  # False when the manifest already recorded exactly this
    size: int
    files: int | None  # a folder's file count
    note: str = ""  # e.g. the data is also committed to git


@dataclasses.dataclass(frozen=True)
class TrackedStatus:
    path: str
    manifest: str
    status: str  # "ok" | "modified" | "missing"
    imported_from: str | None = None  # the source repository of imported data

    def hint(self) -> str:
        if self.status == "modified" and self.imported_from is not None:
            return (
                f"changed since it was imported; `pivot checkout --force {self.path}` restores it"
            )
        if self.status == "modified":
            return f"changed since it was tracked; `pivot track {self.path}` records the edit"
        if self.status == "missing":
            return "not in the workspace; `pivot pull` or `pivot checkout` restores it"
        return ""

    def to_dict(self) -> dict[str, str | None]:
        return {**dataclasses.asdict(self), "hint": self.hint()}


def track(project: Project, paths: Sequence[str]) -> list[TrackResult]:
    """Cache each of ``paths`` (project-relative) and write its manifest, holding the run lock.

    Every path is checked before anything is written, so one bad path changes nothing.
    """
    with ProjectRunLock(project.paths.run_lock, "track") as run_lock:
        targets = list(dict.fromkeys(paths))
        sweep_leftovers(project.paths, run_lock.acquired_at, targets)
        for rel in targets:
            _check_trackable(project, rel)
        hasher = ArtifactHasher(project.root, project.state)
        results = [_track_one(project, hasher, rel) for rel in targets]
        hasher.flush()
        return results


def _check_trackable(project: Project, rel: str) -> None:
    full = project.abspath(rel)
    if not full.exists():
        raise UsageError(f"cannot track '{rel}': it does not exist")
    if full.is_symlink():
        raise UsageError(f"cannot track '{rel}': it is a symbolic link; track what it points to")
    if rel.endswith(MANIFEST_SUFFIX):
        raise UsageError(f"cannot track '{rel}': it is a tracked-data manifest itself")
    if rel == ".git" or rel.startswith(".git/"):
        raise UsageError(f"cannot track '{rel}': it is inside .git/")
    for stage in project.locks.stages():
        lock = project.locks.read(stage)
        for out in lock.outs if lock is not None else ():
            if is_within(rel, out.path) or is_within(out.path, rel):
                raise UsageError(
                    f"cannot track '{rel}': stage '{stage}' writes '{out.path}', and stage "
                    "outputs are cached already"
                )
    own = _previous_manifest(project, rel)
    if own is not None and own.source is not None:
        raise UsageError(
            f"cannot track '{rel}': it is imported from {own.source.repo}; `pivot update {rel}` "
            f"moves it to a newer version, or delete {own.manifest} to track your own copy"
        )
    parent = str(PurePosixPath(rel).parent)
    owner = tracking(project.root, parent) if parent != "." else None
    if owner is not None:
        raise UsageError(
            f"cannot track '{rel}': it is inside '{owner.path}', which is tracked as a whole; "
            f"run `pivot track {owner.path}` instead"
        )
    if full.is_dir():
        inner = find_manifests(full)
        if inner:
            raise UsageError(
                f"cannot track folder '{rel}': it holds tracked data ('{rel}/{inner[0]}'); "
                "remove those manifests first or track them separately"
            )


def _track_one(project: Project, hasher: ArtifactHasher, rel: str) -> TrackResult:
    record = hasher.hash_path(rel)
    assert record is not None  # checked above, under the run lock
    full = project.abspath(rel)
    if record.files is None:
        project.cache.add_file(full, record.hash)
    else:
        for entry in record.files:
            project.cache.add_file(full / entry.path, entry.hash)
    previous = _previous(project, rel)
    changed = previous is None or previous.to_dict() != record.to_dict()
    tracked = write_manifest(project.root, record) if changed else None
    gitignore_data(project.root, rel)
    return TrackResult(
        path=rel,
        manifest=tracked.manifest if tracked else rel + MANIFEST_SUFFIX,
        changed=changed,
        size=record.size,
        files=None if record.files is None else len(record.files),
        note=_committed_note(project.root, rel),
    )


def _previous(project: Project, rel: str) -> OutRecord | None:
    previous = _previous_manifest(project, rel)
    return None if previous is None else previous.record


def _previous_manifest(project: Project, rel: str) -> TrackedData | None:
    manifest = rel + MANIFEST_SUFFIX
    if not (project.root / manifest).is_file():
        return None
    try:
        return read_manifest(project.root, manifest)
    except LockFileError:
        return None  # a broken manifest is simply replaced


def gitignore_data(root: Path, rel: str) -> None:
    """Ignore the data (not its manifest) in the ``.gitignore`` of its folder."""
    pure = PurePosixPath(rel)
    ignore = root / pure.parent / ".gitignore"
    entry = "/" + pure.name
    try:
        text = ignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    lines = text.splitlines()
    if entry in lines:
        return
    prefix = text if not text or text.endswith("\n") else text + "\n"
    write_text_atomic(ignore, prefix + entry + "\n")


def _committed_note(root: Path, rel: str) -> str:
    """A reminder when git also holds the data: ignoring a committed file does not untrack it."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--", rel],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    if not listed.strip():
        return ""
    return f"git still holds '{rel}'; `git rm -r --cached {rel}` stops committing the data"


def tracked_status(project: Project, hasher: ArtifactHasher | None = None) -> list[TrackedStatus]:
    """How each tracked path in the workspace compares with its manifest."""
    hasher = hasher or ArtifactHasher(project.root, project.state)
    rows = []
    for tracked in all_tracked(project.root):
        current = hasher.hash_path(tracked.path)
        if current is None:
            status = "missing"
        elif current.hash != tracked.record.hash:
            status = "modified"
        else:
            status = "ok"
        source = tracked.source.repo if tracked.source is not None else None
        rows.append(TrackedStatus(tracked.path, tracked.manifest, status, source))
    hasher.flush()
    return rows
