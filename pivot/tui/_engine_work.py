"""The app's engine jobs: load, plan, run, watch and source lookup, each in a thread worker.

Every job holds the engine through the app's :class:`EngineGate` and reports back with the
typed messages of :mod:`pivot.tui._messages`; nothing here touches a widget. The engine is
driven exactly as the headless CLI drives it (``Engine.load``/``plan``/``run``), so what the
app does leaves the project as ``pivot --no-tui run`` would.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from textual.app import App

from pivot.core.run.engine import Engine, RunRequest
from pivot.tui._batch import EventBatcher
from pivot.tui._detail_pane import describe
from pivot.tui._editor import stage_source
from pivot.tui._engine_gate import EngineGate, GateClosed
from pivot.tui._messages import (
    EngineFailed,
    PipelineLoaded,
    PlanReady,
    RunDone,
    SourceFound,
    WatchEnded,
)

if TYPE_CHECKING:
    from pivot.core.pipeline.discovery import PipelineDefinition
    from pivot.core.run.watch import WatchSession

__all__ = ["EngineWork"]


class EngineWork:
    """Starts engine jobs as Textual thread workers of ``app``; results arrive as messages."""

    def __init__(self, app: App[Any], engine: Engine, gate: EngineGate) -> None:
        self._app = app
        self.engine = engine
        self.gate = gate
        self._generation_lock = threading.Lock()
        #: Bumped by every plan; a PlanReady of an older plan is stale.
        self.plan_generation = 0
        self._watch: WatchSession | None = None
        self._watch_stop = threading.Event()

    def _post(self, message: Any) -> None:
        self._app.post_message(message)

    # -- planning ------------------------------------------------------------------------------

    def _next_generation(self) -> int:
        with self._generation_lock:
            self.plan_generation += 1
            return self.plan_generation

    def _plan_now(self, *, fresh: bool) -> None:
        """Plan every stage (holding the engine); a load failure is reported as such."""
        generation = self._next_generation()
        try:
            _, graph = self.engine.load(fresh=fresh)
        except Exception as exc:
            self._post(EngineFailed("load", describe(exc)))
            return
        try:
            decisions = self.engine.plan()
        except Exception as exc:
            self._post(EngineFailed("status", describe(exc)))
            return
        self._post(PlanReady(decisions, generation, graph))

    def plan(self, *, fresh: bool) -> None:
        """Load (re-importing pipeline.py when ``fresh``) and plan every stage."""

        def job() -> None:
            try:
                self.gate.call(lambda: self._plan_now(fresh=fresh))
            except GateClosed:
                return

        self._app.run_worker(job, thread=True, group="engine", exit_on_error=False)

    # -- runs and watch sessions ---------------------------------------------------------------

    def run(self, request: RunRequest, batcher: EventBatcher) -> None:
        """Re-import pipeline.py and run ``request``; RunDone when the worker returns."""

        def job() -> None:
            summary = None
            try:
                with self.gate.held():
                    try:
                        _, graph = self.engine.load(fresh=True)
                    except Exception as exc:
                        self._post(EngineFailed("load", describe(exc)))
                        return
                    self._post(PipelineLoaded(graph))
                    try:
                        summary = self.engine.run(request, batcher)
                    except Exception as exc:
                        self._post(EngineFailed("run", describe(exc)))
            except GateClosed:
                pass
            finally:
                batcher.flush()
                self._post(RunDone(summary))

        self._app.run_worker(job, thread=True, group="run", exit_on_error=False)

    def watch(self, batcher: EventBatcher) -> None:
        """Run a watch session until :meth:`stop_watch`; WatchEnded when it has stopped."""
        self._watch_stop.clear()
        self._app.run_worker(
            lambda: self._watch_job(batcher), thread=True, group="run", exit_on_error=False
        )

    def _watch_job(self, batcher: EventBatcher) -> None:
        from pivot.core.run.watch import WatchSession

        def cycle_end(summary: object) -> None:
            # Runs in the watch session's run thread, holding the engine: re-plan here so the
            # stage list shows new, renamed and stale stages between cycles.
            batcher.flush()
            session = self._watch
            if session is not None and session.load_error is not None:
                self._post(EngineFailed("load", session.load_error))
                return
            self._plan_now(fresh=False)

        try:
            with self.gate.held():
                _, graph = self.engine.load(fresh=True)
            self._post(PipelineLoaded(graph))
            session = WatchSession(
                self.engine,
                RunRequest(),
                batcher,
                on_cycle_end=cycle_end,
                cycle_guard=self.gate.held,
            )
            self._watch = session
            if not self._watch_stop.is_set():  # else watch mode was turned off meanwhile
                session.run()
        except GateClosed:
            pass
        except Exception as exc:
            self._post(EngineFailed("load", describe(exc)))
        finally:
            self._watch = None
            batcher.flush()
            self._post(WatchEnded())

    def stop_watch(self) -> None:
        self._watch_stop.set()
        session = self._watch
        if session is not None:
            session.stop()

    def cancel(self, reason: str) -> None:
        self.engine.cancel(reason)

    # -- lookups for screens -------------------------------------------------------------------

    def load_pipeline(self) -> PipelineDefinition:
        """The loaded pipeline, from a worker thread, through the gate."""
        return self.gate.call(lambda: self.engine.load()[0])

    def find_source(self, stage: str) -> None:
        """Where ``stage``'s function is defined: SourceFound, with an error when unknown."""

        def job() -> None:
            try:
                source = stage_source(self.load_pipeline()[stage])
            except GateClosed:
                return
            except Exception as exc:
                self._post(SourceFound(stage, None, describe(exc)))
                return
            self._post(SourceFound(stage, source, None))

        self._app.run_worker(job, thread=True, group="editor", exit_on_error=False)

    # -- shutdown ------------------------------------------------------------------------------

    def shut_down(self, *, busy: bool, close_engine: bool) -> None:
        """Close the gate and stop what runs; close the engine (pool) once nobody uses it."""
        self.gate.close()
        self.stop_watch()
        if busy:
            self.engine.cancel("quit")
        if close_engine:
            threading.Thread(target=self._close_engine, daemon=True).start()

    def _close_engine(self) -> None:
        self.gate.wait_idle(30.0)
        self.engine.close()
