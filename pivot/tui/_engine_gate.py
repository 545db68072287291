"""The one way app threads reach the engine.

The engine is driven exactly as the headless CLI drives it, but from several Textual thread
workers (load, plan, run, explain, params, outputs) and the watch session's run thread. It is
not meant to be used by two of them at once, so every call goes through :class:`EngineGate`:
one lock, taken with a timeout so a waiting worker notices it was cancelled, and closed for
good when the app quits.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from textual.worker import NoActiveWorker, get_current_worker

from pivot.exceptions import GateClosed

__all__ = ["EngineGate", "GateClosed"]

T = TypeVar("T")

#: How often a waiting worker checks whether it was cancelled (seconds).
_POLL = 0.1


class EngineGate:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` holding the engine; GateClosed if cancelled before it could start."""
        with self.held():
            return work()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the engine for a block (a run, one watch cycle).

        A Textual worker gives up (GateClosed) once it is cancelled or the gate is closed; the
        watch session's own thread just waits, and checks whether it was stopped once inside.
        """
        try:
            worker = get_current_worker()
        except NoActiveWorker:
            worker = None
        while True:
            if worker is not None and (self._closed.is_set() or worker.is_cancelled):
                raise GateClosed
            if self._lock.acquire(timeout=_POLL):
                break
        try:
            yield
        finally:
            self._lock.release()

    def close(self) -> None:
        """Refuse callers still waiting (the app is quitting); a call in progress finishes."""
        self._closed.set()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no one holds the engine (after the app has exited)."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
            return True
        return False
