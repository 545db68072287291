"""The default executor: a loky pool of warm worker processes on this machine."""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import Any

from pivot.core.executors.base import Executor
from pivot.core.worker import StageOutcome, StageTask, execute_stage

#: Keep idle workers warm this long (seconds) so a TUI or watch session reuses them.
IDLE_TIMEOUT = 600


def default_jobs() -> int:
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )


class LocalExecutor(Executor):
    """Stages run in a loky reusable pool; heavy imports stay loaded between stages."""

    def __init__(self, jobs: int | None = None) -> None:
        self._jobs = max(1, jobs or default_jobs())
        self._pool: Any = None

    @property
    def capacity(self) -> int:
        return self._jobs

    def _executor(self) -> Any:
        import loky

        if self._pool is None:
            self._pool = loky.get_reusable_executor(
                max_workers=self._jobs, timeout=IDLE_TIMEOUT, context="loky"
            )
        return self._pool

    def warm_up(self) -> None:
        """Start the worker processes now (e.g. before a Textual app owns stderr): loky only
        spawns them for a first task."""
        self._executor().submit(os.getpid).result()

    def submit(self, task: StageTask) -> Future[StageOutcome]:
        try:
            return self._executor().submit(execute_stage, task)
        except RuntimeError:
            # The pool broke (a worker died) or was shut down: start a fresh one.
            self._pool = None
            return self._executor().submit(execute_stage, task)

    def kill(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, kill_workers=True)
            self._pool = None

    def restart(self) -> None:
        self.kill()

    def close(self) -> None:
        self.kill()
