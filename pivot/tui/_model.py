"""What the app knows about each stage, updated from engine events and plans.

UI-free on purpose: the app feeds it :mod:`pivot.core.run.events` in batches and
:class:`~pivot.core.run.planner.Decision` lists, and asks it what to draw. Tests drive it directly.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
from collections.abc import Iterable, Sequence

from pivot.core.pipeline.graph import StageGraph
from pivot.core.run.events import (
    Event,
    Message,
    RunFinished,
    RunStarted,
    StageFinished,
    StageLog,
    StageLogPending,
    StageQueued,
    StageStarted,
    StageStatus,
    StageWaiting,
)
from pivot.core.run.planner import Action, Change, Decision
from pivot.tui._log_lines import LogEntry, entry_from_event

#: Lines of log kept per stage; older lines are dropped (the full log stays on disk).
MAX_LOG_LINES = 200_000


class Phase(enum.StrEnum):
    """What the stage pane shows for a stage."""

    UNKNOWN = "unknown"  # not planned yet
    FRESH = "up to date"
    STALE = "stale"
    ERROR = "error"
    PENDING = "pending"  # in the active run, waiting on upstream
    QUEUED = "queued"
    WAITING = "waiting"  # queued, and would start but for a resource (StageWaiting)
    RUNNING = "running"
    RAN = "ran"
    SKIPPED = "skipped"
    RESTORED = "restored"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


#: Symbol and theme colour name (see ``_styles``) for each phase.
PHASE_STYLE: dict[Phase, tuple[str, str]] = {
    Phase.UNKNOWN: ("?", "muted"),
    Phase.FRESH: ("✓", "muted"),
    Phase.STALE: ("○", "warning"),
    Phase.ERROR: ("✗", "error"),
    Phase.PENDING: ("·", "muted"),
    Phase.QUEUED: ("…", "accent"),
    Phase.WAITING: ("⧗", "waiting"),
    Phase.RUNNING: ("▶", "accent"),
    Phase.RAN: ("✓", "success"),
    Phase.SKIPPED: ("✓", "muted"),
    Phase.RESTORED: ("↺", "success"),
    Phase.FAILED: ("✗", "error"),
    Phase.BLOCKED: ("-", "warning"),
    Phase.CANCELLED: ("!", "warning"),
}

_STATUS_PHASE = {
    StageStatus.RAN: Phase.RAN,
    StageStatus.SKIPPED: Phase.SKIPPED,
    StageStatus.RESTORED: Phase.RESTORED,
    StageStatus.FAILED: Phase.FAILED,
    StageStatus.BLOCKED: Phase.BLOCKED,
    StageStatus.CANCELLED: Phase.CANCELLED,
}

_BAD = {Phase.FAILED, Phase.BLOCKED, Phase.CANCELLED}
#: Live phases of a stage whose part in the current run is over.
_DONE = {Phase.RAN, Phase.SKIPPED, Phase.RESTORED, *_BAD}


@dataclasses.dataclass(frozen=True)
class RunProgress:
    """How far the active run is: stages done of total, seconds elapsed, and an estimate."""

    done: int
    total: int
    running: int
    failed: int
    #: Stages that would start but for a resource.
    waiting: int
    elapsed: float
    #: Seconds left, from the pace so far; None until a stage has finished.
    eta: float | None


class LogBuffer:
    """The captured output of one stage's latest run, capped at ``limit`` lines.

    The last line may be ``partial`` (a progress bar being redrawn): whatever comes next
    replaces it.
    """

    def __init__(self, limit: int = MAX_LOG_LINES) -> None:
        self.lines: collections.deque[LogEntry] = collections.deque(maxlen=limit)
        self.dropped = 0

    def extend(self, lines: Sequence[LogEntry]) -> None:
        if lines and self.lines and self.lines[-1].partial:
            self.lines.pop()
        overflow = len(self.lines) + len(lines) - (self.lines.maxlen or 0)
        if overflow > 0:
            self.dropped += overflow
        self.lines.extend(lines)

    def clear(self) -> None:
        self.lines.clear()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self.lines)


@dataclasses.dataclass
class StageState:
    name: str
    decision: Decision | None = None
    #: Status in the latest run that included the stage (None: not run in this session).
    run_status: Phase | None = None
    run_reason: str = ""
    #: Live phase while a run is active.
    live: Phase | None = None
    started: float | None = None
    duration: float | None = None
    error: str | None = None
    #: The decision the stage was run with (kept so Explain can say why it ran).
    ran_because: Decision | None = None
    #: Why the run ran it, as the run said when queueing it ("forced", "code changed: …"),
    #: and the changes the run's planner found (code keys give Explain its diffs).
    ran_reason: str | None = None
    ran_changes: tuple[Change, ...] = ()
    queued_changes: tuple[Change, ...] = ()
    #: While the stage waits for a resource: why (``waiting for gpu (needs 1, 0 of 1 free)``)
    #: and the short form the stage list draws (``waiting for gpu``).
    waiting_reason: str | None = None
    waiting_label: str | None = None
    log: LogBuffer = dataclasses.field(default_factory=LogBuffer)

    @property
    def phase(self) -> Phase:
        if self.live is not None:
            return self.live
        planned = self.decision.action if self.decision is not None else None
        if planned is Action.ERROR:
            return Phase.ERROR
        if self.run_status in _BAD and planned is not Action.SKIP:
            return self.run_status
        if planned is Action.RUN:
            return Phase.STALE
        if planned in (Action.SKIP, Action.RESTORE):
            if self.run_status in (Phase.RAN, Phase.RESTORED):
                return self.run_status
            return Phase.FRESH
        return self.run_status or Phase.UNKNOWN

    @property
    def reason(self) -> str:
        if self.live is Phase.WAITING and self.waiting_reason:
            return self.waiting_reason
        if self.live is not None or (self.run_status in _BAD and self.run_reason):
            return self.run_reason
        if self.decision is not None:
            return self.decision.reason
        return self.run_reason

    def elapsed(self, now: float) -> float | None:
        if self.live is Phase.RUNNING and self.started is not None:
            return max(0.0, now - self.started)
        return self.duration


@dataclasses.dataclass
class Changes:
    """What one batch of events changed, so the app redraws only that."""

    stages: set[str] = dataclasses.field(default_factory=set)
    #: New log lines per stage; a ``partial`` last line replaces the stage's partial line.
    logs: dict[str, list[LogEntry]] = dataclasses.field(default_factory=dict)
    #: Stages whose log was reset (a new run of the stage started).
    cleared: set[str] = dataclasses.field(default_factory=set)
    run_started: bool = False
    run_finished: RunFinished | None = None
    messages: list[Message] = dataclasses.field(default_factory=list)


class PipelineModel:
    """Stages in run order, their graph, and their live state."""

    def __init__(self, graph: StageGraph) -> None:
        self.graph = graph
        self.order: tuple[str, ...] = graph.order
        self.stages: dict[str, StageState] = {name: StageState(name) for name in graph.order}
        self.run_id: str | None = None
        self.run_stages: tuple[str, ...] = ()
        self.last_run: RunFinished | None = None
        self.run_started_at: float | None = None
        self.planned = False

    # -- updates -------------------------------------------------------------------------------

    def rebuild(self, graph: StageGraph) -> None:
        """Adopt a reloaded graph, keeping what is known about stages that still exist."""
        old = self.stages
        self.graph = graph
        self.order = graph.order
        self.stages = {name: old.get(name) or StageState(name) for name in graph.order}

    def apply_plan(self, decisions: Iterable[Decision]) -> set[str]:
        changed = set()
        for decision in decisions:
            state = self.stages.get(decision.stage)
            if state is not None:
                state.decision = decision
                changed.add(decision.stage)
        self.planned = True
        return changed

    @property
    def running(self) -> bool:
        return self.run_id is not None

    def apply(self, events: Iterable[Event]) -> Changes:
        changes = Changes()
        for event in events:
            if isinstance(event, StageLog | StageLogPending):
                if event.stage in self.stages:
                    added = changes.logs.setdefault(event.stage, [])
                    if added and added[-1].partial:
                        added.pop()
                    added.append(entry_from_event(event))
                continue
            if isinstance(event, RunStarted):
                self._run_started(event, changes)
            elif isinstance(event, StageQueued):
                self._set_live(event.stage, Phase.QUEUED, event.reason, changes)
                if event.stage in self.stages:
                    self.stages[event.stage].queued_changes = tuple(
                        Change(**record) for record in event.changes
                    )
            elif isinstance(event, StageWaiting):
                state = self.stages.get(event.stage)
                if state is not None:
                    state.live = Phase.WAITING
                    state.waiting_reason = event.reason
                    names = ", ".join(str(w.get("resource")) for w in event.waiting_for)
                    state.waiting_label = f"waiting for {names}" if names else "waiting"
                    changes.stages.add(event.stage)
            elif isinstance(event, StageStarted):
                state = self.stages.get(event.stage)
                if state is not None:
                    state.waiting_reason = state.waiting_label = None
                    state.live = Phase.RUNNING
                    state.started = event.time
                    state.duration = None
                    state.error = None
                    state.ran_because = state.decision
                    state.ran_reason = state.run_reason or None
                    state.ran_changes = state.queued_changes
                    state.log.clear()
                    changes.cleared.add(event.stage)
                    changes.logs.pop(event.stage, None)
                    changes.stages.add(event.stage)
            elif isinstance(event, StageFinished):
                self._finished(event, changes)
            elif isinstance(event, RunFinished):
                if event.run_id == self.run_id:
                    for name in self.run_stages:
                        state = self.stages.get(name)
                        if state is not None and state.live is not None:
                            state.live = None
                            changes.stages.add(name)
                    self.run_id = None
                    self.last_run = event
                    changes.run_finished = event
            elif isinstance(event, Message):
                changes.messages.append(event)
        for name, lines in changes.logs.items():
            self.stages[name].log.extend(lines)
        return changes

    def _run_started(self, event: RunStarted, changes: Changes) -> None:
        self.run_id = event.run_id
        self.run_stages = event.stages
        self.run_started_at = event.time
        changes.run_started = True
        for name in event.stages:
            state = self.stages.get(name)
            if state is not None:
                state.live = Phase.PENDING
                changes.stages.add(name)

    def _set_live(self, name: str, phase: Phase, reason: str, changes: Changes) -> None:
        state = self.stages.get(name)
        if state is None:
            return
        state.live = phase
        state.run_reason = reason
        changes.stages.add(name)

    def _finished(self, event: StageFinished, changes: Changes) -> None:
        state = self.stages.get(event.stage)
        if state is None:
            return
        phase = _STATUS_PHASE[event.status]
        state.waiting_reason = state.waiting_label = None
        state.live = phase if self.run_id is not None else None
        state.run_status = phase
        state.run_reason = event.reason
        state.error = event.error
        if event.status in (StageStatus.RAN, StageStatus.FAILED, StageStatus.CANCELLED):
            state.duration = event.duration
        if event.status is StageStatus.RAN and state.ran_because is None:
            state.ran_because = state.decision
        changes.stages.add(event.stage)

    # -- queries -------------------------------------------------------------------------------

    def filtered(self, query: str) -> list[str]:
        """Stages whose name (or status) contains every word of ``query``, in run order,
        grouped by pipeline when there are several (``demo/`` matches one pipeline)."""
        from pivot.core.pipeline.selection import grouped

        words = query.lower().split()
        if not words:
            return [name for _, members in grouped(self.order) for name in members]
        result = []
        for name in self.order:
            haystack = f"{name.lower()} {self.stages[name].phase}"
            if all(word in haystack for word in words):
                result.append(name)
        return [name for _, members in grouped(result) for name in members]

    def counts(self) -> dict[Phase, int]:
        counts: dict[Phase, int] = {}
        for state in self.stages.values():
            counts[state.phase] = counts.get(state.phase, 0) + 1
        return counts

    def progress(self, now: float) -> RunProgress | None:
        """The active run's progress (None when no run is active)."""
        if self.run_id is None:
            return None
        phases = [self.stages[n].phase for n in self.run_stages if n in self.stages]
        done = sum(1 for phase in phases if phase in _DONE)
        elapsed = max(0.0, now - (self.run_started_at or now))
        eta = elapsed * (len(phases) - done) / done if done else None
        return RunProgress(
            done=done,
            total=len(phases),
            running=sum(1 for phase in phases if phase is Phase.RUNNING),
            waiting=sum(1 for phase in phases if phase is Phase.WAITING),
            failed=sum(1 for phase in phases if phase is Phase.FAILED),
            elapsed=elapsed,
            eta=eta,
        )

    def failed_stages(self) -> list[str]:
        """Stages that failed in their latest run, in run order."""
        return [n for n in self.order if self.stages[n].run_status is Phase.FAILED]

    def summary(self) -> str:
        """Where the pipeline stands when no run is active, e.g. ``12 stages · 3 stale``.

        A stage the planner would run counts as stale whatever happened to it last (failed,
        blocked, cancelled), so a cancelled run's leftovers are never hidden; failures of the
        latest run are listed beside it.
        """
        parts = [f"{len(self.order)} stage{'' if len(self.order) == 1 else 's'}"]
        if not self.planned:
            parts.append("checking…")
            return " · ".join(parts)
        stale = errors = unknown = 0
        for state in self.stages.values():
            action = state.decision.action if state.decision is not None else None
            if action is Action.RUN:
                stale += 1
            elif action is Action.ERROR:
                errors += 1
            elif action is None:
                unknown += 1
        failed = sum(1 for state in self.stages.values() if state.phase is Phase.FAILED)
        blocked = sum(1 for state in self.stages.values() if state.phase is Phase.BLOCKED)
        if stale:
            parts.append(f"{stale} stale")
        if errors:
            parts.append(f"{errors} cannot be planned")
        if failed:
            parts.append(f"{failed} failed")
        if blocked:
            parts.append(f"{blocked} blocked")
        if not (stale or errors or unknown):
            parts.append("all up to date")
        return " · ".join(parts)
