"""The server's one Engine: one run at a time, queries beside it.

A run happens in a thread of its own and emits events to the server. Queries (status,
explain, stage, params) run in the server's worker threads, one at a time under ``_lock``,
each with a planner of its own, so they keep answering while a run goes on. Between runs a
query first re-imports the pipeline when its code changed on disk, so an editor sees its
last save; during a run (or a watch cycle) nothing is re-imported, because the run is
using the loaded modules.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from pivot.core.pipeline.discovery import MATRIX_FILES, code_token
from pivot.core.run.engine import Engine, RunRequest
from pivot.core.run.events import Event, EventSink, Message
from pivot.core.serve._rpc import NOT_AVAILABLE, RUN_IN_PROGRESS
from pivot.exceptions import PivotError, RpcError, RunInProgressError

T = TypeVar("T")


class EngineHost:
    """Owns the engine for the server; ``emit`` receives every event of every run."""

    def __init__(self, engine: Engine, emit: EventSink, *, watch: bool = False) -> None:
        self.engine = engine
        self.emit = emit
        #: In watch mode the watch session decides when to run; `run` and `cancel` refuse.
        self.watch = watch
        self._lock = threading.Lock()
        self._busy = False
        self._loaded_as: tuple[str, float] | None = None
        self._state = threading.Lock()
        self._thread: threading.Thread | None = None
        self.run_id: str | None = None
        self._started: concurrent.futures.Future[str] | None = None

    # -- queries -------------------------------------------------------------------------------

    def _code_key(self) -> tuple[str, float]:
        matrix = 0
        for name in MATRIX_FILES:
            with contextlib.suppress(OSError):
                matrix += os.stat(self.engine.project.root / name).st_mtime_ns
        return code_token(self.engine.project.root), float(matrix)

    def _refresh(self) -> None:
        """Re-import the pipeline when never loaded, or its code changed since (lock held)."""
        if self.engine.graph is None or self._code_key() != self._loaded_as:
            self.engine.load(fresh=True)
            self._loaded_as = self._code_key()

    def query(self, work: Callable[[Engine], T]) -> T:
        """Run ``work`` with the engine; from a worker thread."""
        with self._lock:
            if not self._busy:
                self._refresh()
            elif self.engine.graph is None:  # a watch cycle is importing it for the first time
                raise RpcError(NOT_AVAILABLE, "the pipeline is being loaded; ask again shortly")
            return work(self.engine)

    @contextlib.contextmanager
    def cycle(self) -> Iterator[None]:
        """A watch cycle: queries stop re-importing while it runs."""
        with self._lock:
            self._busy = True
        try:
            yield
        finally:
            self._busy = False

    @contextlib.contextmanager
    def reloading(self) -> Iterator[None]:
        """A watch cycle re-imports the pipeline: no query may be using it meanwhile."""
        with self._lock:
            yield
            self._loaded_as = self._code_key()

    # -- runs ----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start_run(self, request: RunRequest) -> concurrent.futures.Future[str]:
        """Start ``request`` in a thread; the future gives its run id once it has one, or the
        error that stopped it before it started (unknown stage, another process's run)."""
        if self.watch:
            raise RpcError(NOT_AVAILABLE, "watch mode decides when to run; save a file instead")
        started: concurrent.futures.Future[str] = concurrent.futures.Future()
        with self._state:
            if self.running:
                raise RpcError(
                    RUN_IN_PROGRESS,
                    f"run {self.run_id} is in progress; cancel it or wait for its run_finished",
                    data={"run_id": self.run_id},
                )
            with self._lock:
                self._busy = True
                try:
                    self._refresh()
                except BaseException:
                    self._busy = False
                    raise
            self.run_id = None
            self._started = started
            self._thread = threading.Thread(
                target=self._run, args=(request, started), name="pivot-serve-run", daemon=True
            )
            self._thread.start()
        return started

    def _run(self, request: RunRequest, started: concurrent.futures.Future[str]) -> None:
        def emit(event: Event) -> None:
            if not started.done():
                self.run_id = event.run_id
                started.set_result(event.run_id)
            self.emit(event)

        try:
            self.engine.run(request, emit)
        except Exception as exc:  # PivotError, or a bug: the server goes on either way
            if started.done():
                self._report(exc)
            elif isinstance(exc, RunInProgressError):
                started.set_exception(RpcError(RUN_IN_PROGRESS, str(exc)))
            else:
                started.set_exception(exc)
        finally:
            self._busy = False
            if not started.done():
                started.set_exception(PivotError("the run ended before it started"))

    def _report(self, exc: BaseException) -> None:
        """A run that stopped with an error after it started: clients see it as a message."""
        text = str(exc) if isinstance(exc, PivotError) else f"{type(exc).__name__}: {exc}"
        self.emit(
            Message(run_id=self.run_id or "serve", level="error", text=f"run stopped: {text}")
        )

    def cancel(self, reason: str = "request") -> str | None:
        """Cancel the run in progress; its id (None when nothing was running)."""
        if self.watch:
            raise RpcError(NOT_AVAILABLE, "watch mode runs on its own; stop it to cancel")
        with self._state:
            if not self.running:
                return None
            started = self._started
        if started is not None:
            # A run cancels only once it has started (Engine.run clears earlier requests).
            with contextlib.suppress(Exception):
                started.result()
        self.engine.cancel(reason)
        return self.run_id

    def stop(self, reason: str) -> None:
        """Shutting down: cancel any run and wait for it to finish its bookkeeping."""
        with self._state:
            thread, started = self._thread, self._started
        if thread is None or not thread.is_alive():
            return
        if started is not None:
            with contextlib.suppress(Exception):
                started.result()
        self.engine.cancel(reason)
        thread.join()
