"""Typed events the engine emits while it works.

Every consumer (console, JSON lines, the TUI, tests) receives the same stream. ``to_dict``
gives the JSON-lines form: ``{"event": "<type>", ...fields}``; see docs/events.md.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable
from typing import Any

from pivot.core.run.terminal import strip_sgr


class StageStatus(enum.StrEnum):
    RAN = "ran"
    SKIPPED = "skipped"
    RESTORED = "restored"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """What one run did, per stage; :meth:`Engine.run` returns it and history records it."""

    run_id: str
    statuses: dict[str, StageStatus]
    reasons: dict[str, str]
    duration: float
    exit_code: int
    cancelled: str | None = None
    #: The largest peak resident memory of a worker that ran a stage (bytes; 0: none ran).
    worker_peak_rss: int = 0

    @property
    def counts(self) -> dict[str, int]:
        counts = {str(status): 0 for status in StageStatus}
        for status in self.statuses.values():
            counts[str(status)] += 1
        return counts


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    run_id: str
    time: float = dataclasses.field(default_factory=time.time)

    event_name = "event"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event": self.event_name}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            data[field.name] = list(value) if isinstance(value, tuple) else value
        return data


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    stages: tuple[str, ...]
    jobs: int
    dry_run: bool = False

    event_name = "run_started"


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageQueued(Event):
    stage: str
    reason: str
    #: What the planner found changed, as ``{"kind", "key", "old", "new", "change"}`` dicts
    #: (plain data, so the JSON-lines sink writes them as they are).
    changes: tuple[dict[str, Any], ...] = ()

    event_name = "stage_queued"


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageWaiting(Event):
    """A queued stage would start now but for a resource: ``reason`` says which, e.g.
    ``waiting for gpu (needs 1, 0 of 1 free)``. Sent again only when the reason changes."""

    stage: str
    reason: str
    #: One ``{"resource", "needs", "free", "capacity", "held_for"}`` dict per resource short
    #: (``held_for``: the earlier waiting stage the amount is kept for, or None).
    waiting_for: tuple[dict[str, Any], ...] = ()

    event_name = "stage_waiting"


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageStarted(Event):
    stage: str

    event_name = "stage_started"


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageLog(Event):
    """One finished line of a stage's output, as a terminal would show it in the end.

    ``line`` keeps the stage's SGR colour codes (and nothing else: ``\r`` frames are already
    resolved, other escapes dropped); ``to_dict`` gives it without them. ``stderr``: the stage
    wrote the line (or part of it) to ``sys.stderr``.
    """

    stage: str
    line: str
    stderr: bool = False

    event_name = "stage_log"

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["line"] = strip_sgr(self.line)
        return data


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageLogPending(Event):
    """The line a stage is writing now, without its newline yet (a progress bar).

    For live views: it replaces the stage's previous pending line, and the next
    :class:`StageLog` of the stage (the same line, finished) replaces it. Sent at most every
    0.1 s per stage, only when the line changed; the JSON-lines and console sinks skip it.
    """

    stage: str
    line: str
    stderr: bool = False

    event_name = "stage_log_pending"


@dataclasses.dataclass(frozen=True, kw_only=True)
class StageFinished(Event):
    stage: str
    status: StageStatus
    reason: str
    duration: float = 0.0
    error: str | None = None

    event_name = "stage_finished"

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["status"] = str(self.status)
        return data


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    counts: dict[str, int]
    duration: float
    exit_code: int
    cancelled: str | None = None  # "SIGINT" / "SIGTERM" / "request"

    event_name = "run_finished"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Message(Event):
    """A notice for the user that belongs to no stage (e.g. waiting for another run)."""

    level: str  # "info" | "warning" | "error"
    text: str

    event_name = "message"


@dataclasses.dataclass(frozen=True, kw_only=True)
class FilesChanged(Event):
    """Watch mode: a debounced batch of relevant file changes (paths relative to the root)."""

    paths: tuple[str, ...]
    restart: bool = False  # the change cancelled a run in progress

    event_name = "files_changed"


@dataclasses.dataclass(frozen=True, kw_only=True)
class WatchCycle(Event):
    """Watch mode: a new cycle starts; a run's events follow."""

    cycle: int
    trigger: tuple[str, ...]

    event_name = "watch_cycle"


EventSink = Callable[[Event], None]


def fan_out(*sinks: EventSink) -> EventSink:
    def emit(event: Event) -> None:
        for sink in sinks:
            sink(event)

    return emit
