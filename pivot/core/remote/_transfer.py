"""Push, fetch and pull: which blobs to move, moving them in parallel, and what happens after.

The unit of transfer is a blob named by its xxhash64, exactly as in the local cache, so the
remote layout is ``<prefix>/files/ab/cdef…``. What to move is read from lock files only: no
pipeline import, so a broken ``pipeline.py`` never blocks sharing data.

Guarantees:

- Nothing enters the local cache unverified: downloads land in ``.pivot/tmp/remote/``, are
  hashed, and only then renamed into the cache.
- Nothing corrupt leaves it: a local blob is hashed as it is uploaded.
- The first error that dooms every other blob (unreachable endpoint, refused credentials,
  missing bucket or folder: :class:`RemoteUnavailableError`) stops the transfer: pending
  blobs are cancelled, blobs in flight finish or fail, and a :class:`RemoteError` with one
  line is raised. Per-blob problems (missing on
  the remote, corrupt there) are collected and returned instead, so one bad object does not
  hide the state of the rest.

The remote itself is a :class:`~pivot.core.remote._store.BlobStore` (S3 or a folder); this
module never knows which.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
import secrets
import shutil
import stat
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

from pivot.core.config import load_config
from pivot.core.project import Project
from pivot.core.remote._index import RemoteIndex
from pivot.core.remote._location import RemoteLocation, resolve_remote
from pivot.core.remote._progress import Direction, ProgressCallback, ProgressTracker
from pivot.core.remote._store import BlobStore, open_store
from pivot.core.store.artifacts import ArtifactHasher
from pivot.core.store.atomic import TMP_MARK
from pivot.core.store.hashing import copy_hashing, walk_files
from pivot.core.store.lock import OutRecord, StageLock
from pivot.core.store.paths import confined_path, normalize_path
from pivot.core.store.run_cache import entry_bytes, lock_key
from pivot.core.store.run_lock import ProjectRunLock
from pivot.core.store.sweep import sweep_leftovers
from pivot.core.store.tracked import all_tracked, select_tracked
from pivot.exceptions import (
    BlobCorruptError,
    BlobMissingError,
    CacheCorruptError,
    CacheError,
    PivotError,
    ProjectError,
    RemoteError,
    RemoteUnavailableError,
    UsageError,
)

DEFAULT_JOBS = 16
STALE_TEMP_SECONDS = 24 * 3600
LIST_MIN = 64  # below this many unknown hashes, HEAD each instead of listing shards
_WINDOW = 4  # items submitted per thread at a time in _parallel: enough to keep all busy
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH

T = TypeVar("T")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class BlobRef:
    """One blob a lock needs, and the workspace file it is the content of."""

    hash: str
    size: int
    stage: str
    path: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class BlobProblem:
    """A blob that could not be moved or restored, and why."""

    hash: str
    stage: str
    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        return f"{self.path} (stage {self.stage}, blob {self.hash}): {self.reason}"


@dataclasses.dataclass
class TransferResult:
    """What a push or fetch did (or, with ``dry_run``, would do)."""

    direction: Direction
    remote: str
    blobs: int  # distinct blobs the selected locks reference
    present: int  # already where they were going (the remote for push, the cache for fetch)
    transferred: list[BlobRef] = dataclasses.field(default_factory=list)
    missing: list[BlobProblem] = dataclasses.field(default_factory=list)
    failed: list[BlobProblem] = dataclasses.field(default_factory=list)
    dry_run: bool = False

    @property
    def bytes(self) -> int:
        return sum(ref.size for ref in self.transferred)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": str(self.direction),
            "remote": self.remote,
            "dry_run": self.dry_run,
            "blobs": self.blobs,
            "present": self.present,
            "transferred": [ref.to_dict() for ref in self.transferred],
            "bytes": self.bytes,
            "missing": [p.to_dict() for p in self.missing],
            "failed": [p.to_dict() for p in self.failed],
        }


@dataclasses.dataclass
class PullResult:
    """A fetch, then the workspace outputs written from the cache."""

    fetch: TransferResult
    restored: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)  # stray files in folder outputs
    up_to_date: int = 0  # files that already matched their lock
    failed: list[BlobProblem] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.fetch.ok and not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "fetch": self.fetch.to_dict(),
            "restored": self.restored,
            "removed": self.removed,
            "up_to_date": self.up_to_date,
            "failed": [p.to_dict() for p in self.failed],
        }


@dataclasses.dataclass(frozen=True)
class RemoteStatusRow:
    """Where the content of one output is: locally, on the remote, both, or nowhere.

    ``missing_local`` counts blobs neither in the local cache nor in the workspace (None when
    the local side was not checked); ``missing_remote`` counts blobs the remote lacks.
    """

    stage: str
    path: str
    hash: str
    blobs: int
    missing_local: int | None
    missing_remote: int

    @property
    def local(self) -> bool | None:
        return None if self.missing_local is None else self.missing_local == 0

    @property
    def remote(self) -> bool:
        return self.missing_remote == 0

    @property
    def status(self) -> str:
        """``ok``, ``not pushed`` (local only), ``not pulled`` (remote only) or ``missing``."""
        if self.local is False:
            return "not pulled" if self.remote else "missing"
        return "ok" if self.remote else "not pushed"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(local=self.local, remote=self.remote, status=self.status)
        return data


# -- what the locks reference -----------------------------------------------------------------


def select_locks(project: Project, stages: Sequence[str] = ()) -> list[StageLock]:
    """The locks of ``stages`` (lock file stems, or tracked data by path), or every lock in
    ``.pivot/stages/`` and every tracked-data manifest (each read as a one-output lock)."""
    if not stages:
        locks = [lock for name in project.locks.stages() if (lock := project.locks.read(name))]
        return locks + [tracked.as_lock() for tracked in all_tracked(project.root)]
    locks = []
    for name in dict.fromkeys(stages):
        lock = project.locks.read(name)
        if lock is None:
            tracked = select_tracked(project.root, name)
            if tracked is not None:
                locks.append(tracked.as_lock())
                continue
            known = ", ".join(project.locks.stages()) or "none"
            raise UsageError(
                f"no lock file for stage '{name}' ({project.locks.path_for(name)}) and no "
                f"tracked data at '{name}'; run the stage first or check the name (stages with "
                f"locks: {known})"
            )
        locks.append(lock)
    return locks


def output_blobs(stage: str, out: OutRecord) -> list[BlobRef]:
    """The blobs of one output: itself, or one per file of a folder."""
    if out.files is None:
        return [BlobRef(out.hash, out.size, stage, out.path)]
    return [
        BlobRef(entry.hash, entry.size, stage, f"{out.path}/{entry.path}") for entry in out.files
    ]


def iter_blobs(lock: StageLock) -> Iterator[BlobRef]:
    for out in lock.outs:
        yield from output_blobs(lock.stage, out)


def lock_blobs(locks: Sequence[StageLock]) -> dict[str, BlobRef]:
    """Every distinct blob of ``locks``, by hash (the first output that needs it names it)."""
    refs: dict[str, BlobRef] = {}
    for lock in locks:
        for ref in iter_blobs(lock):
            refs.setdefault(ref.hash, ref)
    return refs


# -- running work on threads ------------------------------------------------------------------


def _parallel(
    work: Callable[[T], R],
    items: Sequence[T],
    jobs: int,
    on_result: Callable[[T, R | Exception], None],
) -> None:
    """Run ``work`` over ``items`` on up to ``jobs`` threads.

    ``on_result`` gets each value or per-item exception, on the calling thread. The first
    fatal exception (:class:`RemoteUnavailableError`) cancels what has not started, lets
    running items end, then is raised.

    At most :data:`_WINDOW` * ``jobs`` items are submitted at a time: ``wait`` visits every
    future it is given, so submitting 100,000 blobs at once made each wake-up cost 100,000
    lock operations (push and pull grew quadratically, and every future stayed in memory).
    """
    if not items:
        return
    stop = threading.Event()

    def guarded(item: T) -> R:
        if stop.is_set():
            raise _Cancelled
        try:
            return work(item)
        except RemoteUnavailableError:
            stop.set()  # now, on this thread: it is about to take the next item
            raise

    fatal: Exception | None = None
    window = max(1, jobs) * _WINDOW
    feed = iter(items)
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(items)), thread_name_prefix="pivot-remote")
    try:
        pending: dict[Future[R], T] = {
            pool.submit(guarded, item): item for item in itertools.islice(feed, window)
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                if future.cancelled():
                    continue
                try:
                    value = future.result()
                except _Cancelled:
                    continue
                except Exception as exc:
                    if isinstance(exc, RemoteUnavailableError):
                        if fatal is None:
                            fatal = exc
                            stop.set()
                            for other in pending:
                                other.cancel()
                        continue
                    on_result(item, exc)
                    continue
                on_result(item, value)
            if fatal is None:
                for item in itertools.islice(feed, window - len(pending)):
                    pending[pool.submit(guarded, item)] = item
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if fatal is not None:
        raise fatal from None


class _Cancelled(Exception):
    """An item skipped because the transfer is stopping."""


class _Session:
    """A blob store, the index of known hashes, and the job count, for one command."""

    def __init__(
        self,
        project: Project,
        remote: str | None,
        jobs: int,
        location: RemoteLocation | None = None,
    ) -> None:
        self.project = project
        self.location = location or resolve_remote(
            load_config(project.root), remote, root=project.root
        )
        self.jobs = jobs
        self._store: BlobStore | None = None
        self._index: RemoteIndex | None = None

    @property
    def store(self) -> BlobStore:
        """The store, opened and checked (fails fast on a dead remote) on first use, so
        commands with nothing to move never touch the network."""
        if self._store is None:
            store = open_store(self.location, jobs=self.jobs)
            try:
                store.check()
            except BaseException:
                store.close()
                raise
            self._store = store
        return self._store

    @property
    def index(self) -> RemoteIndex:
        if self._index is None:
            self._index = RemoteIndex(self.project.state, self.location.identity)
        return self._index

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def on_remote(self, digests: set[str]) -> set[str]:
        """Which of ``digests`` the remote holds, asking the server (not the index).

        A remote of at most 1,000 blobs was listed whole by the connectivity check. Otherwise:
        few hashes, one HEAD each; many, list the ``files/ab/`` shards they fall in (one
        request per 1,000 objects), unless the first shard shows the remote is so large that
        listing would cost more requests than HEADs.
        """
        if not digests:
            return set()
        listing = self.store.complete_listing
        if listing is not None:  # a small remote: the connectivity check listed all of it
            return digests & listing
        shards: dict[str, set[str]] = defaultdict(set)
        for digest in digests:
            shards[digest[:2]].add(digest)
        found: set[str] = set()
        if len(digests) >= LIST_MIN and len(digests) >= 2 * len(shards):
            first = max(shards, key=lambda shard: len(shards[shard]))
            listed, pages = self.store.list_shard(first)
            found |= listed & shards.pop(first)
            remaining = {d for group in shards.values() for d in group}
            if pages * len(shards) <= len(remaining):
                self._run_listing(sorted(shards), shards, found)
                return found
            digests = remaining
        self._run_heads(sorted(digests), found)
        return found

    def _run_listing(self, names: list[str], shards: dict[str, set[str]], found: set[str]) -> None:
        errors: list[Exception] = []

        def collect(shard: str, value: tuple[set[str], int] | Exception) -> None:
            if isinstance(value, Exception):
                errors.append(value)
            else:
                found.update(value[0] & shards[shard])

        _parallel(self.store.list_shard, names, self.jobs, collect)
        if errors:
            raise errors[0]

    def _run_heads(self, digests: list[str], found: set[str]) -> None:
        errors: list[Exception] = []

        def collect(digest: str, value: bool | Exception) -> None:
            if isinstance(value, Exception):
                errors.append(value)
            elif value:
                found.add(digest)

        _parallel(self.store.exists, digests, self.jobs, collect)
        if errors:
            raise errors[0]


# -- push ------------------------------------------------------------------------------------


def push(
    project: Project,
    stages: Sequence[str] = (),
    *,
    remote: str | None = None,
    jobs: int = DEFAULT_JOBS,
    dry_run: bool = False,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> TransferResult:
    """Upload the blobs the locks of ``stages`` (all if empty) reference and the remote lacks.

    A blob comes from the local cache, or, when the cache lacks it (outputs kept out of the
    cache, such as metrics), from the workspace file if that still has the locked hash. The
    run-cache entry of each stage whose blobs are all on the remote goes too, so another
    clone can restore these results instead of running (see :class:`RemoteRuns`).

    ``force`` uploads every blob, replacing what the remote stores under its name: the
    repair of remote objects that a fetch found corrupt (truncated, overwritten), which a
    plain push skips because their names are there.
    """
    locks = select_locks(project, stages)
    refs = lock_blobs(locks)
    tracker = ProgressTracker(Direction.PUSH, progress)
    with _Session(project, remote, jobs) as session:
        result = TransferResult(
            Direction.PUSH, session.location.describe(), len(refs), 0, dry_run=dry_run
        )
        if not refs:
            tracker.finish()
            return result
        unknown = set(refs) if force else set(refs) - session.index.known(refs)
        present = set() if force else session.on_remote(unknown)
        session.index.add(present)
        result.present = len(refs) - len(unknown) + len(present)
        todo: list[BlobRef] = []
        for digest in sorted(unknown - present):
            ref = refs[digest]
            if project.cache.has(digest) or _workspace_candidate(project, ref) is not None:
                todo.append(ref)
            else:
                result.missing.append(
                    _problem(ref, "in neither the local cache nor the workspace; re-run the stage")
                )
        if dry_run:
            result.transferred = todo
            tracker.finish()
            return result
        tracker.start(len(todo), sum(ref.size for ref in todo))
        uploaded: list[str] = []

        def upload(ref: BlobRef) -> bool:
            source = _upload_source(project, ref)
            if source is None:
                raise _NoSource
            try:
                return session.store.upload(source, ref.hash, tracker.add_bytes, replace=force)
            except BlobCorruptError:
                project.cache.quarantine(ref.hash)
                source = _adopt(project, ref)
                if source is None:
                    raise
                return session.store.upload(source, ref.hash, tracker.add_bytes, replace=force)

        def record(ref: BlobRef, outcome: bool | Exception) -> None:
            if isinstance(outcome, _NoSource):
                result.missing.append(
                    _problem(ref, "in neither the local cache nor the workspace; re-run the stage")
                )
            elif isinstance(outcome, BlobCorruptError):
                result.failed.append(
                    _problem(
                        ref,
                        "corrupt in the local cache and changed in the workspace; re-run the stage",
                    )
                )
            elif isinstance(outcome, Exception):
                result.failed.append(_problem(ref, _reason(outcome, session.location)))
            else:
                uploaded.append(ref.hash)
                if outcome:
                    result.transferred.append(ref)
                else:
                    result.present += 1
            tracker.file_done(ref.path, failed=isinstance(outcome, Exception))

        try:
            _parallel(upload, todo, jobs, record)
        finally:
            session.index.add(uploaded)
        _push_runs(session, locks)
        tracker.finish()
        return result


def _push_runs(session: _Session, locks: Sequence[StageLock]) -> None:
    """Upload the run-cache entry of each stage lock whose blobs the remote now holds (an
    entry whose outputs cannot be fetched would only send another clone to a dead end)."""
    index = RemoteIndex(session.project.state, session.location.identity + " runs")
    entries = {
        lock_key(lock): lock
        for lock in locks
        if lock.code and lock.outs  # stage locks; tracked data has no run to share
    }
    for key in sorted(set(entries) - index.known(entries)):
        lock = entries[key]
        blobs = [digest for out in lock.outs for digest in out.blob_hashes()]
        if len(session.index.known(blobs)) == len(set(blobs)):
            session.store.put_run(key, entry_bytes(lock))
            index.add([key])


class _NoSource(Exception):
    """Neither the cache nor the workspace holds the blob's bytes."""


def _workspace_candidate(project: Project, ref: BlobRef) -> Path | None:
    """The workspace file that may hold ``ref`` (right size; the hash is checked on use)."""
    try:
        path = project.root / normalize_path(ref.path, project.root)
        st = path.stat()
    except (OSError, ProjectError):
        return None
    return path if stat.S_ISREG(st.st_mode) and st.st_size == ref.size else None


def _upload_source(project: Project, ref: BlobRef) -> Path | None:
    blob = project.cache.blob_path(ref.hash)
    if blob.is_file():
        return blob
    return _adopt(project, ref)


def _adopt(project: Project, ref: BlobRef) -> Path | None:
    """Copy the workspace file into the cache if it still hashes to ``ref.hash``."""
    source = _workspace_candidate(project, ref)
    if source is None:
        return None
    try:
        project.cache.add_written(ref.hash, functools.partial(_copy_verified, source, ref.hash))
    except _Changed:
        return None
    return project.cache.blob_path(ref.hash)


class _Changed(Exception):
    """The workspace file no longer hashes to the locked value."""


def _copy_verified(source: Path, digest: str, target: Path) -> None:
    """Copy ``source`` to ``target``, hashing as it goes; :class:`_Changed` unless it hashes
    to ``digest`` (``Cache.add_written`` then discards ``target``)."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        actual, _ = copy_hashing(src.read, dst)
    if actual != digest:
        raise _Changed


# -- fetch -----------------------------------------------------------------------------------


def fetch(
    project: Project,
    stages: Sequence[str] = (),
    *,
    remote: str | None = None,
    jobs: int = DEFAULT_JOBS,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> TransferResult:
    """Download into the local cache the blobs of ``stages``' locks that it lacks.

    Does not contact the remote at all when the cache already has everything.
    """
    refs = lock_blobs(select_locks(project, stages))
    return _fetch(project, refs, remote=remote, jobs=jobs, dry_run=dry_run, progress=progress)


def fetch_from(
    project: Project,
    location: RemoteLocation,
    records: Sequence[OutRecord],
    *,
    jobs: int = DEFAULT_JOBS,
    progress: ProgressCallback | None = None,
) -> TransferResult:
    """Download into the local cache the blobs of ``records`` it lacks, from ``location``
    rather than a remote of this project: how ``pivot import`` reads another repository's
    remote. Verified like every fetch; nothing is contacted when the cache has everything."""
    refs: dict[str, BlobRef] = {}
    for record in records:
        for ref in output_blobs("import", record):
            refs.setdefault(ref.hash, ref)
    return _fetch(
        project,
        refs,
        remote=None,
        jobs=jobs,
        dry_run=False,
        progress=progress,
        location=location,
    )


def _fetch(
    project: Project,
    refs: dict[str, BlobRef],
    *,
    remote: str | None,
    jobs: int,
    dry_run: bool,
    progress: ProgressCallback | None,
    blobs: int | None = None,
    location: RemoteLocation | None = None,
) -> TransferResult:
    tracker = ProgressTracker(Direction.FETCH, progress)
    with _Session(project, remote, jobs, location) as session:
        wanted = [ref for digest, ref in sorted(refs.items()) if not project.cache.has(digest)]
        result = TransferResult(
            Direction.FETCH,
            session.location.describe(),
            len(refs) if blobs is None else blobs,
            (len(refs) if blobs is None else blobs) - len(wanted),
            dry_run=dry_run,
        )
        if not wanted:
            tracker.finish()
            return result
        if dry_run:
            hashes = {ref.hash for ref in wanted}
            on_remote = session.index.known(hashes)
            on_remote |= session.on_remote(hashes - on_remote)
            for ref in wanted:
                if ref.hash in on_remote:
                    result.transferred.append(ref)
                else:
                    result.missing.append(_problem(ref, f"not on {session.location.describe()}"))
            tracker.finish()
            return result
        store = session.store  # connect, and fail fast, before any thread starts
        tmp_dir = project.paths.tmp / "remote"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale(tmp_dir)
        tracker.start(len(wanted), sum(ref.size for ref in wanted))
        fetched: list[str] = []
        gone: list[str] = []

        def download(ref: BlobRef) -> None:
            # Named as a temp file with its writer's pid: the run lock's sweep removes it
            # once this process is gone (pivot.core.store.sweep).
            tmp = tmp_dir / f"{ref.hash}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
            try:
                store.download(ref.hash, ref.size, tmp, tracker.add_bytes)
                os.chmod(tmp, _READ_ONLY)
                target = project.cache.blob_path(ref.hash)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

        def record(ref: BlobRef, outcome: Exception | None) -> None:
            if isinstance(outcome, BlobMissingError):
                gone.append(ref.hash)
                result.missing.append(
                    _problem(
                        ref,
                        f"not on {session.location.describe()}; push it from a machine that has it",
                    )
                )
            elif isinstance(outcome, Exception):
                if isinstance(outcome, BlobCorruptError):
                    gone.append(ref.hash)  # not a usable copy: a plain push may not skip it
                result.failed.append(_problem(ref, _reason(outcome, session.location)))
            else:
                fetched.append(ref.hash)
                result.transferred.append(ref)
            tracker.file_done(ref.path, failed=outcome is not None)

        try:
            _parallel(download, wanted, jobs, record)
        finally:
            session.index.add(fetched)
            session.index.discard(gone)
        tracker.finish()
        return result


def _remove_stale(folder: Path) -> None:
    """Delete downloads a killed process left behind (old enough that no fetch still owns them)."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < cutoff:
                entry.unlink()


# -- pull ------------------------------------------------------------------------------------


@dataclasses.dataclass
class _RestorePlan:
    files: list[BlobRef] = dataclasses.field(default_factory=list)  # to write from the cache
    extras: list[str] = dataclasses.field(default_factory=list)  # stray files in folder outputs
    folders: list[str] = dataclasses.field(default_factory=list)  # folder outputs to create
    up_to_date: int = 0


def _plan_restore(
    project: Project, locks: Sequence[StageLock], hasher: ArtifactHasher
) -> _RestorePlan:
    plan = _RestorePlan()
    for lock in locks:
        for out in lock.outs:
            out_path = _checked_path(project, out.path, lock.stage)
            confined_path(project.root, out_path, folder=out.files is not None)
            if out.files is None:
                current = hasher.hash_path(out_path)
                if current is not None and current.files is None and current.hash == out.hash:
                    plan.up_to_date += 1
                else:
                    plan.files.append(BlobRef(out.hash, out.size, lock.stage, out_path))
                continue
            plan.folders.append(out_path)
            folder = project.abspath(out_path)
            expected: set[str] = set()
            for entry in out.files:
                rel = _checked_path(project, f"{out_path}/{entry.path}", lock.stage)
                if not rel.startswith(out_path + "/"):
                    raise ProjectError(
                        f"lock of stage '{lock.stage}' lists '{entry.path}' outside its folder {out_path}; restore the lock from git"
                    )
                confined_path(project.root, rel)
                expected.add(rel)
                current = hasher.hash_path(rel) if folder.is_dir() else None
                if current is not None and current.files is None and current.hash == entry.hash:
                    plan.up_to_date += 1
                else:
                    plan.files.append(BlobRef(entry.hash, entry.size, lock.stage, rel))
            if folder.is_dir():
                plan.extras.extend(
                    f"{out_path}/{name}"
                    for name in walk_files(folder)
                    if f"{out_path}/{name}" not in expected
                )
    return plan


def _checked_path(project: Project, path: str, stage: str) -> str:
    try:
        return normalize_path(path, project.root)
    except ProjectError as exc:
        raise ProjectError(f"lock of stage '{stage}': {exc}; restore the lock from git") from None


def pull(
    project: Project,
    stages: Sequence[str] = (),
    *,
    remote: str | None = None,
    jobs: int = DEFAULT_JOBS,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> PullResult:
    """Fetch what the workspace needs, then write every output that is missing or differs
    from its lock (folder outputs file by file, removing files the lock does not list).

    Holds the project's run lock (except for a dry run): a pull never interleaves with a run
    writing the same outputs; while one runs, it stops with RunInProgressError.
    """
    if dry_run:
        return _pull(project, stages, remote=remote, jobs=jobs, dry_run=True, progress=progress)
    with ProjectRunLock(project.paths.run_lock, "pull") as run_lock:
        return _pull(
            project,
            stages,
            remote=remote,
            jobs=jobs,
            dry_run=False,
            progress=progress,
            since=run_lock.acquired_at,
        )


def _pull(
    project: Project,
    stages: Sequence[str],
    *,
    remote: str | None,
    jobs: int,
    dry_run: bool,
    progress: ProgressCallback | None,
    since: float | None = None,
) -> PullResult:
    locks = select_locks(project, stages)
    if since is not None:  # holding the run lock: sweep what killed writers left
        sweep_leftovers(project.paths, since, [out.path for lock in locks for out in lock.outs])
    hasher = ArtifactHasher(project.root, project.state)
    plan = _plan_restore(project, locks, hasher)
    needed: dict[str, BlobRef] = {}
    for ref in plan.files:
        needed.setdefault(ref.hash, ref)
    fetched = _fetch(
        project,
        needed,
        remote=remote,
        jobs=jobs,
        dry_run=dry_run,
        progress=progress,
        blobs=len(lock_blobs(locks)),
    )
    result = PullResult(fetched, up_to_date=plan.up_to_date)
    if dry_run:
        unavailable = {p.hash for p in fetched.missing}
        result.restored = [ref.path for ref in plan.files if ref.hash not in unavailable]
        result.removed = list(plan.extras)
        return result
    unavailable = {p.hash for p in fetched.missing + fetched.failed}
    corrupt: list[BlobRef] = []  # local blobs found corrupt while restoring: fetched again
    corrupt_hashes: set[str] = set()
    try:
        for rel in plan.folders:
            folder = project.abspath(rel)
            if folder.exists() and not folder.is_dir():
                folder.unlink()
            folder.mkdir(parents=True, exist_ok=True)
        for rel in plan.extras:
            with contextlib.suppress(FileNotFoundError):
                project.abspath(rel).unlink()
            result.removed.append(rel)
        for ref in plan.files:
            if ref.hash in unavailable:
                result.failed.append(_problem(ref, "not restored: its blob could not be fetched"))
                continue
            if ref.hash in corrupt_hashes:
                corrupt.append(ref)  # the same blob, already moved out of the way
                continue
            try:
                _restore(project, hasher, ref)
            except CacheCorruptError:
                corrupt.append(ref)
                corrupt_hashes.add(ref.hash)
                continue
            except (CacheError, OSError) as exc:
                result.failed.append(_problem(ref, f"not restored: {exc}"))
                continue
            result.restored.append(ref.path)
        if corrupt:
            _heal(project, hasher, corrupt, result, remote=remote, jobs=jobs)
    finally:
        hasher.flush()
    return result


def _restore(project: Project, hasher: ArtifactHasher, ref: BlobRef) -> None:
    """Write one workspace file from its (verified) cache blob and record its hash."""
    target = project.abspath(ref.path)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    project.cache.restore(ref.hash, target)
    hasher.record(target, ref.hash)


def _heal(
    project: Project,
    hasher: ArtifactHasher,
    refs: Sequence[BlobRef],
    result: PullResult,
    *,
    remote: str | None,
    jobs: int,
) -> None:
    """Fetch again the blobs found corrupt in the local cache while restoring (they were
    moved out of the way), then restore their files: one pull heals a damaged cache."""
    again = _fetch(
        project,
        {ref.hash: ref for ref in refs},
        remote=remote,
        jobs=jobs,
        dry_run=False,
        progress=None,
    )
    result.fetch.transferred.extend(again.transferred)
    result.fetch.missing.extend(again.missing)
    result.fetch.failed.extend(again.failed)
    unavailable = {p.hash for p in again.missing + again.failed}
    for ref in refs:
        if ref.hash in unavailable:
            result.failed.append(
                _problem(ref, "not restored: its cached blob was corrupt and could not be fetched")
            )
            continue
        try:
            _restore(project, hasher, ref)
        except (CacheError, OSError) as exc:
            result.failed.append(_problem(ref, f"not restored: {exc}"))
            continue
        result.restored.append(ref.path)


# -- status and verify -----------------------------------------------------------------------


def remote_status(
    project: Project,
    stages: Sequence[str] = (),
    remote_name: str | None = None,
    *,
    jobs: int = DEFAULT_JOBS,
    check_local: bool = True,
) -> list[RemoteStatusRow]:
    """One row per output of the selected locks (all if ``stages`` is empty), saying how
    many of its blobs are missing locally and on the remote.

    "Locally" means in the cache or as the workspace file with the locked hash. The remote
    is asked directly (the index of known hashes is refreshed, not trusted).
    """
    locks = select_locks(project, stages)
    refs = lock_blobs(locks)
    with _Session(project, remote_name, jobs) as session:
        on_remote = session.on_remote(set(refs)) if refs else set()
        session.index.add(on_remote)
        session.index.discard(set(refs) - on_remote)
    hasher = ArtifactHasher(project.root, project.state) if check_local else None
    rows: list[RemoteStatusRow] = []
    try:
        for lock in locks:
            for out in lock.outs:
                blob_refs = output_blobs(lock.stage, out)
                missing_local = None
                if hasher is not None:
                    missing_local = sum(
                        1 for ref in blob_refs if not _available_locally(project, hasher, ref)
                    )
                rows.append(
                    RemoteStatusRow(
                        stage=lock.stage,
                        path=out.path,
                        hash=out.hash,
                        blobs=len(blob_refs),
                        missing_local=missing_local,
                        missing_remote=sum(1 for ref in blob_refs if ref.hash not in on_remote),
                    )
                )
    finally:
        if hasher is not None:
            hasher.flush()
    return rows


def _available_locally(project: Project, hasher: ArtifactHasher, ref: BlobRef) -> bool:
    if project.cache.has(ref.hash):
        return True
    try:
        current = hasher.hash_path(normalize_path(ref.path, project.root))
    except (OSError, ProjectError):
        return False
    return current is not None and current.files is None and current.hash == ref.hash


def verify_remote(
    project: Project,
    stages: Sequence[str] = (),
    remote_name: str | None = None,
    *,
    jobs: int = DEFAULT_JOBS,
) -> list[RemoteStatusRow]:
    """The outputs with blobs missing on the remote (empty: everything is pushed)."""
    rows = remote_status(project, stages, remote_name, jobs=jobs, check_local=False)
    return [row for row in rows if row.missing_remote]


# -- helpers ----------------------------------------------------------------------------------


def _problem(ref: BlobRef, reason: str) -> BlobProblem:
    return BlobProblem(ref.hash, ref.stage, ref.path, reason)


def _reason(exc: Exception, location: RemoteLocation) -> str:
    """One line for a blob that failed: stores raise one-line RemoteErrors already."""
    if isinstance(exc, PivotError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}"
    first = str(exc).strip().splitlines()
    return f"{location.describe()} failed: {first[0] if first else type(exc).__name__}"


__all__ = [
    "DEFAULT_JOBS",
    "BlobProblem",
    "BlobRef",
    "PullResult",
    "RemoteError",
    "RemoteStatusRow",
    "TransferResult",
    "fetch",
    "iter_blobs",
    "lock_blobs",
    "output_blobs",
    "pull",
    "push",
    "remote_status",
    "select_locks",
    "verify_remote",
]
