"""Batch engine events on their way from the engine thread to the UI (no Textual here).

The engine calls its sink once per event, possibly tens of thousands of times a second when
stages print a lot. Posting each event as a UI message costs ~0.5 ms of UI work each, so the
sink below collects events and hands them over at most every ``interval`` seconds, as one list.
The UI also calls :meth:`EventBatcher.flush_if_due` from a timer, so events still arrive when
the engine goes quiet (a stage that runs silently for a minute).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pivot.core.run.events import Event

#: How often batched events reach the UI (seconds).
BATCH_INTERVAL = 0.05


class EventBatcher:
    """A thread-safe event sink that delivers events in batches, in order."""

    def __init__(
        self,
        deliver: Callable[[list[Event]], object],
        *,
        interval: float = BATCH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deliver = deliver
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[Event] = []
        self._last = clock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._pending.append(event)
            due = self._clock() - self._last >= self._interval
        if due:
            self.flush()

    def flush_if_due(self) -> None:
        with self._lock:
            due = bool(self._pending) and self._clock() - self._last >= self._interval
        if due:
            self.flush()

    def flush(self) -> None:
        # Delivering under the lock keeps batches in order across the two calling threads.
        with self._lock:
            batch, self._pending = self._pending, []
            self._last = self._clock()
            if batch:
                self._deliver(batch)
