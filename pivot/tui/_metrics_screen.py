"""The metrics screen (``m``): the project's metrics as ``pivot metrics show`` lists them, and
(``d``) their changes since git HEAD as ``pivot metrics diff`` does, coloured like the CLI.

The facts come from :mod:`pivot.core.reports.metrics` and their text from
:mod:`pivot.render.metrics`, the functions the CLI uses. Reading runs in a worker thread; the
pipeline (which outputs are metrics) comes from ``load_pipeline``, which the app routes
through its engine gate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from pivot.core.reports.metrics import (
    MetricsDiff,
    MetricsFile,
    compare_metrics,
    select_outputs,
    workspace_metrics,
)
from pivot.render.metrics import DEFAULT_PRECISION, MISSING, STATUS_COLORS, diff_cells, show_rows
from pivot.tui._engine_gate import GateClosed

if TYPE_CHECKING:
    from pivot.core.pipeline.discovery import PipelineDefinition

__all__ = ["MetricsScreen"]


@dataclasses.dataclass(frozen=True)
class _Result:
    files: list[MetricsFile] | None = None
    diff: MetricsDiff | None = None
    declared: int = 0
    error: str | None = None


class MetricsRead(Message):
    def __init__(self, diff: bool, result: _Result) -> None:
        super().__init__()
        self.diff = diff
        self.result = result


class MetricsScreen(Screen[None]):
    BINDINGS = [
        Binding("d", "toggle_diff", "Diff vs HEAD"),
        Binding("escape", "close", "Back"),
        Binding("q", "close", "Back", show=False),
    ]

    DEFAULT_CSS = """
    MetricsScreen { layout: vertical; }
    MetricsScreen #metrics-title { height: 1; background: $panel; color: $text; padding: 0 1; }
    MetricsScreen #metrics-table { height: 1fr; }
    MetricsScreen #metrics-message { height: auto; max-height: 3; padding: 0 1; }
    """

    def __init__(
        self,
        root: Path,
        load_pipeline: Callable[[], PipelineDefinition],
        *,
        rev: str = "HEAD",
        precision: int = DEFAULT_PRECISION,
    ) -> None:
        super().__init__()
        self.root = root
        self.load_pipeline = load_pipeline
        self.rev = rev
        self.precision = precision
        self.showing_diff = False

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="metrics-title")
        yield DataTable(id="metrics-table", cursor_type="row", zebra_stripes=True)
        yield Static("reading metrics…", id="metrics-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self._read(self.showing_diff)

    def _title(self) -> str:
        if self.showing_diff:
            return f"Metrics · changes since {self.rev} (like `pivot metrics diff`) · d: values"
        return f"Metrics · workspace (like `pivot metrics show`) · d: diff against {self.rev}"

    @work(thread=True, exclusive=True, group="metrics", exit_on_error=False)
    def _read(self, diff: bool) -> None:
        try:
            pipeline = self.load_pipeline()
            selected = select_outputs(pipeline, self.root, (), "metric")
            if diff:
                result = _Result(
                    diff=compare_metrics(self.root, selected, self.rev), declared=len(selected)
                )
            else:
                result = _Result(
                    files=workspace_metrics(self.root, selected), declared=len(selected)
                )
        except GateClosed:
            return
        except Exception as exc:
            from pivot.tui._detail_pane import describe

            result = _Result(error=describe(exc))
        self.post_message(MetricsRead(diff, result))

    def on_metrics_read(self, message: MetricsRead) -> None:
        if message.diff != self.showing_diff:
            return  # toggled meanwhile; the newer read is on its way
        table = self.query_one(DataTable)
        table.clear(columns=True)
        result = message.result
        if result.error is not None:
            self._message(Text(result.error, Style(color="red")))
            return
        if result.declared == 0:
            self._message(Text("no metrics: the pipeline declares no pivot.Metric outputs"))
            return
        if result.diff is not None:
            self._show_diff(table, result.diff)
        elif result.files is not None:
            self._show_values(table, result.files)

    def _show_values(self, table: DataTable[Text | str], files: list[MetricsFile]) -> None:
        table.add_columns("Path", "Metric", "Value")
        previous = None
        for path, key, value in show_rows(files, self.precision):
            table.add_row(path if path != previous else "", key, value)
            previous = path
        notes = Text()
        for file in files:
            if file.values is None:
                notes.append(file.path, Style(color="red"))
                notes.append(f": {file.error or MISSING}  ")
            elif not file.values:
                notes.append(f"{file.path}: empty  ", Style(dim=True))
        self._message(notes)

    def _show_diff(self, table: DataTable[Text | str], diff: MetricsDiff) -> None:
        table.add_columns("Path", "Metric", diff.rev, "", "workspace", "Change")
        previous = None
        for change in diff.changes:
            old, new, delta = diff_cells(change, self.precision)
            style = Style.parse(STATUS_COLORS[change.status])
            table.add_row(
                change.path if change.path != previous else "",
                change.key,
                old,
                "→",
                Text(new, style),
                Text(delta, style),
            )
            previous = change.path
        notes = Text()
        if not diff.changes and not diff.errors:
            notes.append(f"no metrics changed since {diff.rev}")
        for path, error in diff.errors.items():
            notes.append(path, Style(color="red"))
            notes.append(f": {error}  ")
        self._message(notes)

    def _message(self, text: Text) -> None:
        self.query_one("#metrics-message", Static).update(text)

    def action_toggle_diff(self) -> None:
        self.showing_diff = not self.showing_diff
        self.query_one("#metrics-title", Static).update(self._title())
        self._message(Text("reading metrics…"))
        self._read(self.showing_diff)

    def action_close(self) -> None:
        self.dismiss(None)
