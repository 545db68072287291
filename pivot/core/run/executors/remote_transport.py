"""Data by hash through the remote cache (S3 or a folder), for workers that do not see the
workspace.

With ``executor.transport: remote`` the coordinator and the workers share nothing but the
remote cache:

1. Before a stage is submitted, the coordinator makes sure every blob the stage reads (its
   deps, the previous version of its incremental outputs) is on the remote, uploading what is
   not (:meth:`RemoteStaging.stage_inputs`), and bundles the project's code
   (:func:`bundle_code`).
2. The worker writes the code and fetches the inputs by hash into a scratch folder, runs the
   stage there, uploads its outputs by hash and returns their hashes with the stage's log
   (:mod:`pivot.core.run.executors.remote_worker`).
3. The coordinator downloads the outputs into its cache and workspace
   (:meth:`RemoteStaging.collect_outputs`); the engine then writes the lock as for any stage.
   Workers never write lock files.

Every blob is checked against its hash on the way in, on both sides.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import xxhash

from pivot.core.remote import (
    BlobCorruptError,
    BlobMissingError,
    BlobStore,
    RemoteLocation,
    open_store,
)
from pivot.core.run.checkout import restore_record
from pivot.core.run.worker import StageOutcome, StageTask
from pivot.core.store.cache import Cache
from pivot.core.store.lock import OutRecord
from pivot.core.store.paths import NON_PROJECT_DIRS, PivotPaths
from pivot.exceptions import CodeBundleError, PivotError, RemoteError

#: Shipping more code than this with every task means the project should use a shared
#: filesystem (or keep its data out of ``*.py`` files).
MAX_BUNDLE_BYTES = 32 * 1024 * 1024
#: Parallel requests while staging inputs and collecting outputs.
TRANSFER_JOBS = 16

T = TypeVar("T")

_CODE_SUFFIXES = (".py",)
_CODE_NAMES = frozenset({"pivot.yaml", "pivot.yml", "params.yaml"})


@dataclasses.dataclass(frozen=True)
class CodeBundle:
    """The project's Python sources (and the files ``pipeline.py`` reads at import), by path."""

    digest: str
    files: tuple[tuple[str, bytes], ...]


@dataclasses.dataclass(frozen=True)
class RemoteResult:
    """What a worker sends back: the outcome, and the stage's whole log."""

    outcome: StageOutcome
    log: bytes


def bundle_code(root: Path) -> CodeBundle:
    """Every ``*.py`` file of the project, plus ``pivot.yaml`` (or ``.yml``) and ``params.yaml``.

    Hidden folders (``.git``, ``.pivot``, ``.venv``) and the folders that are never project
    code (``NON_PROJECT_DIRS``: virtualenvs, installed packages, bytecode) are left out, the
    same list the code fingerprint uses, so a worker gets every module the fingerprint hashed. The digest names the bundle, so a worker writes each version of the code once.
    """
    files: list[tuple[str, bytes]] = []
    total = 0
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(
            d for d in subfolders if not d.startswith(".") and d not in NON_PROJECT_DIRS
        )
        for name in sorted(names):
            if not (name.endswith(_CODE_SUFFIXES) or name in _CODE_NAMES):
                continue
            full = Path(folder, name)
            data = full.read_bytes()
            total += len(data)
            if total > MAX_BUNDLE_BYTES:
                raise CodeBundleError(
                    f"the project's code is over {MAX_BUNDLE_BYTES // 2**20} MiB; the remote "
                    "transport ships it with every task, so use `executor.transport: shared` "
                    "(the project on a shared filesystem) instead"
                )
            files.append((full.relative_to(root).as_posix(), data))
    digest = xxhash.xxh64()
    for rel, data in files:
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return CodeBundle(digest.hexdigest(), tuple(files))


def record_blobs(record: OutRecord) -> Iterator[tuple[str, str, int]]:
    """(path relative to the project, hash, size) of every blob of an output or dep."""
    if record.files is None:
        yield record.path, record.hash, record.size
        return
    for entry in record.files:
        yield f"{record.path}/{entry.path}", entry.hash, entry.size


class RemoteStaging:
    """The coordinator's side: inputs up to the remote before a stage, outputs down after."""

    def __init__(self, root: Path, location: RemoteLocation) -> None:
        self.root = root
        self.location = location
        self.cache = Cache(PivotPaths(root).cache)
        self._store: BlobStore | None = None
        self._known: set[str] = set()  # hashes seen on the remote during this session
        self._lock = threading.Lock()
        self._bundles: dict[str, CodeBundle] = {}

    @property
    def store(self) -> BlobStore:
        with self._lock:
            if self._store is None:
                store = open_store(self.location, jobs=TRANSFER_JOBS)
                try:
                    store.check()  # one clear line on a dead or misconfigured remote
                except BaseException:
                    store.close()
                    raise
                self._store = store
            return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def code(self, code_token: str) -> CodeBundle:
        """The code bundle, built once per version of the code the engine loaded."""
        bundle = self._bundles.get(code_token)
        if bundle is None:
            bundle = bundle_code(self.root)
            self._bundles = {code_token: bundle}
        return bundle

    def stage_inputs(self, task: StageTask) -> None:
        """Upload every blob the stage reads that the remote does not hold yet."""
        wanted: dict[str, Path] = {}
        for record in task.inputs:
            for rel, digest, _size in record_blobs(record):
                if digest not in self._known:
                    wanted.setdefault(digest, self.root / rel)
        if not wanted:
            return
        store = self.store

        def ensure(item: tuple[str, Path]) -> None:
            digest, source = item
            if store.exists(digest):
                return
            if self.cache.has(digest):
                source = self.cache.blob_path(digest)
            store.upload(source, digest, ignore_bytes)

        _run_all(ensure, wanted.items(), f"uploading the inputs of '{task.stage}'")
        with self._lock:
            self._known.update(wanted)

    def collect_outputs(self, outcome: StageOutcome) -> None:
        """Bring the outputs a worker uploaded into the local cache, then the workspace."""
        missing = {
            digest: size
            for record in outcome.outs
            for _rel, digest, size in record_blobs(record)
            if not self.cache.has(digest)
        }
        if missing:
            store = self.store

            def download(item: tuple[str, int]) -> None:
                digest, size = item
                self.cache.add_written(
                    digest,
                    functools.partial(store.download, digest, size, on_bytes=ignore_bytes),
                )

            _run_all(download, missing.items(), f"downloading the outputs of '{outcome.stage}'")
        with self._lock:
            self._known.update(d for r in outcome.outs for _p, d, _s in record_blobs(r))
        for record in outcome.outs:
            restore_record(self.cache, record, self.root / record.path, None)


def ignore_bytes(_count: int) -> None:
    """Transfers inside a stage report no byte progress (the stage's own events do)."""


def _run_all(work: Callable[[T], None], items: Iterable[T], what: str) -> None:
    """Run ``work`` over ``items`` in parallel; the first failure stops it with one line.

    A failure of the remote as a whole says what was being done; a missing or corrupt blob
    (whose message names it) and Pivot's own errors go through as they are.
    """
    with ThreadPoolExecutor(TRANSFER_JOBS, thread_name_prefix="pivot-stage-io") as pool:
        for future in [pool.submit(work, item) for item in items]:
            try:
                future.result()
            except (BlobCorruptError, BlobMissingError):
                raise
            except RemoteError as exc:
                raise RemoteError(f"{what}: {exc}") from exc
            except PivotError:
                raise
            except Exception as exc:
                raise RemoteError(f"{what}: {type(exc).__name__}: {exc}") from exc
