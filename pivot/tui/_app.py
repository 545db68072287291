"""The Pivot app: stage pane, DAG pane, and detail tabs (Logs, Explain, Params, Outputs).

Threads: the App owns the main thread. Everything that touches the engine runs in Textual
thread workers and reports back with typed messages (:mod:`pivot.tui._messages`); the engine
itself is driven exactly as the headless CLI drives it (``Engine.plan``/``run``/``cancel``), so
running, cancelling and quitting leave the project as ``pivot --no-tui run`` would. One lock
serialises engine use (a run, a status refresh, an explain), and workers wait on it with a
timeout so they notice cancellation.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, ScreenStackError
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import ContentSwitcher, DataTable, Footer, Input, Static
from textual.worker import get_current_worker

from pivot.core.pipeline.graph import StageGraph
from pivot.core.project import Project
from pivot.core.run.engine import Engine, RunRequest
from pivot.core.run.events import FilesChanged, WatchCycle
from pivot.core.run.executors import LocalExecutor
from pivot.exceptions import PivotError
from pivot.tui._batch import EventBatcher
from pivot.tui._commands import PaletteCommand, PivotCommands
from pivot.tui._dag_view import DagView
from pivot.tui._datadiff_screen import DataDiffScreen, DiffTarget
from pivot.tui._details import OutputRow, ParamsInfo, params_info, stage_outputs
from pivot.tui._explain import Explanation, from_decision, load_explanation
from pivot.tui._log_lines import LogEntry, previous_log
from pivot.tui._log_view import LogView
from pivot.tui._messages import (
    DetailReady,
    EngineEvents,
    EngineFailed,
    PipelineLoaded,
    PlanReady,
    RunDone,
    WatchEnded,
)
from pivot.tui._model import PipelineModel
from pivot.tui._render import (
    OUTPUT_COLUMNS,
    Palette,
    explain_renderable,
    output_cells,
    params_renderable,
)
from pivot.tui._screens import ConfirmQuit, HelpScreen, binding_rows
from pivot.tui._stage_list import StageList
from pivot.tui._tab_bar import TabBar
from pivot.tui._watch import watch_available

#: Below this terminal size the app shows a message instead of its layout.
MIN_WIDTH = 60
MIN_HEIGHT = 16

#: Cursor moves closer together than this (seconds) defer loading the detail tab.
DETAIL_DEBOUNCE = 0.05

TABS = ("logs", "explain", "params", "outputs")

_MAIN_SCREEN_ACTIONS = {
    "run_selected",
    "run_stale",
    "force_run",
    "toggle_watch",
    "refresh_status",
    "toggle_dag",
    "show_tab",
}

_EMPTY_GRAPH = StageGraph(order=(), upstream={}, downstream={}, producer={})


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def _during_teardown_ignored(handler: _Handler) -> _Handler:
    """Worker messages and key events can still be queued while the app shuts down and its
    widgets are gone; handling them then is pointless, not an error."""

    @functools.wraps(handler)
    def wrapper(self: PivotApp, *args: Any, **kwargs: Any) -> Any:
        try:
            return handler(self, *args, **kwargs)
        except (NoMatches, ScreenStackError):
            if self.is_running and not self._shutting_down:
                raise
            return None

    return wrapper  # type: ignore[return-value]


class EscInput(Input):
    """An Input that Esc leaves (Textual's Input ignores Esc)."""

    BINDINGS = [Binding("escape", "leave", "Close", show=False)]

    class Left(Input.Changed):
        pass

    def action_leave(self) -> None:
        self.post_message(self.Left(self, self.value))


class PivotApp(App[int]):
    """The interactive app for the project at ``root``.

    ``engine`` lets the caller share a warm engine (``pivot`` passes one whose pool started
    before the app took over the terminal); by default the app makes its own. ``clock``
    gives the time used for elapsed-time columns (tests freeze it).
    """

    TITLE = "Pivot"

    CSS = """
    Screen { layout: vertical; }
    #topbar { height: 1; background: $panel; color: $text; padding: 0 1; }
    #main { height: 1fr; }
    #stages-pane {
        width: 34%; min-width: 22; max-width: 48; height: 1fr;
        border: round $surface-lighten-2; border-title-color: $text-primary;
    }
    #stages-pane:focus-within { border: round $primary; }
    #right { width: 1fr; }
    #dag-pane {
        height: 40%; min-height: 5;
        border: round $surface-lighten-2; border-title-color: $text-primary;
    }
    #dag-pane:focus-within { border: round $primary; }
    #dag-pane.-hidden { display: none; }
    #detail-pane {
        height: 1fr; border: round $surface-lighten-2; border-title-color: $text-primary;
    }
    #detail-pane:focus-within { border: round $primary; }
    #detail { height: 1fr; }
    #detail > * { height: 1fr; }
    #filter, #log-search { display: none; height: 1; border: none; padding: 0 1; }
    #filter.-shown, #log-search.-shown { display: block; }
    #log-status { height: 1; color: $text-muted; padding: 0 1; }
    .body { padding: 0 1; }
    #outputs-table { height: auto; max-height: 8; }
    #too-small { display: none; width: 1fr; height: 1fr; content-align: center middle; text-align: center; padding: 0 1; }
    Screen.-too-narrow #main, Screen.-too-short #main { display: none; }
    Screen.-too-narrow #topbar, Screen.-too-short #topbar { display: none; }
    Screen.-too-narrow Footer, Screen.-too-short Footer { display: none; }
    Screen.-too-narrow #too-small, Screen.-too-short #too-small { display: block; }
    """

    HORIZONTAL_BREAKPOINTS = [
        (0, "-too-narrow"),
        (MIN_WIDTH, "-fits-width"),
    ]
    VERTICAL_BREAKPOINTS = [
        (0, "-too-short"),
        (MIN_HEIGHT, "-fits-height"),
    ]

    COMMANDS = App.COMMANDS | {PivotCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "run_selected", "Run"),
        Binding("R", "run_stale", "Run all"),
        Binding("f", "force_run", "Force"),
        Binding("c", "cancel_run", "Cancel run"),
        Binding("w", "toggle_watch", "Watch"),
        Binding("s", "refresh_status", "Refresh status", show=False),
        Binding("d", "toggle_dag", "Show/hide DAG", show=False),
        Binding("1", "show_tab('logs')", "Logs tab", show=False),
        Binding("2", "show_tab('explain')", "Explain tab", show=False),
        Binding("3", "show_tab('params')", "Params tab", show=False),
        Binding("4", "show_tab('outputs')", "Outputs tab", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

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
        self.engine = engine or Engine(Project(self.root), LocalExecutor(jobs))
        self._owns_engine = engine is None
        prepare_process_start(self.engine)
        self.clock = clock
        # With the graph of an already loaded engine, the first paint shows the stages.
        self.model = PipelineModel(graph or _EMPTY_GRAPH)
        self.loaded = graph is not None
        self.selected: str | None = None
        self.watching = False
        self._engine_lock = threading.Lock()
        self._generation_lock = threading.Lock()
        self._batcher: EventBatcher | None = None
        self._ticker: Timer | None = None
        self._detail_timer: Timer | None = None
        self._last_select = 0.0
        self._ticks = 0
        self._run_active = False
        self._watch_active = False
        self._watch: Any = None  # a pivot.core.run.watch.WatchSession while watching
        self._watch_cycle = 0
        self._cancel_requested = False
        self._quit_after_run = False
        self._shutting_down = False
        self._plan_generation = 0
        self._detail_token = 0
        self._shown: dict[str, tuple[str | None, int]] = {}
        self._explanations: dict[str, Explanation] = {}
        self._outputs: list[OutputRow] = []
        self._error: str | None = None
        #: When the stage pane was first drawn with the pipeline's stages (for the benchmark).
        self.first_screen_at: float | None = None
        self.first_screen_cpu: float | None = None  # process CPU time then (benchmark)

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self._topbar_text(), id="topbar")
        with Horizontal(id="main"):
            with Vertical(id="stages-pane") as stages:
                stages.border_title = "Stages"
                yield EscInput(placeholder="filter stages (Esc clears)", id="filter")
                yield StageList(self.model, self.clock, id="stages")
            with Vertical(id="right"):
                with Vertical(id="dag-pane") as dag:
                    dag.border_title = "DAG"
                    yield DagView(self.model, id="dag")
                with Vertical(id="detail-pane") as detail:
                    detail.border_title = "Details"
                    yield TabBar(
                        [(tab, tab.capitalize()) for tab in TABS], active="logs", id="tabs"
                    )
                    with ContentSwitcher(id="detail", initial="logs"):
                        with Vertical(id="logs"):
                            yield EscInput(
                                placeholder="search log (Enter: done, Esc: clear)", id="log-search"
                            )
                            yield Static("", id="log-status")
                            yield LogView(id="log")
                        with VerticalScroll(id="explain"):
                            yield Static("", id="explain-body", classes="body")
                        with VerticalScroll(id="params"):
                            yield Static("", id="params-body", classes="body")
                        with Vertical(id="outputs"):
                            yield DataTable(id="outputs-table", cursor_type="row")
                            with VerticalScroll():
                                yield Static("", id="outputs-body", classes="body")
        yield Static("", id="too-small")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#outputs-table", DataTable).add_columns(*OUTPUT_COLUMNS)
        self.query_one(StageList).focus()
        if self.loaded:
            self.stage_list.apply_filter("")  # selects the first stage
            # Plan only once the first screen is up: the planner is CPU-bound Python and would
            # compete with the first paint for the GIL.
            self.call_after_refresh(self._after_first_paint)
        else:
            self._load_worker()

    @_during_teardown_ignored
    def on_resize(self) -> None:
        self._update_too_small()

    def _update_too_small(self) -> None:
        width, height = self.size
        self.query_one("#too-small", Static).update(
            f"Pivot needs a terminal of at least {MIN_WIDTH}x{MIN_HEIGHT};\nthis one is "
            f"{width}x{height}.\n\nEnlarge it, or use `pivot --no-tui`.\nq quits."
        )

    def _topbar_text(self) -> Text:
        text = Text()
        text.append(f"pivot · {self.root.name}", style="bold")
        text.append(" · ")
        if self._error:
            text.append(self._error, style="bold red")
        elif not self.loaded:
            text.append("loading pipeline…")
        else:
            text.append(self.model.summary())
        if self.watching:
            cycle = f" (cycle {self._watch_cycle})" if self._watch_cycle else ""
            text.append(f" · watching{cycle}", style="bold")
        return text

    def _update_topbar(self) -> None:
        # Fixed one-line bars: no layout pass needed (these update many times a second).
        self.query_one("#topbar", Static).update(self._topbar_text(), layout=False)

    @property
    def stage_list(self) -> StageList:
        return self.query_one(StageList)

    @property
    def dag(self) -> DagView:
        return self.query_one(DagView)

    # -- engine access -------------------------------------------------------------------------

    def _acquire_engine(self) -> bool:
        """Take the engine lock in a worker, giving up if the worker is cancelled."""
        worker = get_current_worker()
        while not self._engine_lock.acquire(timeout=0.1):
            if worker.is_cancelled:
                return False
        return True

    def wait_for_engine(self, timeout: float = 30.0) -> bool:
        """Block until no worker uses the engine (call after the app has exited)."""
        if self._engine_lock.acquire(timeout=timeout):
            self._engine_lock.release()
            return True
        return False

    def _reload(self) -> None:
        """Re-import pipeline.py (under the engine lock) so edits made while the app is open
        count; tell the UI when the graph changed."""
        _, graph = self.engine.load(fresh=True)
        if graph.order != self.model.order or graph.upstream != self.model.graph.upstream:
            self.post_message(PipelineLoaded(graph))

    @work(thread=True, group="engine", exit_on_error=False)
    def _load_worker(self) -> None:
        if not self._acquire_engine():
            return
        try:
            _, graph = self.engine.load()
        except Exception as exc:
            self.post_message(EngineFailed("load", _describe(exc)))
            return
        finally:
            self._engine_lock.release()
        self.post_message(PipelineLoaded(graph))
        self._plan(fresh=False)

    def _plan(self, *, fresh: bool) -> None:
        """Predict decisions for every stage (in a worker thread)."""
        if not self._acquire_engine():
            return
        generation = self._next_generation()
        try:
            if fresh:
                self._reload()
            decisions = self.engine.plan()
        except Exception as exc:
            self.post_message(EngineFailed("status", _describe(exc)))
            return
        finally:
            self._engine_lock.release()
        self.post_message(PlanReady(decisions, generation))

    @work(thread=True, group="engine", exit_on_error=False)
    def _plan_worker(self, fresh: bool) -> None:
        self._plan(fresh=fresh)

    @work(thread=True, group="run", exit_on_error=False)
    def _run_worker(self, request: RunRequest, batcher: EventBatcher) -> None:
        summary = None
        if not self._acquire_engine():
            self.post_message(RunDone(None))
            return
        try:
            self._reload()
            summary = self.engine.run(request, batcher)
        except Exception as exc:
            self.post_message(EngineFailed("run", _describe(exc)))
        finally:
            batcher.flush()
            self._engine_lock.release()
            self.post_message(RunDone(summary))

    @work(thread=True, group="run", exit_on_error=False)
    def _watch_worker(self, batcher: EventBatcher) -> None:
        from pivot.core.run.watch import WatchSession

        if not self._acquire_engine():
            self.post_message(WatchEnded())
            return

        def cycle_end(summary: object) -> None:
            # Runs in the watch session's run thread, between cycles: nothing else uses the
            # engine, so re-plan here to refresh the stale marks.
            batcher.flush()
            generation = self._next_generation()
            try:
                decisions = self.engine.plan()
            except PivotError:
                return
            self.post_message(PlanReady(decisions, generation))

        try:
            self._reload()
            session = WatchSession(self.engine, RunRequest(), batcher, on_cycle_end=cycle_end)
            self._watch = session
            if self._watch_active:
                session.run()
        except Exception as exc:
            self.post_message(EngineFailed("watch", _describe(exc)))
        finally:
            self._watch = None
            batcher.flush()
            self._engine_lock.release()
            self.post_message(WatchEnded())

    def _next_generation(self) -> int:
        with self._generation_lock:
            self._plan_generation += 1
            return self._plan_generation

    # -- messages from workers -----------------------------------------------------------------

    @_during_teardown_ignored
    def on_pipeline_loaded(self, message: PipelineLoaded) -> None:
        if self._shutting_down:
            return
        first = not self.loaded
        self.loaded = True
        self._error = None
        if first:
            self.model = PipelineModel(message.graph)
        else:
            self.model.rebuild(message.graph)
        self.stage_list.set_model(self.model)
        self.dag.set_model(self.model)
        self._update_topbar()
        self.refresh_bindings()
        if first:
            self.call_after_refresh(self._mark_first_screen)

    def _mark_first_screen(self) -> None:
        self.first_screen_at = time.perf_counter()
        self.first_screen_cpu = time.process_time()

    def _after_first_paint(self) -> None:
        self._mark_first_screen()
        self._plan_worker(False)

    @_during_teardown_ignored
    def on_plan_ready(self, message: PlanReady) -> None:
        if self._shutting_down:
            return
        if message.generation != self._plan_generation:
            return
        self.model.apply_plan(message.decisions)
        self._explanations.clear()
        self._shown.clear()
        self.stage_list.refresh()
        self.dag.refresh()
        self._update_topbar()
        self._load_detail()

    @_during_teardown_ignored
    def on_engine_failed(self, message: EngineFailed) -> None:
        if self._shutting_down:
            return
        first_line = message.error.strip().splitlines()[0] if message.error.strip() else ""
        if message.what == "load" and not self.loaded:
            self._error = f"cannot load the pipeline: {first_line}"
            self._update_topbar()
        self.notify(message.error, title=f"{message.what} failed", severity="error", timeout=8)

    @_during_teardown_ignored
    def on_engine_events(self, message: EngineEvents) -> None:
        if self._shutting_down:
            return
        for event in message.events:
            if isinstance(event, WatchCycle):
                self._watch_cycle = event.cycle
                self._update_topbar()
            elif isinstance(event, FilesChanged) and event.restart:
                self.notify(f"{', '.join(event.paths[:3])} changed: restarting the run")
        changes = self.model.apply(message.events)
        if changes.run_started and self._cancel_requested:
            self.engine.cancel("request")
        if changes.stages:
            self.stage_list.refresh_stages(changes.stages)
            self.dag.refresh()
        selected = self.selected
        if selected is not None and self._active_tab == "logs":
            log = self.query_one(LogView)
            if selected in changes.cleared:
                self._show_logs(selected)
            elif selected in changes.logs:
                log.write_lines(changes.logs[selected])
                if not log.search_text:
                    self.query_one("#log-status", Static).update(
                        f"{_lines(len(self.model.stages[selected].log))} · this session",
                        layout=False,
                    )
        for note in changes.messages:
            level = note.level
            self.notify(
                note.text,
                severity="error"
                if level == "error"
                else "warning"
                if level == "warning"
                else "information",
            )
        if changes.run_finished is not None:
            finished = changes.run_finished
            counts = ", ".join(f"{n} {k}" for k, n in finished.counts.items() if n) or "nothing"
            if finished.cancelled:
                self.notify(f"Run cancelled: {counts}", severity="warning")
            elif finished.exit_code:
                self.notify(f"Run failed: {counts}", severity="error")
            else:
                self.notify(f"Run finished: {counts}")
        if changes.stages or changes.run_finished is not None:
            self._update_topbar()
        if selected is not None and selected in changes.stages and self._active_tab != "logs":
            self._shown.pop(self._active_tab, None)
            if self._active_tab != "explain":
                self._load_detail()

    @_during_teardown_ignored
    def on_run_done(self, message: RunDone) -> None:
        self._run_active = False
        self._engine_released()
        if not self._quit_after_run:
            self._plan_worker(False)

    @_during_teardown_ignored
    def on_watch_ended(self, message: WatchEnded) -> None:
        self._watch_active = False
        self.watching = False
        self._watch_cycle = 0
        self._engine_released()
        if not self._quit_after_run:
            self.notify("Watch mode off")

    def _engine_released(self) -> None:
        if self._shutting_down:
            return
        self._cancel_requested = False
        self._batcher = None
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self.stage_list.refresh()
        self.dag.refresh()
        self.refresh_bindings()
        self._update_topbar()
        if self._quit_after_run:
            self.exit(130, return_code=130)

    @_during_teardown_ignored
    def on_detail_ready(self, message: DetailReady) -> None:
        if self._shutting_down:
            return
        if message.token != self._detail_token or message.stage != self.selected:
            return
        self._shown[message.tab] = (message.stage, self._plan_generation)
        palette = self.palette()
        payload = message.payload
        if message.tab == "explain":
            body = self.query_one("#explain-body", Static)
            if isinstance(payload, str):
                body.update(Text(payload, style="red"))
            else:
                self._explanations[message.stage] = payload
                body.update(self._explain_view(message.stage, payload, palette))
        elif message.tab == "params":
            body = self.query_one("#params-body", Static)
            if isinstance(payload, ParamsInfo):
                body.update(params_renderable(payload, palette))
            else:
                body.update(Text(str(payload), style="red"))
        elif message.tab == "outputs":
            self._show_outputs(payload if isinstance(payload, list) else [])

    # -- selection and details -----------------------------------------------------------------

    @on(StageList.Highlighted)
    @_during_teardown_ignored
    def _on_stage_highlighted(self, message: StageList.Highlighted) -> None:
        self._select(message.stage)

    @on(DagView.Selected)
    @_during_teardown_ignored
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
        self.query_one("#detail-pane").border_title = stage or "Details"
        self._shown.clear()
        # A single move fills the detail tab at once; while a key is held (moves closer than
        # DETAIL_DEBOUNCE), only the stage the cursor rests on is loaded.
        now = time.monotonic()
        burst = now - self._last_select < DETAIL_DEBOUNCE
        self._last_select = now
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        if burst:
            self._detail_timer = self.set_timer(DETAIL_DEBOUNCE, self._load_detail)
        else:
            self._load_detail()

    @property
    def _active_tab(self) -> str:
        return self.query_one("#detail", ContentSwitcher).current or "logs"

    @property
    def active_tab(self) -> str:
        """The detail tab on show: logs, explain, params or outputs."""
        return self._active_tab

    @on(TabBar.Changed)
    def _on_tab(self, event: TabBar.Changed) -> None:
        self.action_show_tab(event.tab)

    def _load_detail(self) -> None:
        """Fill the active tab for the selected stage (in a worker unless it is the log)."""
        stage = self.selected
        tab = self._active_tab
        if stage is None or stage not in self.model.stages:
            return
        if tab == "logs":
            if self._shown.get("logs", (None, 0))[0] != stage:
                self._show_logs(stage)
            return
        if self._shown.get(tab) == (stage, self._plan_generation):
            return
        self._detail_token += 1
        token = self._detail_token
        if tab == "explain":
            if self.busy:
                self._explain_during_run(stage)
                return
            self._explain_worker(stage, token)
        elif tab == "params":
            self._params_worker(stage, token)
        elif tab == "outputs":
            self._outputs_worker(stage, token)

    def _show_logs(self, stage: str) -> None:
        state = self.model.stages[stage]
        log = self.query_one(LogView)
        self._shown["logs"] = (stage, self._plan_generation)
        lines = list(state.log.lines)
        if state.log.dropped:
            lines.insert(
                0,
                LogEntry(f"… {state.log.dropped:,} earlier lines not kept here (see .pivot/logs/)"),
            )
        status = self.query_one("#log-status", Static)
        if lines or state.live is not None:
            status.update(f"{_lines(len(state.log))} · this session")
            log.reset(lines)
            return
        log.reset([])
        status.update("no output in this session")
        self._previous_log_worker(stage, self._detail_token)

    @work(thread=True, group="detail", exit_on_error=False)
    def _previous_log_worker(self, stage: str, token: int) -> None:
        lines = previous_log(self.engine.project, stage)
        if lines is not None:
            self.call_from_thread(self._show_previous_log, stage, token, lines)

    @_during_teardown_ignored
    def _show_previous_log(self, stage: str, token: int, lines: list[LogEntry]) -> None:
        state = self.model.stages.get(stage)
        if stage != self.selected or state is None or len(state.log) or state.live is not None:
            return
        self.query_one("#log-status", Static).update(f"{_lines(len(lines))} · previous run")
        self.query_one(LogView).reset(lines)

    @work(thread=True, group="detail", exit_on_error=False)
    def _explain_worker(self, stage: str, token: int) -> None:
        if token != self._detail_token or not self._acquire_engine():
            return
        payload: Any
        try:
            if token != self._detail_token:
                return
            payload = load_explanation(self.engine, stage)
        except Exception as exc:
            payload = _describe(exc)
        finally:
            self._engine_lock.release()
        self.post_message(DetailReady("explain", stage, token, payload))

    def _explain_during_run(self, stage: str) -> None:
        """While a run holds the engine, explain from the decision the stage was planned with."""
        state = self.model.stages[stage]
        decision = state.ran_because or state.decision
        body = self.query_one("#explain-body", Static)
        if decision is None:
            body.update(Text("a run is in progress; the explanation appears when it finishes"))
            return
        cached = self._explanations.get(stage)
        explanation = cached if cached is not None else from_decision(decision)
        body.update(
            self._explain_view(
                stage,
                explanation,
                self.palette(),
                note="a run is in progress" if cached is None else None,
            )
        )

    def _explain_view(
        self, stage: str, explanation: Explanation, palette: Palette, note: str | None = None
    ) -> Any:
        ran = self.model.stages[stage].ran_because if stage in self.model.stages else None
        return explain_renderable(explanation, palette, ran=ran, note=note)

    @work(thread=True, group="detail", exit_on_error=False)
    def _params_worker(self, stage: str, token: int) -> None:
        payload: Any
        try:
            payload = params_info(self.engine, stage)
        except Exception as exc:
            payload = _describe(exc)
        self.post_message(DetailReady("params", stage, token, payload))

    @work(thread=True, group="detail", exit_on_error=False)
    def _outputs_worker(self, stage: str, token: int) -> None:
        payload: Any
        try:
            payload = stage_outputs(self.engine, stage)
        except Exception as exc:
            payload = _describe(exc)
        self.post_message(DetailReady("outputs", stage, token, payload))

    def _show_outputs(self, rows: list[OutputRow]) -> None:
        self._outputs = rows
        table = self.query_one("#outputs-table", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*output_cells(row))
        body = self.query_one("#outputs-body", Static)
        if not rows:
            body.update("this stage declares no outputs")
        elif any(row.diff_format for row in rows):
            body.update(
                Text(
                    "Enter on a CSV/JSON/Parquet output: data diff against git HEAD",
                    style="italic",
                )
            )
        else:
            body.update("")

    @on(DataTable.RowSelected, "#outputs-table")
    def _on_output_selected(self, event: DataTable.RowSelected) -> None:
        index = event.cursor_row
        if 0 <= index < len(self._outputs):
            self.open_data_diff(self._outputs[index].path)

    def open_data_diff(self, path: str, rev: str = "HEAD") -> None:
        """Show the data-diff screen for the workspace ``path`` against ``rev``."""
        from pivot.tui._details import diff_format

        if diff_format(path) is None:
            self.notify(f"{path}: no data diff for this format", severity="warning")
            return
        self.push_screen(DataDiffScreen([data_diff_target(self.root, path, rev)]))

    def palette(self) -> Palette:
        return Palette(self.theme_variables, self.current_theme.dark)

    # -- filter and log search -----------------------------------------------------------------

    @on(StageList.FilterRequested)
    def _on_filter_requested(self) -> None:
        box = self.query_one("#filter", EscInput)
        box.add_class("-shown")
        box.value = self.stage_list.filter_text
        box.focus()

    @on(StageList.FilterCleared)
    def _on_filter_cleared(self) -> None:
        box = self.query_one("#filter", EscInput)
        box.value = ""
        box.remove_class("-shown")

    @on(Input.Changed, "#filter")
    def _on_filter_changed(self, event: Input.Changed) -> None:
        if isinstance(event, EscInput.Left):
            return
        self.stage_list.apply_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _on_filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.remove_class("-shown")
        self.stage_list.focus()

    @on(EscInput.Left, "#filter")
    def _on_filter_left(self, event: EscInput.Left) -> None:
        event.input.value = ""
        event.input.remove_class("-shown")
        self.stage_list.apply_filter("")
        self.stage_list.focus()

    @on(LogView.SearchRequested)
    def _on_search_requested(self) -> None:
        box = self.query_one("#log-search", EscInput)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#log-search")
    def _on_search_changed(self, event: Input.Changed) -> None:
        if isinstance(event, EscInput.Left):
            return
        log = self.query_one(LogView)
        log.search(event.value, from_line=int(log.scroll_offset.y))

    @on(Input.Submitted, "#log-search")
    def _on_search_submitted(self) -> None:
        self.query_one(LogView).focus()

    @on(EscInput.Left, "#log-search")
    def _on_search_left(self, event: EscInput.Left) -> None:
        event.input.value = ""
        event.input.remove_class("-shown")
        log = self.query_one(LogView)
        log.clear_search()
        self.query_one("#log-status", Static).update("")
        log.focus()

    @on(LogView.SearchResult)
    def _on_search_result(self, message: LogView.SearchResult) -> None:
        status = self.query_one("#log-status", Static)
        if not message.text:
            status.update("")
        elif message.line is None:
            status.update(f"no line contains {message.text!r}")
        else:
            status.update(
                f"{message.total:,} matching lines · at line {message.line + 1:,} · n/N next/prev"
            )

    # -- actions -------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A run or a watch session owns the engine."""
        return self._run_active or self._watch_active

    @property
    def run_in_progress(self) -> bool:
        return self._run_active or self.model.running

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _MAIN_SCREEN_ACTIONS and isinstance(self.screen, DataDiffScreen | HelpScreen):
            return False  # keys of the main screen do not apply there
        if action in ("run_selected", "force_run"):
            return self.loaded and not self.busy and self.selected is not None
        if action in ("run_stale", "refresh_status"):
            return self.loaded and not self.busy
        if action == "cancel_run":
            return self.run_in_progress
        if action == "toggle_watch":
            return self.loaded and (self._watch_active or not self.busy)
        return True

    def _claim_engine(self) -> EventBatcher:
        """Start the batch ticker and return a fresh event sink for a run or watch session."""
        self._cancel_requested = False
        self._batcher = EventBatcher(lambda events: self.post_message(EngineEvents(events)))
        self._ticker = self.set_interval(0.05, self._tick)
        self.refresh_bindings()
        return self._batcher

    def _start_run(self, request: RunRequest) -> None:
        if self.busy or not self.loaded:
            return
        self._run_active = True
        self._run_worker(request, self._claim_engine())

    @_during_teardown_ignored
    def _tick(self) -> None:
        if not self.is_running:
            return
        if self._batcher is not None:
            self._batcher.flush_if_due()
        self._ticks += 1
        if self._ticks % 2 == 0 and self.model.running:
            running = {n for n, s in self.model.stages.items() if s.live is not None}
            self.stage_list.refresh_stages(running)

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
            self._cancel_requested = True
            self.engine.cancel("request")
            self.notify("Cancelling the run…", severity="warning")

    def action_refresh_status(self) -> None:
        if not self.busy:
            self._plan_worker(True)

    def action_toggle_watch(self) -> None:
        if self._watch_active:
            self._stop_watch()
            self.notify("Stopping watch mode…")
            return
        available, reason = watch_available()
        if not available:
            self.notify(f"Watch mode is unavailable: {reason}", severity="warning")
            return
        if self.busy or not self.loaded:
            return
        self._watch_active = True
        self.watching = True
        self._watch_cycle = 0
        self._update_topbar()
        self.notify("Watch mode on: stale stages run now, and again whenever files change")
        self._watch_worker(self._claim_engine())

    def _stop_watch(self) -> None:
        self._watch_active = False
        session = self._watch
        if session is not None:
            session.stop()

    def action_toggle_dag(self) -> None:
        self.query_one("#dag-pane").toggle_class("-hidden")

    def action_show_tab(self, tab: str) -> None:
        if tab not in TABS or tab == self._active_tab:
            return
        self.query_one(TabBar).activate(tab)
        self.query_one("#detail", ContentSwitcher).current = tab
        self._load_detail()

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
        if self._watch_active:
            self._stop_watch()
        self.exit(0, return_code=0)

    def _confirmed_quit(self, answer: bool | None) -> None:
        if not answer:
            return
        if not self.busy:
            self.exit(0, return_code=0)
            return
        self._quit_after_run = True
        self._cancel_requested = True
        self.engine.cancel("quit")
        if self._watch_active:
            self._stop_watch()
        self.notify("Cancelling the run, then quitting…", severity="warning")

    def exit(self, *args: Any, **kwargs: Any) -> None:
        # Worker messages still queued when the app exits must not touch the closing DOM.
        self._shutting_down = True
        super().exit(*args, **kwargs)

    def on_unmount(self) -> None:
        self._shutting_down = True
        # However the app ends (quit, SIGHUP over SSH, an error), never leave a run behind.
        if self._watch_active:
            self._stop_watch()
        if self.busy:
            self.engine.cancel("quit")
        if self._owns_engine:
            threading.Thread(target=self._close_engine, daemon=True).start()

    def _close_engine(self) -> None:
        self.wait_for_engine()
        self.engine.close()

    # -- help and palette ----------------------------------------------------------------------

    def help_groups(self) -> list[tuple[str, list[tuple[str, str]]]]:
        from pivot.tui._datadiff_screen import DataDiffScreen

        return [
            (
                "Anywhere",
                [
                    *binding_rows(self.BINDINGS),
                    ("Ctrl+P", "Command palette (the same actions)"),
                    ("Ctrl+Q", "Quit"),
                    ("Tab / Shift+Tab", "Next / previous pane"),
                ],
            ),
            ("Stage pane", binding_rows(StageList.BINDINGS)),
            (
                "Filter box",
                [("Enter", "Keep the filter, back to the list"), ("Esc", "Clear the filter")],
            ),
            ("DAG pane", binding_rows(DagView.BINDINGS)),
            (
                "Logs tab",
                [*binding_rows(LogView.BINDINGS), ("Esc (in search)", "Clear the search")],
            ),
            ("Outputs tab", [("Enter", "Data diff of the output against git HEAD")]),
            ("Data diff", binding_rows(DataDiffScreen.BINDINGS)),
            (
                "Mouse",
                [
                    ("click", "Select a stage (stage or DAG pane), a tab, a button"),
                    ("wheel", "Scroll the pane under the pointer"),
                ],
            ),
        ]

    def palette_commands(self) -> list[PaletteCommand]:
        described = {
            "run_selected": ("Run selected stage", "run it and its stale upstream (r)"),
            "run_stale": ("Run all stale stages", "like `pivot run` (R)"),
            "force_run": ("Force-run selected stage", "like `pivot run STAGE -f` (f)"),
            "cancel_run": ("Cancel the run", "stop running stages; nothing they wrote is kept (c)"),
            "toggle_watch": ("Toggle watch mode", "re-run when files change (w)"),
            "refresh_status": ("Refresh status", "re-read pipeline.py and re-plan (s)"),
            "toggle_dag": ("Show/hide the DAG pane", "(d)"),
            "help": ("Show keys", "every key binding (?)"),
        }
        commands = []
        for action, (title, help_text) in described.items():
            if self.check_action(action, ()):
                commands.append(PaletteCommand(title, help_text, getattr(self, f"action_{action}")))
        for tab in TABS:
            commands.append(
                PaletteCommand(
                    f"Show {tab.capitalize()} tab",
                    f"({TABS.index(tab) + 1})",
                    functools.partial(self.action_show_tab, tab),
                )
            )
        return commands

    def palette_stages(self) -> list[str]:
        return list(self.model.order)


def _lines(count: int) -> str:
    return f"{count:,} line{'' if count == 1 else 's'}"


def _describe(exc: BaseException) -> str:
    """A Pivot error's own message; anything else is an internal error, named as such."""
    if isinstance(exc, PivotError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def data_diff_target(
    root: Path, path: str, rev: str = "HEAD", keys: tuple[str, ...] = ()
) -> DiffTarget:
    def compute() -> Any:
        from pivot.core.reports.datadiff import compute_data_diff
        from pivot.tui._diffpages import TUI_MAX_ROWS

        return compute_data_diff(root, path, rev=rev, keys=keys, max_rows=TUI_MAX_ROWS)

    return DiffTarget(f"{path} (vs {rev})", compute)


def prepare_process_start(engine: Engine) -> None:
    """Make sure worker processes can start once the app owns stderr.

    Inside a running Textual app ``sys.stderr.fileno()`` is -1. loky spawns workers lazily
    (on the first submit, and again after a cancel kills them), and each spawn first makes
    sure the multiprocessing and loky resource trackers run, launching them with stderr's
    descriptor: ``ValueError: bad value(s) in fds_to_keep``. Launching both trackers now
    (a few ms, once per process) lets every later spawn from inside the app succeed.
    """
    if not isinstance(engine.executor, LocalExecutor):
        return
    import contextlib
    import sys

    with contextlib.redirect_stderr(sys.__stderr__):
        from multiprocessing import resource_tracker as mp_tracker

        mp_tracker.ensure_running()
        try:
            from loky.backend import resource_tracker as loky_tracker

            loky_tracker.ensure_running()
        except ImportError:  # pragma: no cover - loky is a dependency
            pass
