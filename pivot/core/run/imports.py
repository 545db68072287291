"""``pivot import`` and ``pivot update``: data from another repository, kept as tracked data.

The source may be a Pivot project (read by :mod:`pivot.core.run.import_source`: its lock
files, manifests and remote) or a DVC repository (read by
:mod:`pivot.core.interop.dvc_source`: its dvc.lock and .dvc files, its DVC remote).

An import finds what the source repository records for a path at a revision (a stage output
in its lock files, or its tracked data, or a file or folder inside either), fetches those
blobs from the source's remote into this cache (verified, as every fetch), writes the data and
a manifest with an ``import`` section (:class:`~pivot.core.store.tracked.ImportSource`). From
then on the data is tracked data: a dep like any file, pushed to and pulled from this
project's remote, restored by checkout.

Which remote of the source: ``--remote`` (a remote name of the source, else of this project,
else a URL), or the source's default remote in its committed ``.pivot/config.yaml`` at the
revision. Settings the source keeps out of git (``config.local.yaml``) are not seen; name a
remote of this project that reaches the same place instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from pivot.core import remote as remotes
from pivot.core.interop import dvc_source
from pivot.core.project import Project
from pivot.core.run import import_source
from pivot.core.run.checkout import restore_record
from pivot.core.run.track import gitignore_data
from pivot.core.store.artifacts import ArtifactHasher
from pivot.core.store.lock import OutRecord
from pivot.core.store.paths import confined_path, is_within
from pivot.core.store.run_lock import ProjectRunLock
from pivot.core.store.source_repo import SourceRepo
from pivot.core.store.tracked import (
    MANIFEST_SUFFIX,
    ImportSource,
    TrackedData,
    all_tracked,
    manifest_for,
    read_manifest,
    select_tracked,
    tracking,
    write_manifest,
)
from pivot.exceptions import (
    PivotError,
    RemoteError,
    RemoteUnavailableError,
    UsageError,
)

__all__ = [
    "ImportResult",
    "ImportStatus",
    "import_data",
    "import_status",
    "imports",
    "update",
]


@dataclasses.dataclass(frozen=True)
class ImportResult:
    """What one import or update did."""

    path: str
    manifest: str
    source: ImportSource
    previous: str | None  # the commit imported before an update; None for a new import
    changed: bool  # False: the data was already at the resolved commit
    size: int
    files: int | None  # a folder's file count
    fetched: int  # blobs (DVC: objects) downloaded from the source remote

    def to_dict(self) -> dict[str, Any]:
        """The result as ``import --json`` and ``update --json`` print it."""
        return {
            "path": self.path,
            "manifest": self.manifest,
            "source": self.source.to_dict(),
            "previous": self.previous,
            "changed": self.changed,
            "size": self.size,
            "files": self.files,
            "fetched": self.fetched,
        }


@dataclasses.dataclass(frozen=True)
class ImportStatus:
    """How one import compares with its source (``pivot status --imports``)."""

    path: str
    manifest: str
    repo: str
    rev: str
    commit: str
    latest: str | None  # the commit the rev names in the source now; None when unreachable
    status: str  # "current" | "behind" | "unreachable"
    detail: str = ""

    def hint(self) -> str:
        if self.status == "behind":
            return f"{self.rev} moved to {self.latest or '?'}; `pivot update {self.path}` brings it"
        return self.detail

    def to_dict(self) -> dict[str, str | None]:
        return {**dataclasses.asdict(self), "hint": self.hint()}


# -- import -----------------------------------------------------------------------------------


def import_data(
    project: Project,
    repo: str,
    path: str,
    out: str,
    *,
    rev: str | None = None,
    remote: str | None = None,
    force: bool = False,
    jobs: int = remotes.DEFAULT_JOBS,
    progress: remotes.ProgressCallback | None = None,
) -> ImportResult:
    """Import ``path`` of ``repo`` (a URL, or a path relative to the project root) at ``rev``
    into ``out`` (project-relative), holding the run lock. Nothing in the workspace changes
    unless the data was found and fetched."""
    with ProjectRunLock(project.paths.run_lock, "import"):
        _check_target(project, out, force=force)
        source = SourceRepo(project.root, repo)
        source.fetch()
        return _bring(
            project,
            source,
            path,
            out,
            rev=rev,
            remote=remote,
            previous=None,
            jobs=jobs,
            progress=progress,
        )


def _check_target(project: Project, out: str, *, force: bool) -> None:
    manifest = manifest_for(out)
    if (project.root / manifest).is_file():
        existing = read_manifest(project.root, manifest)
        what = f"imported from {existing.source.repo}" if existing.source else "tracked data"
        raise UsageError(
            f"'{out}' is {what} already ({manifest}); `pivot update {out}` moves an import, "
            "or choose another place with --out"
        )
    if out.endswith(MANIFEST_SUFFIX):
        raise UsageError(f"cannot import to '{out}': the name is that of a manifest")
    parent = str(PurePosixPath(out).parent)
    owner = tracking(project.root, parent) if parent != "." else None
    if owner is not None:
        raise UsageError(f"cannot import to '{out}': it is inside tracked data '{owner.path}'")
    for stage in project.locks.stages():
        lock = project.locks.read(stage)
        for record in lock.outs if lock is not None else ():
            if is_within(out, record.path) or is_within(record.path, out):
                raise UsageError(
                    f"cannot import to '{out}': stage '{stage}' writes '{record.path}'; "
                    "choose another place with --out"
                )
    if project.abspath(out).exists() and not force:
        raise UsageError(
            f"'{out}' exists already; move it away, choose another place with --out, or pass "
            "--force to replace it"
        )


def _bring(
    project: Project,
    source: SourceRepo,
    path: str,
    out: str,
    *,
    rev: str | None,
    remote: str | None,
    previous: str | None,
    jobs: int,
    progress: remotes.ProgressCallback | None = None,
) -> ImportResult:
    """Resolve, locate, fetch, write the data, then its manifest (last, so a failure leaves
    the previous manifest in charge)."""
    commit = source.resolve(rev)
    label = _label(rev, commit)
    wanted = _Wanted(source, commit, label, path, out, remote, jobs, progress)
    if dvc_source.is_dvc_repo(source, commit) and not import_source.is_pivot_project(
        source, commit
    ):
        record, fetched = _fetch_from_dvc(project, wanted)
    else:
        record, fetched = _fetch_from_pivot(project, wanted)
    confined_path(project.root, out, folder=record.files is not None)
    hasher = ArtifactHasher(project.root, project.state)
    try:
        restore_record(project.cache, record, project.abspath(out), hasher)
    finally:
        hasher.flush()
    imported = ImportSource(source.repo, path, rev, commit, remote)
    tracked = write_manifest(project.root, record, imported)
    gitignore_data(project.root, out)
    return ImportResult(
        path=out,
        manifest=tracked.manifest,
        source=imported,
        previous=previous,
        changed=previous != commit,
        size=record.size,
        files=None if record.files is None else len(record.files),
        fetched=fetched,
    )


@dataclasses.dataclass(frozen=True)
class _Wanted:
    """One path of a source at a resolved commit, and how to fetch it."""

    source: SourceRepo
    commit: str
    label: str  # the revision as said in messages: "main (3f2a9c0d1b)"
    path: str  # in the source
    out: str  # in this project
    remote: str | None
    jobs: int
    progress: remotes.ProgressCallback | None


def _fetch_from_pivot(project: Project, wanted: _Wanted) -> tuple[OutRecord, int]:
    """The blobs of the path as the source's lock or manifest records them, into this cache."""
    source, label, path = wanted.source, wanted.label, wanted.path
    found = import_source.locate(source, wanted.commit, path, label)
    location = import_source.source_remote(project, source, wanted.commit, label, wanted.remote)
    try:
        fetched = remotes.fetch_from(
            project, location, [found], jobs=wanted.jobs, progress=wanted.progress
        )
    except RemoteUnavailableError as exc:
        raise RemoteUnavailableError(
            f"the remote of {source.repo} at {label}: {exc}; or pass --remote NAME_OR_URL"
        ) from None
    if fetched.missing:
        problem = fetched.missing[0]
        raise RemoteError(
            f"'{path}' of {source.repo} at {label} is not on {location.describe()} (blob "
            f"{problem.hash}); push it from {source.repo} (outputs kept out of the cache, such "
            "as metrics, are never pushed)"
        )
    if fetched.failed:
        raise RemoteError(f"cannot fetch '{path}' of {source.repo}: {fetched.failed[0].reason}")
    return OutRecord(wanted.out, found.hash, found.size, found.files), len(fetched.transferred)


def _fetch_from_dvc(project: Project, wanted: _Wanted) -> tuple[OutRecord, int]:
    """The objects of the path as the DVC repository's dvc.lock or .dvc file records them,
    checked by MD5 and entered into this cache under their xxhash."""
    source, label = wanted.source, wanted.label
    found = dvc_source.locate_dvc(source, wanted.commit, wanted.path, label)
    config = dvc_source.read_config(source, wanted.commit, label)
    if wanted.remote is not None and wanted.remote not in config.remotes:
        where = f"{source.repo}'s .dvc/config at {label}"
        location = import_source.given_remote(project, wanted.remote, config.remotes, where)
    else:
        location = dvc_source.dvc_remote(source, label, config, wanted.remote)
    what = f"{source.repo} at {label}"
    try:
        brought = dvc_source.fetch_dvc_out(
            project,
            location,
            found,
            wanted.path,
            wanted.out,
            what=what,
            jobs=wanted.jobs,
            progress=wanted.progress,
        )
    except RemoteUnavailableError as exc:
        raise RemoteUnavailableError(
            f"the DVC remote of {what}: {exc}; or pass --remote NAME_OR_URL"
        ) from None
    return brought.record, brought.fetched


def _label(rev: str | None, commit: str) -> str:
    return f"{rev or 'HEAD'} ({commit[:10]})"


# -- update and status ------------------------------------------------------------------------


def imports(project: Project, targets: Sequence[str] = ()) -> list[TrackedData]:
    """The imports named by path or manifest (all of them if none); UsageError for a name
    that is not an import."""
    if not targets:
        return [item for item in all_tracked(project.root) if item.source is not None]
    found = []
    for name in dict.fromkeys(targets):
        item = select_tracked(project.root, name)
        if item is None or item.source is None:
            what = "tracked data, not an import" if item is not None else "not an import"
            raise UsageError(f"'{name}' is {what}; `pivot import REPO PATH` imports data")
        found.append(item)
    return found


def update(
    project: Project,
    targets: Sequence[str] = (),
    *,
    rev: str | None = None,
    jobs: int = remotes.DEFAULT_JOBS,
    progress: remotes.ProgressCallback | None = None,
) -> list[ImportResult]:
    """Move imports to what their revision (or ``rev``, which replaces it) names now."""
    with ProjectRunLock(project.paths.run_lock, "update"):
        selected = imports(project, targets)
        if rev is not None and len(selected) != 1:
            raise UsageError("--rev needs exactly one import to update; name it")
        fetched: dict[str, SourceRepo] = {}
        results = []
        for item in selected:
            assert item.source is not None
            source = fetched.get(item.source.repo)
            if source is None:
                source = SourceRepo(project.root, item.source.repo)
                source.fetch()
                fetched[item.source.repo] = source
            wanted = rev if rev is not None else item.source.rev
            commit = source.resolve(wanted)
            if commit == item.source.commit and wanted == item.source.rev:
                results.append(_unchanged(item, item.source))
                continue
            results.append(
                _bring(
                    project,
                    source,
                    item.source.path,
                    item.path,
                    rev=wanted,
                    remote=item.source.remote,
                    previous=item.source.commit,
                    jobs=jobs,
                    progress=progress,
                )
            )
        return results


def _unchanged(item: TrackedData, source: ImportSource) -> ImportResult:
    record = item.record
    return ImportResult(
        path=item.path,
        manifest=item.manifest,
        source=source,
        previous=source.commit,
        changed=False,
        size=record.size,
        files=None if record.files is None else len(record.files),
        fetched=0,
    )


def import_status(project: Project, targets: Sequence[str] = ()) -> list[ImportStatus]:
    """Each import against its source now: asks every source (a fetch into its mirror, with
    a time limit); an unreachable source is a row, not an error."""
    rows = []
    sources: dict[str, SourceRepo | str] = {}
    for item in imports(project, targets):
        assert item.source is not None
        imported = item.source
        source = sources.get(imported.repo)
        if source is None:
            source = SourceRepo(project.root, imported.repo)
            try:
                source.fetch()
            except PivotError as exc:
                source = str(exc)
            sources[imported.repo] = source
        base = (item.path, item.manifest, imported.repo, imported.asked, imported.commit)
        if isinstance(source, str):
            rows.append(ImportStatus(*base, None, "unreachable", source))
            continue
        try:
            latest = source.resolve(imported.rev)
        except PivotError as exc:
            rows.append(ImportStatus(*base, None, "unreachable", str(exc)))
            continue
        status = "current" if latest == imported.commit else "behind"
        rows.append(ImportStatus(*base, latest, status))
    return rows
