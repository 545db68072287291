"""Modal screens: key help and the quit confirmation."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


def binding_rows(bindings: Sequence[BindingType]) -> list[tuple[str, str]]:
    """(keys, description) for every binding, keys as the user types them."""
    rows: list[tuple[str, str]] = []
    for binding in bindings:
        if isinstance(binding, Binding):
            keys, description = binding.key, binding.description
            display = binding.key_display
        else:
            keys, description = binding[0], binding[2] if len(binding) > 2 else binding[1]
            display = None
        rows.append((display or " ".join(_key_name(k) for k in keys.split(",")), description))
    return rows


_KEY_NAMES = {
    "slash": "/",
    "question_mark": "?",
    "escape": "Esc",
    "enter": "Enter",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "tab": "Tab",
    "shift+tab": "Shift+Tab",
}


def _key_name(key: str) -> str:
    key = key.strip()
    if key in _KEY_NAMES:
        return _KEY_NAMES[key]
    if key.startswith("ctrl+"):
        return "Ctrl+" + key[5:]
    return key


class HelpScreen(ModalScreen[None]):
    """Every key binding, grouped by where it applies. ``?`` (or Esc) closes it."""

    BINDINGS = [
        Binding("question_mark", "close", "Close help"),
        Binding("escape", "close", "Close help", show=False),
        Binding("q", "close", "Close help", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; max-width: 95%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, groups: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "? or Esc closes"
            yield Static(self._table(), id="help-table")

    def _table(self) -> Table:
        table = Table(box=None, show_header=False, pad_edge=False, expand=True)
        table.add_column("keys", no_wrap=True, style=Style(bold=True), min_width=12)
        table.add_column("action")
        for index, (title, rows) in enumerate(self.groups):
            if index:
                table.add_row("", "")
            table.add_row(Text(title, Style(underline=True, bold=True)), "")
            seen: set[tuple[str, str]] = set()
            for keys, description in rows:
                if (keys, description) not in seen:
                    seen.add((keys, description))
                    table.add_row(keys, description)
        return table

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmQuit(ModalScreen[bool]):
    """Asked when quitting during a run: quitting cancels it, as Ctrl+C does headless."""

    BINDINGS = [
        Binding("y", "answer(True)", "Cancel run and quit"),
        Binding("n,escape", "answer(False)", "Keep running"),
    ]

    DEFAULT_CSS = """
    ConfirmQuit { align: center middle; }
    ConfirmQuit > Vertical {
        width: 56; max-width: 95%; height: auto; border: round $warning;
        background: $surface; padding: 1 2;
    }
    ConfirmQuit Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmQuit Button { margin-left: 1; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "A run is in progress. Quitting cancels it: running stages are stopped and "
                "nothing they wrote is committed.\n\nCancel the run and quit?"
            )
            with Horizontal():
                yield Button("Keep running (n)", id="no")
                yield Button("Cancel run and quit (y)", id="yes", variant="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
