"""The history screen (``H``): recent runs as ``pivot history`` lists them; Enter on a run shows
what ``pivot show RUN`` shows (each stage's status, duration and reason).

Records come from :mod:`pivot.core.run.history` and their text from
:mod:`pivot.render.history`, the functions the CLI uses. They are read in a worker thread
straight from the project's state database (LMDB read transactions are safe from any thread
and do not need the engine, so the list loads during a run too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from pivot.core.run.history import list_runs
from pivot.render.history import run_cells, run_header, stage_cells

if TYPE_CHECKING:
    from pivot.core.project import Project

__all__ = ["HISTORY_LIMIT", "HistoryScreen", "RunScreen"]

#: How many runs the screen lists (``pivot history`` lists 20 by default).
HISTORY_LIMIT = 50

_CSS = """
{cls} {{ layout: vertical; }}
{cls} .view-title {{ height: 1; background: $panel; color: $text; padding: 0 1; }}
{cls} DataTable {{ height: 1fr; }}
{cls} .view-message {{ height: auto; max-height: 3; padding: 0 1; }}
"""

_STATUS_COLORS = {
    "ran": "green",
    "restored": "cyan",
    "failed": "red",
    "blocked": "red",
    "skipped": "dim",
    "cancelled": "yellow",
}


def _status_style(status: str) -> Style:
    return Style.parse(_STATUS_COLORS.get(status, "none"))


class RunsRead(Message):
    def __init__(self, runs: list[dict[str, Any]] | None, error: str | None) -> None:
        super().__init__()
        self.runs = runs
        self.error = error


class HistoryScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
    ]

    DEFAULT_CSS = _CSS.format(cls="HistoryScreen")

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.runs: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static(
            "Run history (like `pivot history`) · Enter: the run's stages", classes="view-title"
        )
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("reading run history…", classes="view-message", id="runs-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self._read()

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _read(self) -> None:
        try:
            runs = list_runs(self.project, limit=HISTORY_LIMIT)
        except Exception as exc:
            from pivot.tui._detail_pane import describe

            self.post_message(RunsRead(None, describe(exc)))
            return
        self.post_message(RunsRead(runs, None))

    def on_runs_read(self, message: RunsRead) -> None:
        note = self.query_one("#runs-message", Static)
        if message.error is not None:
            note.update(Text(message.error, Style(color="red")))
            return
        self.runs = message.runs or []
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns("Run", "When", "Duration", "Exit", "Stages")
        for record in self.runs:
            cells = run_cells(record)
            exit_style = Style(color="green" if record["exit_code"] == 0 else "red")
            table.add_row(
                cells.run_id, cells.when, cells.duration, Text(cells.exit, exit_style), cells.counts
            )
        note.update("" if self.runs else "no runs yet")

    @on(DataTable.RowSelected, "#runs-table")
    def _on_row_selected(self, event: DataTable.RowSelected) -> None:
        self._open(event.cursor_row)

    def _open(self, index: int) -> None:
        if 0 <= index < len(self.runs):
            self.app.push_screen(RunScreen(self.runs[index]))

    def action_close(self) -> None:
        self.dismiss(None)


class RunScreen(Screen[None]):
    """One run, as ``pivot show RUN`` shows it."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
    ]

    DEFAULT_CSS = _CSS.format(cls="RunScreen")

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        yield Static(run_header(self.record), classes="view-title")
        table: DataTable[Text | str] = DataTable(
            id="run-stages", cursor_type="row", zebra_stripes=True
        )
        yield table
        yield Static("Esc: back to the run list", classes="view-message")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Status", "Stage", "Duration", "Reason")
        for stage in self.record["stages"]:
            cells = stage_cells(stage)
            table.add_row(
                Text(cells.status, _status_style(cells.status)),
                cells.stage,
                cells.duration,
                cells.reason,
            )
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
