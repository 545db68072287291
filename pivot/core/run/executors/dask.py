"""Run stages on a Dask cluster (``pip install 'pivot[dask]'``).

Scheduling stays Pivot's: the engine submits a stage only when its inputs are committed, so
Dask sees independent single tasks, never a graph. Each task runs
:func:`pivot.core.run.worker.execute_stage` on a worker, which must see the project at the same
path (a shared filesystem) or, with ``transport="remote"``, fetches deps from and pushes outputs
to the remote cache (S3 or a folder) by hash (see
:mod:`pivot.core.run.executors.remote_transport`).

Before running, the worker fingerprints the stage's code as *it* sees it and refuses to run if
the manifest differs from the coordinator's, so a worker with stale or different code can
never produce a result that gets committed under the wrong code manifest.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from pivot.core.remote import RemoteLocation
from pivot.core.run.executors.base import Executor
from pivot.core.run.executors.remote_transport import RemoteResult, RemoteStaging
from pivot.core.run.worker import StageOutcome, StageTask, execute_stage
from pivot.exceptions import DaskExecutorError, PivotError, WorkerLost


def run_on_worker(task: StageTask) -> StageOutcome:
    """The function Dask runs: the same as a local worker, with the project code check."""
    return execute_stage(task)


@dataclasses.dataclass
class _LogRelay:
    """Where a remote stage's log chunks go on this machine, and how much has arrived."""

    path: Path
    written: int = 0

    def write(self, offset: int, data: bytes) -> None:
        if offset != self.written or not data:  # a chunk already written, or out of order
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as handle:
            handle.write(data)
        self.written += len(data)

    def finish(self, log: bytes) -> None:
        self.write(self.written, log[self.written :])


class DaskExecutor(Executor):
    """Submits stages to a Dask cluster; starts a LocalCluster when no scheduler is given."""

    isolates_failures = True
    verifies_code = True

    def __init__(
        self,
        scheduler: str | None = None,
        jobs: int | None = None,
        *,
        local_workers: int = 2,
        remote: tuple[Path, RemoteLocation] | None = None,
    ) -> None:
        """``remote`` = (project root, remote): workers reach data through that remote
        (``executor.transport: remote``) instead of the project folder."""
        try:
            import distributed
        except ImportError:
            raise DaskExecutorError(
                "the Dask executor needs the 'distributed' package: pip install 'pivot[dask]'"
            ) from None
        self._cluster: Any = None
        try:
            if scheduler is None:
                import dask

                # Dask re-runs a task whose worker died (3 times by default). A stage that
                # appended to an incremental output before its worker died would append
                # again on top of that, and the doubled history would be committed: a lost
                # worker fails its stage instead, as with the local pool.
                with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                    self._cluster = distributed.LocalCluster(
                        n_workers=local_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=40,
                    )
                self._client = distributed.Client(self._cluster)
            else:
                self._client = distributed.Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise DaskExecutorError(
                f"cannot reach the Dask scheduler at {scheduler}: {exc}; check the address and "
                "that the scheduler is running"
            ) from None
        threads = sum(self._client.nthreads().values()) or 1
        self._jobs = min(jobs, threads) if jobs else threads
        self._futures: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._staging = RemoteStaging(*remote) if remote is not None else None
        self._logs: dict[str, _LogRelay] = {}
        self.ships_data = self._staging is not None
        if self._staging is not None:
            from pivot.core.run.executors.remote_worker import LOG_TOPIC

            self._client.subscribe_topic(LOG_TOPIC, self._on_log_event)

    @property
    def capacity(self) -> int:
        return self._jobs

    @property
    def client(self) -> Any:
        return self._client

    def submit(self, task: StageTask) -> Future[StageOutcome]:
        key = f"pivot-{task.stage}-{uuid.uuid4().hex[:8]}"
        result: Future[StageOutcome] = concurrent.futures.Future()
        staging = self._staging
        dask_future: Any
        if staging is None:
            dask_future = self._client.submit(run_on_worker, task, key=key, pure=False, retries=0)
        else:
            from pivot.core.run.executors.remote_worker import run_remote_stage

            try:
                staging.stage_inputs(task)
                bundle = staging.code(task.code_token)
            except PivotError as exc:
                result.set_exception(exc)
                return result
            with self._lock:
                self._logs[key] = _LogRelay(Path(task.log_path))
            dask_future = self._client.submit(
                run_remote_stage,
                task,
                staging.location,
                bundle,
                key,
                key=key,
                pure=False,
                retries=0,
            )
        with self._lock:
            self._futures[key] = dask_future

        def relay(done: Any) -> None:
            with self._lock:
                self._futures.pop(key, None)
                log = self._logs.pop(key, None)
            if result.done():
                return
            try:
                value = done.result()
                if isinstance(value, RemoteResult):
                    assert staging is not None and log is not None
                    log.finish(value.log)
                    value = value.outcome
                    if value.ok:
                        staging.collect_outputs(value)
                result.set_result(value)
            except BaseException as exc:
                result.set_exception(_translate(exc))

        dask_future.add_done_callback(relay)
        return result

    def _on_log_event(self, event: Any) -> None:
        """A chunk of a remote stage's log (``(time, message)`` from the Dask client)."""
        message = event[1] if isinstance(event, tuple) else event
        with self._lock:
            relay = self._logs.get(message.get("key", ""))
            if relay is not None:
                relay.write(message["offset"], message["data"])

    def kill(self) -> None:
        with self._lock:
            futures = list(self._futures.values())
            self._futures.clear()
        if futures:
            self._client.cancel(futures, force=True)

    def restart(self) -> None:
        self.kill()
        self._client.restart()

    def close(self) -> None:
        self.kill()
        if self._staging is not None:
            self._staging.close()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _translate(exc: BaseException) -> BaseException:
    """Dask's ways of saying "the worker went away" become WorkerLost."""
    name = type(exc).__name__
    if name in ("KilledWorker", "FutureCancelledError", "CancelledError", "CommClosedError"):
        return WorkerLost(f"Dask worker lost while running the stage ({name}: {exc})")
    return exc
