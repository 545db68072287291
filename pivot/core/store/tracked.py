"""Tracked data: files and folders no stage writes, versioned by a small manifest beside them.

``pivot track data/raw.csv`` caches the data and writes ``data/raw.csv.pvt``, which is
committed to git while the data itself is gitignored. The manifest is the data's lock: one
output record (hash, size, and a folder's files), so push, pull, fetch, checkout and verify
treat tracked data exactly as a stage output (:meth:`TrackedData.as_lock`)::

    # Tracked by Pivot: `pivot pull` or `pivot checkout` restores the data; `pivot track` records an edit.
    schema: 1
    path: raw.csv
    hash: 3f2a9c0d1b7e4a55
    size: 1048576

``path`` is relative to the manifest's folder, so moving both together keeps them paired.

Data imported from another repository (``pivot import``) is tracked data with a source: the
same manifest plus an ``import`` section saying where it came from (:class:`ImportSource`), so
push, pull, checkout, verify and gc need nothing new for it::

    import:
      repo: ../source            # a git URL, or a local path (relative: to the project root)
      path: out/clean.txt        # the path in that repository
      rev: main                  # what was asked for (absent: the source's HEAD)
      commit: 0f3c…              # what it resolved to
      remote: s3://b/p           # only when given with --remote
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from pivot.core.store.atomic import write_text_atomic
from pivot.core.store.lock import OutRecord, StageLock
from pivot.core.store.paths import NON_PROJECT_DIRS
from pivot.core.store.safe_yaml import load_yaml
from pivot.exceptions import LockFileError

__all__ = [
    "MANIFEST_SUFFIX",
    "ImportSource",
    "TrackedData",
    "all_tracked",
    "dump_manifest",
    "find_manifests",
    "manifest_for",
    "parse_manifest",
    "read_manifest",
    "select_tracked",
    "tracking",
    "write_manifest",
]

MANIFEST_SUFFIX = ".pvt"
SCHEMA = 1
_HEADER = (
    "# Tracked by Pivot: `pivot pull` or `pivot checkout` restores the data; "
    "`pivot track` records an edit.\n"
)
_IMPORT_HEADER = (
    "# Imported by Pivot: `pivot pull` or `pivot checkout` restores the data; "
    "`pivot update` moves it to the source's newest version.\n"
)


_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


@dataclasses.dataclass(frozen=True)
class ImportSource:
    """Where imported data came from: a path in another repository, at a revision."""

    repo: str
    path: str
    rev: str | None  # as asked; None means the source's HEAD
    commit: str  # what ``rev`` resolved to when the data was last imported or updated
    remote: str | None = None  # the source remote given with --remote, if any

    def to_dict(self) -> dict[str, str]:
        data = {"repo": self.repo, "path": self.path}
        if self.rev is not None:
            data["rev"] = self.rev
        data["commit"] = self.commit
        if self.remote is not None:
            data["remote"] = self.remote
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ImportSource:
        """ValueError for a section Pivot did not write."""
        if not isinstance(data, dict):
            raise ValueError("its import section is not a mapping")
        commit = str(data.get("commit", ""))
        if not _COMMIT.match(commit):
            raise ValueError(f"import commit {commit!r} is not a full git commit id")
        rev, remote = data.get("rev"), data.get("remote")
        return cls(
            repo=str(data["repo"]),
            path=str(data["path"]),
            rev=None if rev is None else str(rev),
            commit=commit,
            remote=None if remote is None else str(remote),
        )

    @property
    def asked(self) -> str:
        """The revision as the user named it, for messages."""
        return self.rev or "HEAD"


@dataclasses.dataclass(frozen=True)
class TrackedData:
    """One manifest: where it is, and the data it records (paths relative to the project);
    ``source`` is set for data imported from another repository."""

    manifest: str
    record: OutRecord
    source: ImportSource | None = None

    @property
    def path(self) -> str:
        return self.record.path

    def as_lock(self) -> StageLock:
        """The manifest as a lock with one output, named after the manifest, so every command
        that moves or checks outputs handles tracked data without a case of its own."""
        return StageLock(stage=self.manifest, code={}, params={}, deps=(), outs=(self.record,))


def manifest_for(data: str) -> str:
    """The manifest path of tracked data at ``data`` (both project-relative posix)."""
    return data + MANIFEST_SUFFIX


def dump_manifest(record: OutRecord, source: ImportSource | None = None) -> str:
    data: dict[str, Any] = {"schema": SCHEMA, **record.to_dict()}
    data["path"] = PurePosixPath(record.path).name
    header = _HEADER
    if source is not None:
        data["import"] = source.to_dict()
        header = _IMPORT_HEADER
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def parse_manifest(text: str, manifest: str) -> TrackedData:
    """LockFileError (one line) when ``text`` is not a manifest Pivot wrote."""
    folder = PurePosixPath(manifest).parent
    try:
        data = load_yaml(text)
        if not isinstance(data, dict):
            raise TypeError("not a mapping")
        if data.get("schema") != SCHEMA:
            raise ValueError(f"unknown schema {data.get('schema')!r}")
        name = str(data["path"])
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"path {name!r} is not a name in the manifest's folder")
        record = OutRecord.from_dict({**data, "path": (folder / name).as_posix()})
        source = ImportSource.from_dict(data["import"]) if "import" in data else None
    except (yaml.YAMLError, RecursionError, KeyError, TypeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LockFileError(
            f"tracked-data manifest {manifest} is malformed ({reason}); restore it from git or "
            "run `pivot track` on its data again"
        ) from exc
    if manifest != manifest_for(record.path):
        raise LockFileError(
            f"tracked-data manifest {manifest} names '{record.path}', not the file it is named "
            "after; restore it from git or run `pivot track` on its data again"
        )
    return TrackedData(manifest, record, source)


def read_manifest(root: Path, manifest: str) -> TrackedData:
    path = root / manifest
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LockFileError(f"tracked-data manifest {manifest} is not text") from None
    return parse_manifest(text, manifest)


def write_manifest(
    root: Path, record: OutRecord, source: ImportSource | None = None
) -> TrackedData:
    manifest = manifest_for(record.path)
    write_text_atomic(root / manifest, dump_manifest(record, source))
    return TrackedData(manifest, record, source)


def tracking(root: Path, rel: str) -> TrackedData | None:
    """The manifest that tracks ``rel`` itself or a folder holding it, if any."""
    parts = PurePosixPath(rel).parts
    for depth in range(len(parts), 0, -1):
        candidate = manifest_for("/".join(parts[:depth]))
        if (root / candidate).is_file():
            return read_manifest(root, candidate)
    return None


def all_tracked(root: Path) -> list[TrackedData]:
    """Every manifest of the project, parsed (LockFileError for one that is malformed)."""
    return [read_manifest(root, manifest) for manifest in find_manifests(root)]


def select_tracked(root: Path, name: str) -> TrackedData | None:
    """The tracked data a user named by its path or its manifest's path, if any."""
    path = name.rstrip("/")
    if path.endswith(MANIFEST_SUFFIX):
        path = path[: -len(MANIFEST_SUFFIX)]
    if not path or not (root / manifest_for(path)).is_file():
        return None
    return read_manifest(root, manifest_for(path))


def find_manifests(root: Path) -> list[str]:
    """Every manifest in the project, sorted; tracked folders and Pivot's own are not entered."""
    return sorted(_walk(root, ""))


def _walk(root: Path, rel: str) -> Iterator[str]:
    try:
        entries = list(os.scandir(root / rel if rel else root))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    names = {entry.name for entry in entries}
    for entry in entries:
        child = f"{rel}/{entry.name}" if rel else entry.name
        if entry.name.endswith(MANIFEST_SUFFIX) and entry.is_file():
            yield child
        elif entry.is_dir(follow_symlinks=False):
            if entry.name in NON_PROJECT_DIRS or entry.name + MANIFEST_SUFFIX in names:
                continue
            yield from _walk(root, child)
