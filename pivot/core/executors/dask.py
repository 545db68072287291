"""Run stages on a Dask cluster (``pip install 'pivot[dask]'``).

Scheduling stays Pivot's: the engine submits a stage only when its inputs are committed, so
Dask sees independent single tasks, never a graph. Each task runs
:func:`pivot.core.worker.execute_stage` on a worker, which must see the project at the same
path (a shared filesystem) or, with ``transport="remote"``, fetches deps from and pushes outputs
to the S3 remote by hash (see :mod:`pivot.core.executors.remote_transport`).

Before running, the worker fingerprints the stage's code as *it* sees it and refuses to run if
the manifest differs from the coordinator's, so a worker with stale or different code can
never produce a result that gets committed under the wrong code manifest.
"""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from concurrent.futures import Future
from typing import Any

from pivot.core.executors.base import Executor, WorkerLost
from pivot.core.worker import StageOutcome, StageTask, execute_stage
from pivot.exceptions import PivotError


class DaskExecutorError(PivotError):
    """The Dask cluster cannot be reached or used."""


def run_on_worker(task: StageTask) -> StageOutcome:
    """The function Dask runs: the same as a local worker, with the project code check."""
    return execute_stage(task)


class DaskExecutor(Executor):
    """Submits stages to a Dask cluster; starts a LocalCluster when no scheduler is given."""

    isolates_failures = True
    verifies_code = True

    def __init__(
        self, scheduler: str | None = None, jobs: int | None = None, *, local_workers: int = 2
    ) -> None:
        try:
            import distributed
        except ImportError:
            raise DaskExecutorError(
                "the Dask executor needs the 'distributed' package: pip install 'pivot[dask]'"
            ) from None
        self._cluster: Any = None
        try:
            if scheduler is None:
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

    @property
    def capacity(self) -> int:
        return self._jobs

    @property
    def client(self) -> Any:
        return self._client

    def submit(self, task: StageTask) -> Future[StageOutcome]:
        key = f"pivot-{task.stage}-{uuid.uuid4().hex[:8]}"
        dask_future = self._client.submit(run_on_worker, task, key=key, pure=False, retries=0)
        result: Future[StageOutcome] = concurrent.futures.Future()
        with self._lock:
            self._futures[key] = dask_future

        def relay(done: Any) -> None:
            with self._lock:
                self._futures.pop(key, None)
            if result.done():
                return
            try:
                result.set_result(done.result())
            except BaseException as exc:
                result.set_exception(_translate(exc))

        dask_future.add_done_callback(relay)
        return result

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
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _translate(exc: BaseException) -> BaseException:
    """Dask's ways of saying "the worker went away" become WorkerLost."""
    name = type(exc).__name__
    if name in ("KilledWorker", "FutureCancelledError", "CancelledError", "CommClosedError"):
        return WorkerLost(f"Dask worker lost while running the stage ({name}: {exc})")
    return exc
