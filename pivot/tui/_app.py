"""The Pivot app: the stage pane, the DAG pane and the detail pane, around one engine.

Threads: the App owns the main thread. Everything that touches the engine runs in Textual
thread workers (or the watch session's thread) through one :class:`EngineGate`, and reports
back with typed messages (:mod:`pivot.tui._messages`). The engine is driven exactly as the
headless CLI drives it (``Engine.load``/``plan``/``run``/``cancel``), so running, cancelling
and quitting leave the project as ``pivot --no-tui run`` would.

What the app is doing is one value, :attr:`PivotApp.state` (an :class:`AppState`); the top
bar, the footer's keys and the Explain tab all read it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Footer, Static

from pivot.core.pipeline.graph import StageGraph
from pivot.core.project import Project
from pivot.core.run.engine import Engine, RunRequest
from pivot.core.run.events import FilesChanged, RunStarted, WatchCycle
from pivot.core.run.executors import LocalExecutor
from pivot.tui._autorefresh import ChangeFeed, needs_reload
from pivot.tui._batch import EventBatcher
from pivot.tui._commands import PaletteCommand, PivotCommands, action_commands
from pivot.tui._dag_view import DagView
from pivot.tui._datadiff_screen import DataDiffScreen
from pivot.tui._detail_pane import TABS, DetailPane
from pivot.tui._editor import open_in_editor
from pivot.tui._engine_gate import EngineGate
from pivot.tui._engine_work import EngineWork
from pivot.tui._history_screen import HistoryScreen, RunScreen
from pivot.tui._keys import APP_BINDINGS, MAIN_SCREEN_ACTIONS, PALETTE_ACTIONS, help_groups
from pivot.tui._messages import (
    EngineEvents,
    EngineFailed,
    FilesTouched,
    PipelineLoaded,
    PlanReady,
    RunDone,
    SourceFound,
    WatchEnded,
)
from pivot.tui._metrics_screen import MetricsScreen
from pivot.tui._model import PipelineModel
from pivot.tui._process import prepare_process_start
from pivot.tui._render import Palette
from pivot.tui._screens import ConfirmQuit, HelpScreen
from pivot.tui._stage_list import StageList
from pivot.tui._stages_pane import StagesPane
from pivot.tui._state import AppPhase, AppState
from pivot.tui._teardown import during_teardown_ignored
from pivot.tui._topbar import failure_banner, run_finished_notice, topbar_text
from pivot.tui._watch import watch_available

__all__ = ["MIN_HEIGHT", "MIN_WIDTH", "PivotApp"]

#: Below this terminal size the app shows a message instead of its layout.
MIN_WIDTH = 60
MIN_HEIGHT = 16


#: Screens over the main one: its keys do not apply there, and focus stays theirs.
_OTHER_SCREENS = (DataDiffScreen, HelpScreen, MetricsScreen, HistoryScreen, RunScreen)

_EMPTY_GRAPH = StageGraph(order=(), upstream={}, downstream={}, producer={})


class PivotApp(App[int]):
    """The interactive app for the project at ``root``.

    ``engine`` lets the caller share a warm engine (``pivot`` passes one whose pool started
    before the app took over the terminal); by default the app makes its own. ``clock``
    gives the time used for elapsed-time columns (tests freeze it).
    """

    TITLE = "Pivot"

    #: Keys typed while the screen is still being composed go to the stage list, never to a
    #: hidden input.
    AUTO_FOCUS = "StageList"

    #: Absolute: Textual resolves a relative CSS_PATH against a subclass's own module.
    CSS_PATH = Path(__file__).parent / "app.tcss"

    HORIZONTAL_BREAKPOINTS = [
        (0, "-too-narrow"),
        (MIN_WIDTH, "-fits-width"),
    ]
    VERTICAL_BREAKPOINTS = [
        (0, "-too-short"),
        (MIN_HEIGHT, "-fits-height"),
    ]

    COMMANDS = App.COMMANDS | {PivotCommands}

    BINDINGS: ClassVar[list[BindingType]] = APP_BINDINGS

    state: reactive[AppState] = reactive(AppState, init=False, always_update=False)

    def __init__(
        self,
        root: Path,
        *,
        engine: Engine | None = None,
        jobs: int | None = None,
        clock: Callable[[], float] = time.time,
        graph: StageGraph | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.engine = engine or Engine(Project(self.root), LocalExecutor(jobs, self.root))
        self._owns_engine = engine is None
        prepare_process_start(self.engine)
        self.engine.project.on_lock_problem = self._lock_problem
        self.clock = clock
        self.gate = EngineGate()
        self.work = EngineWork(self, self.engine, self.gate)
        # With the graph of an already loaded engine, the first paint shows the stages.
        self.model = PipelineModel(graph or _EMPTY_GRAPH)
        self.loaded = graph is not None
        self.selected: str | None = None
        self._batcher: EventBatcher | None = None
        self._ticker: Timer | None = None
        self._ticks = 0
        self._failure_cursor = -1
        #: Move the selection to each stage as it starts (F).
        self.following = False
        #: Code edited while a session held the engine: re-import when re-planning after it.
        self._reload_after_session = False
        self._feed = ChangeFeed(self.root, lambda paths: self.post_message(FilesTouched(paths)))
        self._shutting_down = False
        #: When the stage pane was first drawn with the pipeline's stages (for the benchmark).
        self.first_screen_at: float | None = None
        self.first_screen_cpu: float | None = None  # process CPU time then (benchmark)
        self.set_reactive(PivotApp.state, AppState())

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="topbar")
        yield Static(id="banner")
        with Horizontal(id="main"):
            yield StagesPane(self.model, self.clock, id="stages-pane")
            with Vertical(id="right"):
                with Vertical(id="dag-pane") as dag:
                    dag.border_title = "DAG"
                    yield DagView(self.model, id="dag")
                detail = DetailPane(
                    self.engine, self.gate, self.model, self._engine_running, id="detail-pane"
                )
                detail.border_title = "Details"
                yield detail
        yield Static("", id="too-small")
        yield Footer()

    def on_mount(self) -> None:
        self._update_topbar()
        self._feed.start()
        self.stage_list.focus()
        if self.loaded:
            self.stage_list.apply_filter("")  # selects the first stage
            # Plan only once the first screen is up: the planner is CPU-bound Python and would
            # compete with the first paint for the GIL.
            self.call_after_refresh(self._after_first_paint)
        else:
            self.work.plan(fresh=False)

    @during_teardown_ignored
    def on_resize(self, event: events.Resize) -> None:
        self._update_too_small(event.size.width, event.size.height)
        if self.focused is None and event.size.width >= MIN_WIDTH:
            self.call_after_refresh(self._refocus)

    def _refocus(self) -> None:
        if self.focused is None and not isinstance(self.screen, _OTHER_SCREENS):
            with contextlib.suppress(NoMatches):
                self.stage_list.focus()

    def _update_too_small(self, width: int, height: int) -> None:
        self.query_one("#too-small", Static).update(
            f"Pivot needs a terminal of at least {MIN_WIDTH}x{MIN_HEIGHT};\nthis one is "
            f"{width}x{height}.\n\nEnlarge it, or use `pivot --no-tui`.\nq quits."
        )

    def _update_topbar(self) -> None:
        # Fixed one-line bars: no layout pass needed (these update many times a second).
        text = topbar_text(self.root.name, self.state, self.model, self.clock(), self.palette())
        self.query_one("#topbar", Static).update(text, layout=False)

    def _update_banner(self) -> None:
        """A failure banner that stays until the next run starts."""
        banner = self.query_one("#banner", Static)
        text = failure_banner(self.model.failed_stages() if not self.model.running else [])
        banner.set_class(text is not None, "-shown")
        if text is not None:
            banner.update(text)

    def watch_state(self, old: AppState, new: AppState) -> None:
        if self._shutting_down:
            return
        self._update_topbar()
        if old.phase is not new.phase:
            self.refresh_bindings()

    @property
    def stage_list(self) -> StageList:
        return self.query_one(StagesPane).stage_list

    @property
    def dag(self) -> DagView:
        return self.query_one(DagView)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def busy(self) -> bool:
        """A run or a watch session owns the engine."""
        return self.state.busy

    @property
    def watching(self) -> bool:
        return self.state.watching

    @property
    def run_in_progress(self) -> bool:
        return self.state.phase in (AppPhase.RUNNING, AppPhase.CANCELLING) or self.model.running

    def _engine_running(self) -> bool:
        """A run (or a watch cycle) is executing stages right now."""
        return self.run_in_progress

    def wait_for_engine(self, timeout: float = 30.0) -> bool:
        """Block until no worker uses the engine (call after the app has exited)."""
        return self.gate.wait_idle(timeout)

    # -- messages from workers -----------------------------------------------------------------

    @during_teardown_ignored
    def on_pipeline_loaded(self, message: PipelineLoaded) -> None:
        self._adopt_graph(message.graph)

    def _adopt_graph(self, graph: StageGraph) -> None:
        first = not self.loaded
        self.loaded = True
        if first:
            self.model = PipelineModel(graph)
        elif graph.order == self.model.order and graph.upstream == self.model.graph.upstream:
            return
        else:
            self.model.rebuild(graph)
        self.query_one(StagesPane).set_model(self.model)
        self.dag.set_model(self.model)
        self.detail.set_model(self.model)
        self._update_topbar()
        self.refresh_bindings()
        if first:
            self.call_after_refresh(self._mark_first_screen)

    def _mark_first_screen(self) -> None:
        self.first_screen_at = time.perf_counter()
        self.first_screen_cpu = time.process_time()

    def _after_first_paint(self) -> None:
        self._mark_first_screen()
        self.work.plan(fresh=False)

    @during_teardown_ignored
    def on_plan_ready(self, message: PlanReady) -> None:
        if message.generation != self.work.plan_generation:
            return
        if message.graph is not None:
            self._adopt_graph(message.graph)
        self.model.apply_plan(message.decisions)
        self.state = self.state.loaded()
        self.stage_list.refresh()
        self.dag.refresh()
        self._update_topbar()
        self.detail.plan_changed(message.generation)

    @during_teardown_ignored
    def on_engine_failed(self, message: EngineFailed) -> None:
        if message.what == "load":
            # Persistent, in the top bar: statuses stay those of the last good load (planning
            # with a pipeline that no longer imports would call every stage changed).
            self.state = self.state.load_failed(message.error)
            self.notify(message.error, title="pipeline.py cannot be loaded", severity="error")
            return
        self.notify(message.error, title=f"{message.what} failed", severity="error", timeout=8)

    @during_teardown_ignored
    def on_engine_events(self, message: EngineEvents) -> None:
        for event in message.events:
            if isinstance(event, RunStarted) and not self.model.stages.keys() >= set(event.stages):
                # A watch cycle re-imported pipeline.py and runs stages the list has not seen
                # yet (added or renamed): show them before their events arrive.
                graph = self.engine.graph
                if graph is not None:
                    self._adopt_graph(graph)
            if isinstance(event, WatchCycle):
                self.state = self.state.watch_cycle_started(event.cycle)
            elif isinstance(event, FilesChanged) and event.restart:
                self.notify(f"{', '.join(event.paths[:3])} changed: restarting the run")
        changes = self.model.apply(message.events)
        if self.following and changes.cleared:
            started = [name for name in self.model.run_stages if name in changes.cleared]
            if started:
                self.stage_list.select(started[-1])
        if changes.run_started:
            if self.state.phase is AppPhase.CANCELLING:
                self.work.cancel("request")
            self._update_banner()
        if changes.stages:
            self.stage_list.refresh_stages(changes.stages)
            self.dag.refresh()
        self.detail.events_applied(changes)
        for note in changes.messages:
            severity = {"error": "error", "warning": "warning"}.get(note.level, "information")
            self.notify(note.text, severity=severity)  # type: ignore[arg-type]
        if changes.run_finished is not None:
            text, severity = run_finished_notice(changes.run_finished)
            self.notify(text, severity=severity)
            self._failure_cursor = -1
            self._update_banner()
            self.refresh_bindings()
        if changes.stages or changes.run_finished is not None:
            self._update_topbar()

    @during_teardown_ignored
    def on_files_touched(self, message: FilesTouched) -> None:
        """Code, params or data changed outside watch mode: re-plan so statuses stay true."""
        reload = needs_reload(message.paths)
        if self.state.busy or not self.loaded:
            self._reload_after_session |= reload
            return
        if self.state.can_start:
            self.work.plan(fresh=reload or self.state.broken)

    def _replan_after_session(self) -> None:
        reload = self._reload_after_session
        self._reload_after_session = False
        # A run that could not load the pipeline leaves the statuses as they were.
        if not self.state.broken or reload:
            self.work.plan(fresh=reload)

    @during_teardown_ignored
    def on_run_done(self, message: RunDone) -> None:
        self._session_ended()
        if self.state.phase is not AppPhase.QUITTING:
            self._replan_after_session()

    @during_teardown_ignored
    def on_watch_ended(self, message: WatchEnded) -> None:
        quitting = self.state.phase is AppPhase.QUITTING
        self._session_ended()
        if not quitting:
            self.notify("Watch mode off")
            self._replan_after_session()

    def _session_ended(self) -> None:
        self._batcher = None
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self.state = self.state.session_ended()
        self.stage_list.refresh()
        self.dag.refresh()
        self.refresh_bindings()
        self._update_topbar()
        if self.state.phase is AppPhase.QUITTING:
            self.exit(130, return_code=130)

    # -- selection -----------------------------------------------------------------------------

    @on(StageList.Highlighted)
    @during_teardown_ignored
    def _on_stage_highlighted(self, message: StageList.Highlighted) -> None:
        self._select(message.stage)

    @on(DagView.Selected)
    @during_teardown_ignored
    def _on_dag_selected(self, message: DagView.Selected) -> None:
        self.stage_list.select(message.stage)

    def select_stage(self, name: str) -> None:
        """Select ``name`` in the stage pane (clearing a filter that hides it)."""
        self.stage_list.select(name)
        self.stage_list.focus()

    def _select(self, stage: str | None) -> None:
        if stage == self.selected:
            return
        if (stage is None) != (self.selected is None):
            self.refresh_bindings()  # r and f need a selection (recomposes the footer: costly)
        self.selected = stage
        self.dag.select(stage)
        self.detail.show(stage)

    @property
    def active_tab(self) -> str:
        """The detail tab on show: logs, explain, params or outputs."""
        return self.detail.active_tab

    def open_data_diff(self, path: str, rev: str = "HEAD") -> None:
        self.detail.open_data_diff(path, rev)

    def palette(self) -> Palette:
        return Palette(self.theme_variables, self.current_theme.dark)

    # -- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_SCREEN_ACTIONS and isinstance(self.screen, _OTHER_SCREENS):
            return False  # keys of the main screen do not apply there
        can_start = self.loaded and self.state.can_start
        if action in ("run_selected", "force_run"):
            return can_start and self.selected is not None
        if action == "open_editor":
            return self.loaded and self.selected is not None
        if action in ("run_stale", "refresh_status"):
            return can_start
        if action == "cancel_run":
            return self.run_in_progress
        if action == "toggle_watch":
            return self.loaded and (self.state.watching or can_start)
        if action == "next_failure":
            return bool(self.model.failed_stages())
        return True

    def _claim_engine(self) -> EventBatcher:
        """Start the batch ticker and return a fresh event sink for a run or watch session."""
        self._batcher = EventBatcher(lambda events: self.post_message(EngineEvents(events)))
        self._ticker = self.set_interval(0.05, self._tick)
        return self._batcher

    def _start_run(self, request: RunRequest) -> None:
        if not (self.loaded and self.state.can_start):
            return
        self.state = self.state.run_started()
        self.work.run(request, self._claim_engine())

    @during_teardown_ignored
    def _tick(self) -> None:
        if not self.is_running:
            return
        if self._batcher is not None:
            self._batcher.flush_if_due()
        self._ticks += 1
        if self._ticks % 2 == 0 and self.model.running:
            running = {n for n, s in self.model.stages.items() if s.live is not None}
            self.stage_list.refresh_stages(running)
        if self._ticks % 10 == 0 and self.model.running:
            self._update_topbar()  # elapsed and ETA

    def action_run_selected(self) -> None:
        if self.selected is not None:
            self._start_run(RunRequest(targets=(self.selected,)))

    def action_run_stale(self) -> None:
        self._start_run(RunRequest())

    def action_force_run(self) -> None:
        if self.selected is not None:
            self._start_run(RunRequest(targets=(self.selected,), force=True))

    def action_cancel_run(self) -> None:
        if self.run_in_progress:
            self.state = self.state.cancel_requested()
            self.work.cancel("request")
            self.notify("Cancelling the run…", severity="warning")

    def _lock_problem(self, text: str) -> None:
        """An unreadable lock (its stage re-runs): a notification, from any thread."""
        if threading.get_ident() == self._thread_id:
            self.notify(text, severity="warning", timeout=10)
        else:
            self.call_from_thread(self.notify, text, severity="warning", timeout=10)

    async def action_interrupt(self) -> None:
        """Ctrl+C: cancel a run in progress; otherwise quit."""
        if self.run_in_progress:
            self.action_cancel_run()
        else:
            await self.action_quit()

    def action_refresh_status(self) -> None:
        if self.state.can_start:
            self.work.plan(fresh=True)

    def action_toggle_watch(self) -> None:
        if self.state.watching:
            self.work.stop_watch()
            self.notify("Stopping watch mode…")
            return
        available, reason = watch_available()
        if not available:
            self.notify(f"Watch mode is unavailable: {reason}", severity="warning")
            return
        if not (self.loaded and self.state.can_start):
            return
        self.state = self.state.watch_started()
        self.notify("Watch mode on: stale stages run now, and again whenever files change")
        self.work.watch(self._claim_engine())

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        self.notify(
            "Following the run: the selection moves to each stage as it starts (F stops)"
            if self.following
            else "No longer following the run"
        )

    def action_next_failure(self) -> None:
        """Select the next failed stage and show its log at the first error line."""
        failed = self.model.failed_stages()
        if not failed:
            return
        self._failure_cursor = (self._failure_cursor + 1) % len(failed)
        stage = failed[self._failure_cursor]
        self.select_stage(stage)
        self.detail.show_tab("logs")
        self.detail.show_first_error(stage)

    def action_toggle_dag(self) -> None:
        """Go to the DAG pane (showing it); from the DAG pane, hide it."""
        pane = self.query_one("#dag-pane")
        if pane.has_class("-hidden"):
            pane.remove_class("-hidden")
            self.dag.focus()
        elif self.dag.has_focus:
            pane.add_class("-hidden")
            self.stage_list.focus()
        else:
            self.dag.focus()

    def action_show_tab(self, tab: str) -> None:
        self.detail.show_tab(tab)

    def action_metrics(self) -> None:
        self.push_screen(MetricsScreen(self.root, self.work.load_pipeline))

    def action_history(self) -> None:
        self.push_screen(HistoryScreen(self.engine.project))

    def action_open_editor(self) -> None:
        if self.selected is not None:
            self.work.find_source(self.selected)

    @during_teardown_ignored
    def on_source_found(self, message: SourceFound) -> None:
        open_in_editor(self, message.stage, message.source, message.error)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.help_groups()))

    async def action_quit(self) -> None:
        if self.run_in_progress:
            if not isinstance(self.screen, ConfirmQuit):
                self.push_screen(ConfirmQuit(), callback=self._confirmed_quit)
            return
        if self.state.watching:
            self.work.stop_watch()
        self.exit(0, return_code=0)

    def _confirmed_quit(self, answer: bool | None) -> None:
        if not answer:
            return
        if not self.busy:
            self.exit(0, return_code=0)
            return
        self.state = self.state.quit_requested()
        self.work.cancel("quit")
        self.work.stop_watch()
        self.notify("Cancelling the run, then quitting…", severity="warning")

    def exit(self, *args: Any, **kwargs: Any) -> None:
        # Worker messages still queued when the app exits must not touch the closing DOM.
        self._shutting_down = True
        self.gate.close()
        super().exit(*args, **kwargs)

    def on_unmount(self) -> None:
        self._shutting_down = True
        self._feed.stop()
        # However the app ends (quit, SIGHUP over SSH, an error), never leave a run behind.
        self.work.shut_down(busy=self.state.busy, close_engine=self._owns_engine)

    # -- help and palette ----------------------------------------------------------------------

    def help_groups(self) -> list[tuple[str, list[tuple[str, str]]]]:
        return help_groups(self.BINDINGS)

    def palette_commands(self) -> list[PaletteCommand]:
        return action_commands(self, PALETTE_ACTIONS, TABS)

    def palette_stages(self) -> list[str]:
        return list(self.model.order)
