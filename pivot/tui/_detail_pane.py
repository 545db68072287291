"""The detail pane: Logs, Explain, Params and Outputs of the selected stage.

The pane owns its tabs and the workers that fill them; the app tells it which stage is
selected (:meth:`DetailPane.show`), when a new plan arrived (:meth:`DetailPane.plan_changed`)
and what a batch of engine events changed (:meth:`DetailPane.events_applied`). Everything that
needs the engine goes through the app's :class:`~pivot.tui._engine_gate.EngineGate`.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import ContentSwitcher, DataTable, Input, Static

from pivot.core.run.engine import Engine
from pivot.core.run.planner import Action, Decision
from pivot.exceptions import PivotError
from pivot.tui._datadiff_screen import DataDiffScreen, DiffTarget
from pivot.tui._details import OutputRow, ParamsInfo, params_info, stage_outputs
from pivot.tui._engine_gate import EngineGate, GateClosed
from pivot.tui._explain import CodeItem, Explanation, from_decision, load_explanation
from pivot.tui._inputs import EscInput
from pivot.tui._log_lines import LogEntry, previous_log
from pivot.tui._log_view import LogView
from pivot.tui._messages import DetailReady
from pivot.tui._model import Changes, PipelineModel, StageState
from pivot.tui._render import (
    OUTPUT_COLUMNS,
    Palette,
    explain_renderable,
    output_cells,
    params_renderable,
)
from pivot.tui._tab_bar import TabBar

TABS = ("logs", "explain", "params", "outputs")

#: Cursor moves closer together than this (seconds) defer loading the detail tab.
DETAIL_DEBOUNCE = 0.05


@dataclasses.dataclass(frozen=True)
class ExplainPayload:
    """Explain's data: why the stage would run now, and the code changes it last ran for."""

    explanation: Explanation
    ran_code: tuple[CodeItem, ...] = ()


class DetailPane(Vertical):
    """Tabs for one stage. ``engine_busy`` says whether a run holds the engine right now
    (Explain then shows the decision the stage was planned with instead of waiting)."""

    class TabChanged(Message):
        def __init__(self, tab: str) -> None:
            super().__init__()
            self.tab = tab

    def __init__(
        self,
        engine: Engine,
        gate: EngineGate,
        model: PipelineModel,
        engine_busy: Callable[[], bool],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.engine = engine
        self.gate = gate
        self.model = model
        self.engine_busy = engine_busy
        self.stage: str | None = None
        self.generation = 0
        self._token = 0
        self._shown: dict[str, tuple[str | None, int]] = {}
        self._explanations: dict[str, Explanation] = {}
        self._outputs: list[OutputRow] = []
        self._timer: Timer | None = None
        self._last_select = 0.0

    def compose(self) -> ComposeResult:
        yield TabBar([(tab, tab.capitalize()) for tab in TABS], active="logs", id="tabs")
        with ContentSwitcher(id="detail", initial="logs"):
            with Vertical(id="logs"):
                yield EscInput(placeholder="search log (Enter: done, Esc: clear)", id="log-search")
                yield Static("", id="log-status")
                yield LogView(self._open_search, id="log")
            with VerticalScroll(id="explain"):
                yield Static("", id="explain-body", classes="body")
            with VerticalScroll(id="params"):
                yield Static("", id="params-body", classes="body")
            with Vertical(id="outputs"):
                yield DataTable(id="outputs-table", cursor_type="row")
                with VerticalScroll():
                    yield Static("", id="outputs-body", classes="body")

    def on_mount(self) -> None:
        self.query_one("#outputs-table", DataTable).add_columns(*OUTPUT_COLUMNS)

    # -- what the app tells the pane -----------------------------------------------------------

    @property
    def active_tab(self) -> str:
        return self.query_one("#detail", ContentSwitcher).current or "logs"

    def show(self, stage: str | None) -> None:
        """Select ``stage``. A single move fills the tab at once; while a key is held (moves
        closer than DETAIL_DEBOUNCE), only the stage the cursor rests on is loaded."""
        if stage == self.stage:
            return
        self.stage = stage
        self.border_title = stage or "Details"
        self._shown.clear()
        now = time.monotonic()
        burst = now - self._last_select < DETAIL_DEBOUNCE
        self._last_select = now
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if burst:
            self._timer = self.set_timer(DETAIL_DEBOUNCE, self.load)
        else:
            self.load()

    def set_model(self, model: PipelineModel) -> None:
        self.model = model
        self._shown.clear()
        self.load()

    def plan_changed(self, generation: int) -> None:
        """A new plan arrived: what Explain, Params and Outputs showed may be out of date."""
        self.generation = generation
        self._explanations.clear()
        # The log does not depend on the plan: keep it (and where the user scrolled it).
        self._shown = {tab: shown for tab, shown in self._shown.items() if tab == "logs"}
        self.load()

    def events_applied(self, changes: Changes) -> None:
        stage = self.stage
        if stage is None:
            return
        if self.active_tab == "logs":
            log = self.query_one(LogView)
            if stage in changes.cleared:
                self._show_logs(stage)
            elif stage in changes.logs:
                log.write_lines(changes.logs[stage])
                if not log.search_text:
                    self._log_status(f"{_lines(len(self.model.stages[stage].log))} · this session")
        elif stage in changes.stages:
            self._shown.pop(self.active_tab, None)
            self.load()

    def show_tab(self, tab: str) -> None:
        if tab not in TABS or tab == self.active_tab:
            return
        self.query_one(TabBar).activate(tab)
        self.query_one("#detail", ContentSwitcher).current = tab
        self.load()

    def show_first_error(self, stage: str) -> None:
        """Scroll the log to the first line that looks like the error (a traceback's start,
        or a line naming an error), or to the end when none does."""
        state = self.model.stages.get(stage)
        if state is None or self.active_tab != "logs":
            return
        # Select it here and now (the stage list's message arrives later and finds it shown).
        self.stage = stage
        self.border_title = stage
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._show_logs(stage)
        offset = 1 if state.log.dropped else 0
        index = first_error_line([entry.text for entry in state.log.lines])
        log = self.query_one(LogView)
        if index is None:
            log.scroll_end(animate=False)
            self._log_status(f"{_lines(len(state.log))} · no error line found; showing the end")
            return
        log.scroll_to(y=max(0, index + offset - 1), animate=False)
        self._log_status(f"first error at line {index + offset + 1:,}")

    @on(TabBar.Changed)
    def _on_tab(self, event: TabBar.Changed) -> None:
        event.stop()
        self.show_tab(event.tab)

    # -- filling the tabs ----------------------------------------------------------------------

    def load(self) -> None:
        """Fill the active tab for the selected stage (in a worker unless it is the log)."""
        stage = self.stage
        tab = self.active_tab
        if stage is None or stage not in self.model.stages:
            return
        if tab == "logs":
            if self._shown.get("logs", (None, 0))[0] != stage:
                self._show_logs(stage)
            return
        if self._shown.get(tab) == (stage, self.generation):
            return
        self._token += 1
        token = self._token
        if tab == "explain":
            if self.engine_busy():
                self._explain_during_run(stage)
                self._shown[tab] = (stage, self.generation)
                return
            self._explain_worker(stage, token)
        elif tab == "params":
            self._params_worker(stage, token)
        elif tab == "outputs":
            self._outputs_worker(stage, token)

    def _log_status(self, text: str) -> None:
        self.query_one("#log-status", Static).update(text, layout=False)

    def _show_logs(self, stage: str) -> None:
        state = self.model.stages[stage]
        log = self.query_one(LogView)
        self._shown["logs"] = (stage, self.generation)
        lines = list(state.log.lines)
        if state.log.dropped:
            lines.insert(
                0,
                LogEntry(f"… {state.log.dropped:,} earlier lines not kept here (see .pivot/logs/)"),
            )
        if lines or state.live is not None:
            self._log_status(f"{_lines(len(state.log))} · this session")
            log.reset(lines)
            return
        log.reset([])
        self._log_status("no output in this session")
        self._previous_log_worker(stage, self._token)

    @work(thread=True, group="detail", exit_on_error=False)
    def _previous_log_worker(self, stage: str, token: int) -> None:
        lines = previous_log(self.engine.project, stage)
        if lines is not None:
            self.app.call_from_thread(self._show_previous_log, stage, lines)

    def _show_previous_log(self, stage: str, lines: list[LogEntry]) -> None:
        state = self.model.stages.get(stage)
        if stage != self.stage or state is None or len(state.log) or state.live is not None:
            return
        self._log_status(f"{_lines(len(lines))} · previous run")
        self.query_one(LogView).reset(lines)

    def _engine_call(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` through the gate; an error becomes the text the tab shows."""
        try:
            return self.gate.call(work)
        except GateClosed:
            raise
        except Exception as exc:
            return describe(exc)

    @work(thread=True, group="detail", exit_on_error=False)
    def _explain_worker(self, stage: str, token: int) -> None:
        if token != self._token:
            return
        state = self.model.stages.get(stage)
        ran_changes = state.ran_changes if state is not None else ()

        def explain() -> ExplainPayload:
            explanation = load_explanation(self.engine, stage)
            ran_code: tuple[CodeItem, ...] = ()
            if ran_changes:
                ran = Decision(stage, Action.RUN, "", ran_changes)
                ran_code = from_decision(ran, self.engine).code
            return ExplainPayload(explanation, ran_code)

        try:
            payload = self._engine_call(explain)
        except GateClosed:
            return
        self.post_message(DetailReady("explain", stage, token, payload))

    @work(thread=True, group="detail", exit_on_error=False)
    def _params_worker(self, stage: str, token: int) -> None:
        try:
            payload = self._engine_call(lambda: params_info(self.engine, stage))
        except GateClosed:
            return
        self.post_message(DetailReady("params", stage, token, payload))

    @work(thread=True, group="detail", exit_on_error=False)
    def _outputs_worker(self, stage: str, token: int) -> None:
        try:
            payload = self._engine_call(lambda: stage_outputs(self.engine, stage))
        except GateClosed:
            return
        self.post_message(DetailReady("outputs", stage, token, payload))

    def on_detail_ready(self, message: DetailReady) -> None:
        message.stop()
        if message.token != self._token or message.stage != self.stage:
            return
        self._shown[message.tab] = (message.stage, self.generation)
        palette = self.palette()
        payload = message.payload
        if message.tab == "explain":
            body = self.query_one("#explain-body", Static)
            if isinstance(payload, ExplainPayload):
                self._explanations[message.stage] = payload.explanation
                body.update(
                    self._explain_view(
                        message.stage, payload.explanation, palette, ran_code=payload.ran_code
                    )
                )
            else:
                body.update(Text(str(payload), style=palette.error))
        elif message.tab == "params":
            body = self.query_one("#params-body", Static)
            if isinstance(payload, ParamsInfo):
                body.update(params_renderable(payload, palette))
            else:
                body.update(Text(str(payload), style=palette.error))
        elif message.tab == "outputs":
            self._show_outputs(payload if isinstance(payload, list) else [], payload)

    def _explain_during_run(self, stage: str) -> None:
        """While a run holds the engine, explain from the decision the stage was planned with
        (or, once it has run, from what was last explained)."""
        state = self.model.stages[stage]
        decision = state.ran_because or state.decision
        body = self.query_one("#explain-body", Static)
        if decision is None:
            body.update(Text("a run is in progress; the explanation appears when it finishes"))
            return
        cached = self._explanations.get(stage)
        explanation = cached if cached is not None else from_decision(decision)
        note = (
            "a run is in progress; code diffs appear when it finishes" if cached is None else None
        )
        body.update(self._explain_view(stage, explanation, self.palette(), note=note))

    def _explain_view(
        self,
        stage: str,
        explanation: Explanation,
        palette: Palette,
        note: str | None = None,
        ran_code: tuple[CodeItem, ...] = (),
    ) -> Any:
        state = self.model.stages.get(stage)
        return explain_renderable(
            explanation,
            palette,
            ran_reason=state.ran_reason if state is not None else None,
            ran_code=ran_code,
            outcome=_outcome(state),
            note=note,
        )

    def _show_outputs(self, rows: list[OutputRow], payload: object) -> None:
        self._outputs = rows
        table = self.query_one("#outputs-table", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*output_cells(row))
        body = self.query_one("#outputs-body", Static)
        if isinstance(payload, str):
            body.update(Text(payload, style=self.palette().error))
        elif not rows:
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
        self.app.push_screen(
            DataDiffScreen([data_diff_target(self.engine.project.root, path, rev)])
        )

    def palette(self) -> Palette:
        return Palette(self.app.theme_variables, self.app.current_theme.dark)

    # -- log search ----------------------------------------------------------------------------

    def _open_search(self) -> None:
        self.query_one("#log-search", EscInput).show()

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
        self.query_one("#log-search", EscInput).hide()
        log = self.query_one(LogView)
        log.clear_search()
        self._log_status("")
        log.focus()

    @on(LogView.SearchResult)
    def _on_search_result(self, message: LogView.SearchResult) -> None:
        if not message.text:
            self._log_status("")
        elif message.line is None:
            self._log_status(f"no line contains {message.text!r}")
        else:
            self._log_status(
                f"{message.total:,} matching lines · at line {message.line + 1:,} · n/N next/prev"
            )


def _outcome(state: StageState | None) -> str | None:
    """What happened to the stage in this session's latest run, when that is the news."""
    from pivot.tui._model import Phase

    if state is None or state.run_status is None:
        return None
    if state.run_status is Phase.FAILED:
        first = (state.error or state.run_reason or "").strip().splitlines()
        return f"failed in the latest run: {first[-1] if first else 'see the Logs tab'}"
    if state.run_status is Phase.BLOCKED:
        return f"not run in the latest run: {state.run_reason or 'an upstream stage failed'}"
    if state.run_status is Phase.CANCELLED:
        return "cancelled in the latest run"
    return None


_ERROR_LINE = re.compile(
    r"^Traceback \(most recent call last\)|\b\w*(Error|Exception)\b|\berror\b", re.I
)


def first_error_line(lines: list[str]) -> int | None:
    """Index of the first line that starts a traceback or names an error."""
    for index, line in enumerate(lines):
        if _ERROR_LINE.search(line):
            return index
    return None


def _lines(count: int) -> str:
    return f"{count:,} line{'' if count == 1 else 's'}"


def describe(exc: BaseException) -> str:
    """A Pivot error's own message; anything else is an internal error, named as such."""
    if isinstance(exc, PivotError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def data_diff_target(
    root: Any, path: str, rev: str = "HEAD", keys: tuple[str, ...] = ()
) -> DiffTarget:
    def compute() -> Any:
        from pivot.core.reports.datadiff import compute_data_diff
        from pivot.tui._diffpages import TUI_MAX_ROWS

        return compute_data_diff(root, path, rev=rev, keys=keys, max_rows=TUI_MAX_ROWS)

    return DiffTarget(f"{path} (vs {rev})", compute)
