"""The worker's side of the remote transport (see :mod:`.remote_transport`).

A worker keeps, under its scratch folder (``$PIVOT_WORKER_SCRATCH``, else
``<tmp>/pivot-worker-<uid>``):

- ``code/<digest>/``: each version of the project code it was sent, written once;
- ``cache/``: blobs it fetched or produced, so a later stage on the same worker reads them
  without a download (remove it to reclaim space; it is only a cache);
- ``runs/<stage>-<random>/``: one stage's working folder, removed when the stage ends.

While the stage runs, new lines of its log are sent to the coordinator as Dask worker events
(topic :data:`LOG_TOPIC`); the whole log also comes back with the result, so nothing is lost
if an event is late.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pivot.core.remote import BlobStore, RemoteLocation, open_store
from pivot.core.run.executors.remote_transport import (
    CodeBundle,
    RemoteResult,
    ignore_bytes,
    record_blobs,
)
from pivot.core.run.worker import StageOutcome, StageTask, Workspace, execute_stage
from pivot.core.store.cache import Cache

#: The Dask event topic carrying stage log chunks: ``{"key", "offset", "data"}``.
LOG_TOPIC = "pivot-stage-log"
_LOG_POLL_SECONDS = 0.2

_stores: dict[RemoteLocation, BlobStore] = {}


def scratch_root() -> Path:
    configured = os.environ.get("PIVOT_WORKER_SCRATCH")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"pivot-worker-{os.getuid()}"


def run_remote_stage(
    task: StageTask, location: RemoteLocation, bundle: CodeBundle, log_key: str
) -> RemoteResult:
    """Fetch the stage's inputs by hash, run it in a scratch folder, upload its outputs."""
    started = time.perf_counter()
    scratch = scratch_root()
    cache = Cache(scratch / "cache")
    runs = scratch / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix=f"{task.stage}-", dir=runs))
    log = data.with_name(f"{data.name}.log")
    try:
        try:
            code = _materialize(bundle, scratch / "code")
            store = _store(location)
            _fetch_inputs(task, store, cache, data)
        except Exception as exc:
            return _failed(task, started, f"could not fetch the stage's inputs: {exc}", log)
        with _streamed(log, log_key):
            outcome = execute_stage(task, Workspace(code, data, cache, log, cache_everything=True))
        if outcome.ok:
            try:
                _upload_outputs(outcome, store, cache)
            except Exception as exc:
                return _failed(task, started, f"could not upload the stage's outputs: {exc}", log)
        return RemoteResult(outcome, _read(log))
    finally:
        os.chdir(scratch)  # the stage ran inside `data`
        shutil.rmtree(data, ignore_errors=True)
        log.unlink(missing_ok=True)


def _failed(task: StageTask, started: float, error: str, log: Path) -> RemoteResult:
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(error + "\n")
    outcome = StageOutcome(
        task.stage, False, (), time.perf_counter() - started, error + "\n", os.getpid()
    )
    return RemoteResult(outcome, _read(log))


def _read(log: Path) -> bytes:
    try:
        return log.read_bytes()
    except FileNotFoundError:
        return b""


def _store(location: RemoteLocation) -> BlobStore:
    """One store per remote per worker process: boto3 clients are slow to build."""
    store = _stores.get(location)
    if store is None:
        store = _stores[location] = open_store(location)
    return store


def _materialize(bundle: CodeBundle, base: Path) -> Path:
    """The bundle's files on disk, written once per digest (atomically, as a whole folder)."""
    target = base / bundle.digest
    if target.is_dir():
        return target
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle.digest}-", dir=base))
    for rel, data in bundle.files:
        path = _inside(staging, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    try:
        staging.rename(target)
    except OSError:  # another worker process on this machine wrote it first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _inside(folder: Path, rel: str) -> Path:
    """``folder/rel``, refusing paths that would leave ``folder``."""
    path = (folder / rel).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ValueError(f"path {rel!r} leaves the stage's folder")
    return path


def _fetch_inputs(task: StageTask, store: BlobStore, cache: Cache, data: Path) -> None:
    for record in task.inputs:
        for rel, digest, size in record_blobs(record):
            if not cache.has(digest):
                cache.add_written(
                    digest,
                    functools.partial(store.download, digest, size, on_bytes=ignore_bytes),
                )
            cache.restore(digest, _inside(data, rel))


def _upload_outputs(outcome: StageOutcome, store: BlobStore, cache: Cache) -> None:
    for record in outcome.outs:
        for _rel, digest, _size in record_blobs(record):
            store.upload(cache.blob_path(digest), digest, ignore_bytes)


@contextlib.contextmanager
def _streamed(log: Path, key: str) -> Iterator[None]:
    """Send what the stage appends to ``log`` to the coordinator while it runs."""
    worker = _dask_worker()
    if worker is None:
        yield
        return
    stop = threading.Event()
    offset = 0

    def send() -> None:
        nonlocal offset
        with contextlib.suppress(FileNotFoundError):
            with open(log, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            if chunk:
                worker.log_event(LOG_TOPIC, {"key": key, "offset": offset, "data": chunk})
                offset += len(chunk)

    def pump() -> None:
        while not stop.wait(_LOG_POLL_SECONDS):
            send()

    thread = threading.Thread(target=pump, name="pivot-log-stream", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        send()


def _dask_worker() -> Any:
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None
