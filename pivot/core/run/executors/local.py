"""The default executor: a loky pool of warm worker processes on this machine."""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from pivot.core.run.executors.base import Executor
from pivot.core.run.jobs import JobsChoice, default_jobs
from pivot.core.run.worker import StageOutcome, StageTask, execute_stage, preload

#: Keep idle workers warm this long (seconds) so a TUI or watch session reuses them.
IDLE_TIMEOUT = 600
#: How long closing waits for workers still importing the pipeline for a preload.
PRELOAD_GRACE = 5
#: How often a worker checks that the pivot process that started it is still alive.
PARENT_POLL_SECONDS = 0.1


def exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker as soon as the pivot process that started it dies.

    Loky workers outlive a SIGKILLed parent: an orphan would finish its stage and write
    outputs no one will commit, racing the next run (and then idle for IDLE_TIMEOUT)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="pivot-parent-watch", daemon=True).start()


class LocalExecutor(Executor):
    """Stages run in a loky reusable pool; heavy imports stay loaded between stages."""

    def __init__(self, jobs: int | None = None, root: Path | None = None) -> None:
        """``jobs`` workers, or as many as the CPUs and memory allow (see run.jobs); ``root``
        is the project whose run history says how much memory its workers take."""
        choice = JobsChoice(jobs) if jobs else default_jobs(root)
        self._jobs = max(1, choice.jobs)
        self.jobs_note = choice.reason
        self._pool: Any = None
        #: Pipeline imports started by :meth:`preload`; waited for before workers are killed.
        self._preloads: list[Future[None]] = []

    @property
    def capacity(self) -> int:
        return self._jobs

    def _executor(self) -> Any:
        import loky

        if self._pool is None:
            self._pool = loky.get_reusable_executor(
                max_workers=self._jobs,
                timeout=IDLE_TIMEOUT,
                context="loky",
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def warm_up(self) -> None:
        """Start the worker processes now (e.g. before a Textual app owns stderr): loky only
        spawns them for a first task."""
        self._executor().submit(os.getpid).result()

    def preload(self, root: Path) -> None:
        try:
            pool = self._executor()
            self._preloads = [pool.submit(preload, str(root)) for _ in range(self._jobs)]
        except RuntimeError:  # a broken pool: submit() starts a fresh one for the stages
            self._pool = None

    def submit(self, task: StageTask) -> Future[StageOutcome]:
        try:
            return self._executor().submit(execute_stage, task)
        except RuntimeError:
            # The pool broke (a worker died) or was shut down: start a fresh one.
            self._pool = None
            return self._executor().submit(execute_stage, task)

    def kill(self) -> None:
        # A worker killed in the middle of an import may leave loky's resource tracker
        # warning about semaphores on stderr: give pending preloads a moment to finish (a
        # broken pipeline.py fails in the workers as fast as in this process).
        pending = [future for future in self._preloads if not future.done()]
        self._preloads = []
        if pending:
            concurrent.futures.wait(pending, timeout=PRELOAD_GRACE)
        if self._pool is not None:
            self._pool.shutdown(wait=True, kill_workers=True)
            self._pool = None

    def restart(self) -> None:
        self.kill()

    def close(self) -> None:
        self.kill()
