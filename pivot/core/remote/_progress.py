"""Progress of a transfer, as typed snapshots handed to a callback.

The transfer code never prints. It calls a :data:`ProgressCallback` with a
:class:`TransferProgress` whenever the numbers move (byte updates are throttled to ten a
second; phase changes and finished files always go through). The CLI draws the snapshots
with :class:`pivot.render.progress.ConsoleProgress`; the TUI can post them as messages.
Callbacks run on worker threads, one at a time, and must return quickly. Nothing here
draws: core stays free of rich.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import time
from collections.abc import Callable


class Direction(enum.StrEnum):
    PUSH = "push"
    FETCH = "fetch"


class Phase(enum.StrEnum):
    CHECKING = "checking"  # asking the remote which blobs it has
    TRANSFERRING = "transferring"
    DONE = "done"


@dataclasses.dataclass(frozen=True)
class TransferProgress:
    """Where one push or fetch stands."""

    direction: Direction
    phase: Phase
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    failed: int = 0
    current: str | None = None  # workspace path of the file that finished last

    def to_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["direction"] = str(self.direction)
        data["phase"] = str(self.phase)
        return data


ProgressCallback = Callable[[TransferProgress], None]

_THROTTLE = 0.1


class ProgressTracker:
    """Thread-safe counters that turn into snapshots for a callback."""

    def __init__(self, direction: Direction, callback: ProgressCallback | None) -> None:
        self.direction = direction
        self.callback = callback
        self.phase = Phase.CHECKING
        self.files_done = 0
        self.files_total = 0
        self.bytes_done = 0
        self.bytes_total = 0
        self.failed = 0
        self.current: str | None = None
        self._lock = threading.Lock()
        self._last = 0.0

    def _emit(self, *, force: bool) -> None:
        # called with the lock held
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self._last < _THROTTLE:
            return
        self._last = now
        self.callback(
            TransferProgress(
                self.direction,
                self.phase,
                self.files_done,
                self.files_total,
                self.bytes_done,
                self.bytes_total,
                self.failed,
                self.current,
            )
        )

    def start(self, files: int, size: int) -> None:
        with self._lock:
            self.phase = Phase.TRANSFERRING
            self.files_total, self.bytes_total = files, size
            self._emit(force=True)

    def add_bytes(self, count: int) -> None:
        with self._lock:
            self.bytes_done += count
            self._emit(force=False)

    def file_done(self, path: str, *, failed: bool = False) -> None:
        with self._lock:
            self.files_done += 1
            self.failed += failed
            self.current = path
            self._emit(force=True)

    def finish(self) -> None:
        with self._lock:
            self.phase = Phase.DONE
            self._emit(force=True)
