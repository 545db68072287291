"""What the app is doing, as one value: the top bar, the footer and Explain all read it.

The app holds an :class:`AppState` in a reactive; every change goes through one of the
transition methods below, which return a new state, so "running" and "watching" (or "broken"
and "idle") cannot disagree the way separate booleans could. No Textual here.
"""

from __future__ import annotations

import dataclasses
import enum


class AppPhase(enum.StrEnum):
    LOADING = "loading"  # the pipeline is being imported for the first time
    IDLE = "idle"  # the engine is free
    RUNNING = "running"  # a run owns the engine
    CANCELLING = "cancelling"  # a run was asked to stop and has not yet
    WATCHING = "watching"  # a watch session owns the engine (cycles run inside it)
    BROKEN = "broken"  # pipeline.py cannot be loaded; statuses are the last known ones
    QUITTING = "quitting"  # quit confirmed: the session is cancelled, then the app exits


#: Phases in which a run or watch session holds the engine.
_SESSION = frozenset({AppPhase.RUNNING, AppPhase.CANCELLING, AppPhase.WATCHING})


@dataclasses.dataclass(frozen=True)
class AppState:
    phase: AppPhase = AppPhase.LOADING
    #: Why the pipeline cannot be loaded (one line); set in BROKEN, and while watching a
    #: pipeline that broke (the session waits for the next save).
    error: str | None = None
    #: Watch cycles started in the current watch session.
    watch_cycle: int = 0
    #: QUITTING while a session still runs: exit once it has ended.
    session_active: bool = False

    # -- questions -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A run or watch session owns the engine."""
        return self.phase in _SESSION or (self.phase is AppPhase.QUITTING and self.session_active)

    @property
    def watching(self) -> bool:
        return self.phase is AppPhase.WATCHING

    @property
    def can_start(self) -> bool:
        """A run, a refresh or a watch session may start now."""
        return self.phase in (AppPhase.IDLE, AppPhase.BROKEN)

    @property
    def broken(self) -> bool:
        return self.error is not None

    # -- transitions ---------------------------------------------------------------------------

    def loaded(self) -> AppState:
        """The pipeline imported and planned."""
        if self.phase in (AppPhase.LOADING, AppPhase.BROKEN):
            return AppState(AppPhase.IDLE)
        return dataclasses.replace(self, error=None)

    def load_failed(self, error: str) -> AppState:
        line = error.strip().splitlines()[0] if error.strip() else "pipeline.py cannot be loaded"
        if self.phase in (AppPhase.LOADING, AppPhase.IDLE, AppPhase.BROKEN):
            return AppState(AppPhase.BROKEN, error=line)
        return dataclasses.replace(self, error=line)

    def run_started(self) -> AppState:
        return AppState(AppPhase.RUNNING, error=self.error)

    def watch_started(self) -> AppState:
        return AppState(AppPhase.WATCHING, error=self.error)

    def watch_cycle_started(self, cycle: int) -> AppState:
        return dataclasses.replace(self, watch_cycle=cycle)

    def cancel_requested(self) -> AppState:
        if self.phase is AppPhase.RUNNING:
            return dataclasses.replace(self, phase=AppPhase.CANCELLING)
        return self

    def quit_requested(self) -> AppState:
        return AppState(AppPhase.QUITTING, error=self.error, session_active=self.busy)

    def session_ended(self) -> AppState:
        """The run or watch session released the engine."""
        if self.phase is AppPhase.QUITTING:
            return dataclasses.replace(self, session_active=False)
        return AppState(AppPhase.BROKEN if self.error else AppPhase.IDLE, error=self.error)
