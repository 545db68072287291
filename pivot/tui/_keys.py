"""What the help screen and the command palette list: every key, grouped by where it works."""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding, BindingType

from pivot.tui._dag_view import DagView
from pivot.tui._datadiff_screen import DataDiffScreen
from pivot.tui._log_view import LogView
from pivot.tui._metrics_screen import MetricsScreen
from pivot.tui._screens import binding_rows
from pivot.tui._stage_list import StageList
from pivot.tui._stages_pane import StagesPane

#: The main app's keys (the footer shows those with ``show``).
APP_BINDINGS: list[BindingType] = [
    Binding("r", "run_selected", "Run"),
    Binding("R", "run_stale", "Run all"),
    Binding("f", "force_run", "Force"),
    Binding("c", "cancel_run", "Cancel run"),
    Binding("w", "toggle_watch", "Watch"),
    Binding("e", "next_failure", "Next error"),
    Binding("F", "toggle_follow", "Follow run", show=False),
    Binding("s", "refresh_status", "Refresh status", show=False),
    Binding("d", "toggle_dag", "DAG pane (again: hide it)", show=False),
    Binding("1", "show_tab('logs')", "Logs tab", show=False),
    Binding("2", "show_tab('explain')", "Explain tab", show=False),
    Binding("3", "show_tab('params')", "Params tab", show=False),
    Binding("4", "show_tab('outputs')", "Outputs tab", show=False),
    Binding("m", "metrics", "Metrics (there, d: diff vs HEAD)", show=False),
    Binding("H", "history", "Run history", show=False),
    Binding("o", "open_editor", "Open the stage's source in $EDITOR", show=False),
    Binding("question_mark", "help", "Help"),
    Binding("q", "quit", "Quit"),
    Binding("ctrl+c", "interrupt", "Cancel run / quit", show=False, priority=True, system=True),
]

#: Actions of the main screen: they do not apply while another screen is on top.
MAIN_SCREEN_ACTIONS = {
    "run_selected",
    "run_stale",
    "force_run",
    "toggle_watch",
    "refresh_status",
    "toggle_dag",
    "show_tab",
    "next_failure",
    "metrics",
    "history",
    "open_editor",
}

#: The app's actions as the palette offers them (only those that apply now are shown).
PALETTE_ACTIONS: dict[str, tuple[str, str]] = {
    "run_selected": ("Run selected stage", "run it and its stale upstream (r)"),
    "run_stale": ("Run all stale stages", "like `pivot run` (R)"),
    "force_run": ("Force-run selected stage", "like `pivot run STAGE -f` (f)"),
    "cancel_run": ("Cancel the run", "stop running stages; nothing they wrote is kept (c)"),
    "toggle_watch": ("Toggle watch mode", "re-run when files change (w)"),
    "next_failure": ("Go to the next failed stage", "its log at the first error (e)"),
    "toggle_follow": ("Follow the run", "select each stage as it starts (F)"),
    "refresh_status": ("Refresh status", "re-read pipeline.py and re-plan (s)"),
    "toggle_dag": ("DAG pane", "go to the DAG pane; from it, hide it (d)"),
    "metrics": ("Show metrics", "like `pivot metrics show`; d: diff against HEAD (m)"),
    "history": ("Show run history", "like `pivot history`; Enter: a run's stages (H)"),
    "open_editor": ("Open stage source in $EDITOR", "at its function's line (o)"),
    "help": ("Show keys", "every key binding (?)"),
}


def help_groups(app_bindings: Sequence[BindingType]) -> list[tuple[str, list[tuple[str, str]]]]:
    return [
        (
            "Anywhere",
            [
                *binding_rows(app_bindings),
                ("Ctrl+P", "Command palette (the same actions)"),
                ("Ctrl+Q", "Quit"),
                ("Tab / Shift+Tab", "Next / previous pane"),
            ],
        ),
        ("Stage pane", binding_rows([*StagesPane.BINDINGS, *StageList.BINDINGS])),
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
        ("Metrics", binding_rows(MetricsScreen.BINDINGS)),
        (
            "History",
            [("Enter", "The run's stages (like `pivot show RUN`)"), ("Esc", "Back")],
        ),
        (
            "Mouse",
            [
                ("click", "Select a stage (stage or DAG pane), a tab, a button"),
                ("wheel", "Scroll the pane under the pointer"),
            ],
        ),
    ]
