"""A one-line tab bar for the detail area.

Textual's ``TabbedContent`` costs ~350 ms to mount (measured here), a third of the first-screen
budget; this bar plus a ``ContentSwitcher`` does the same job for the detail tabs in a few ms.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget


class TabBar(Widget):
    """Tab labels on one line; click one (or use the app's 1-4 keys) to switch."""

    COMPONENT_CLASSES = {"tabbar--active", "tabbar--inactive", "tabbar--key"}

    DEFAULT_CSS = """
    TabBar {
        height: 1;
        width: 1fr;
        & > .tabbar--active { color: $text; background: $primary-muted; text-style: bold; }
        & > .tabbar--inactive { color: $text-muted; }
        & > .tabbar--key { color: $text-accent; }
    }
    """

    class Changed(Message):
        def __init__(self, tab: str) -> None:
            super().__init__()
            self.tab = tab

    def __init__(
        self, tabs: Sequence[tuple[str, str]], *, active: str, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.tabs = list(tabs)  # (id, label)
        self.active = active
        self._spans: list[tuple[int, int, str]] = []

    def activate(self, tab: str) -> None:
        if tab != self.active:
            self.active = tab
            self.refresh()

    def offset_of(self, tab: str) -> int:
        """The column where ``tab``'s label starts (for mouse tests)."""
        self._layout_spans()
        return next(start for start, _, name in self._spans if name == tab)

    def _layout_spans(self) -> None:
        self._spans = []
        x = 1
        for index, (tab, label) in enumerate(self.tabs):
            width = len(f" {index + 1} {label} ")
            self._spans.append((x, x + width, tab))
            x += width + 1

    def render(self) -> Text:
        self._layout_spans()
        text = Text(" ")
        active = self.get_component_rich_style("tabbar--active")
        inactive = self.get_component_rich_style("tabbar--inactive")
        key = self.get_component_rich_style("tabbar--key")
        for index, (tab, label) in enumerate(self.tabs):
            style = active if tab == self.active else inactive
            text.append(" ", style)
            text.append(str(index + 1), style + key if tab != self.active else style)
            text.append(f" {label} ", style)
            text.append(" ")
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, tab in self._spans:
            if start <= event.x < end:
                self.activate(tab)
                self.post_message(self.Changed(tab))
                return
