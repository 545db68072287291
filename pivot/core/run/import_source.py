"""A Pivot repository as the source of ``pivot import``: what its lock files and manifests
record for a path at a commit, and which remote holds the blobs.

:func:`given_remote` (a ``--remote`` that names no remote of the source) serves DVC sources
too (:mod:`pivot.core.interop.dvc_source` reads those).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pivot.core import remote as remotes
from pivot.core.config import PivotConfig, load_config, parse_config
from pivot.core.project import Project
from pivot.core.store.hashing import FileEntry, manifest_hash
from pivot.core.store.lock import OutRecord, parse_lock
from pivot.core.store.paths import PIVOT_DIR, is_within
from pivot.core.store.source_repo import SourceRepo, parent_paths
from pivot.core.store.tracked import manifest_for, parse_manifest
from pivot.exceptions import ConfigError, LockFileError, UsageError

__all__ = ["given_remote", "is_pivot_project", "locate", "source_remote"]

_CONFIG = f"{PIVOT_DIR}/config.yaml"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # a remote name, not a URL or path


def is_pivot_project(source: SourceRepo, commit: str) -> bool:
    return source.kind(commit, PIVOT_DIR) == "tree"


def locate(source: SourceRepo, commit: str, path: str, label: str) -> OutRecord:
    """The record of ``path`` (source-relative) at ``commit``: a stage output or tracked data,
    or a file or folder inside one. UsageError, saying what the path is instead, otherwise."""
    for lock_path, text in source.lock_texts(commit).items():
        try:
            lock = parse_lock(text, f"{lock_path} of {source.repo} at {label}")
        except LockFileError:
            continue  # an unreadable lock records nothing usable; the path may be elsewhere
        for out in lock.outs:
            if is_within(path, out.path):
                found = _within(out, path)
                if found is not None:
                    return found
    candidates = [manifest_for(p) for p in parent_paths(path)]
    for manifest, data in source.read_files(commit, candidates).items():
        text = data.decode("utf-8", "surrogateescape")
        try:
            tracked = parse_manifest(text, manifest)
        except LockFileError as exc:
            raise UsageError(f"{source.repo} at {label}: {exc}") from None
        found = _within(tracked.record, path)
        if found is not None:
            return found
    raise UsageError(_not_data(source, commit, path, label))


def _within(record: OutRecord, path: str) -> OutRecord | None:
    """``record`` narrowed to ``path``: itself, one file of a folder, or a sub-folder."""
    if record.path == path:
        return record
    if record.files is None or not is_within(path, record.path):
        return None
    rel = path[len(record.path) + 1 :]
    for entry in record.files:
        if entry.path == rel:
            return OutRecord(path, entry.hash, entry.size)
    inner = [
        FileEntry(entry.path[len(rel) + 1 :], entry.hash, entry.size)
        for entry in record.files
        if entry.path.startswith(rel + "/")
    ]
    if not inner:
        return None
    return OutRecord(path, manifest_hash(inner), sum(e.size for e in inner), tuple(inner))


def _not_data(source: SourceRepo, commit: str, path: str, label: str) -> str:
    where = f"{source.repo} at {label}"
    if not is_pivot_project(source, commit):
        return f"{where} is not a Pivot project (no {PIVOT_DIR}/ folder committed there)"
    kind = source.kind(commit, path)
    if kind is not None:
        thing = "file" if kind == "blob" else "folder"
        return (
            f"'{path}' is a {thing} committed to git in {where}, not data Pivot caches; only "
            "stage outputs and tracked data (`pivot track`) can be imported"
        )
    return (
        f"'{path}' is not in {where}: neither an output in its lock files nor tracked data "
        "(check the path, which is relative to that repository's root, and the revision)"
    )


def source_remote(
    project: Project, source: SourceRepo, commit: str, label: str, remote: str | None
) -> remotes.RemoteLocation:
    """Where the source keeps its blobs (see the module docstring for the order)."""
    config = _source_config(source, commit, label)
    if remote is not None and remote not in config.remotes:
        return given_remote(project, remote, config.remotes, f"{source.repo} at {label}")
    if not config.remotes:
        raise ConfigError(
            f"{source.repo} configures no remote in its committed {_CONFIG} at {label}; pass "
            "--remote with a remote of this project or the URL the source pushes to"
        )
    try:
        return remotes.resolve_remote(config, remote, root=source.local_root)
    except ConfigError as exc:
        raise ConfigError(f"the remote of {source.repo} at {label}: {exc}") from None


def given_remote(
    project: Project, remote: str, source_remotes: Iterable[str], where: str
) -> remotes.RemoteLocation:
    """A ``--remote`` that names no remote of the source (Pivot or DVC): a remote of this
    project, else a URL or folder; a bare name that is neither is an error."""
    own = load_config(project.root)
    if remote in own.remotes:
        return remotes.resolve_remote(own, remote, root=project.root)
    if _NAME.match(remote):
        known = ", ".join(sorted({*source_remotes, *own.remotes})) or "none"
        raise ConfigError(
            f"no remote '{remote}' in {where} or in this project (remotes: {known}); pass a "
            "remote name or a URL (s3://bucket/prefix, a folder)"
        )
    return remotes.RemoteLocation.parse("import", remote, root=project.root)


def _source_config(source: SourceRepo, commit: str, label: str) -> PivotConfig:
    text = source.read_files(commit, [_CONFIG]).get(_CONFIG)
    if text is None:
        return PivotConfig()
    return parse_config(text.decode("utf-8", "replace"), f"{_CONFIG} of {source.repo} at {label}")
