"""The Logs tab: a stage's output, following the tail, with search (``/``, ``n``, ``N``)."""

from __future__ import annotations

from rich.style import Style
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Log


class LogView(Log):
    """A :class:`Log` that highlights the current search match.

    Lines arrive in batches (``write_lines``), already stripped of terminal escapes. It
    follows the tail while scrolled to the bottom; scrolling up (or searching) stops that,
    ``G``/End resumes it.
    """

    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("n", "next_match", "Next match"),
        Binding("N", "previous_match", "Prev match"),
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    COMPONENT_CLASSES = {"log--match"}

    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        & > .log--match { background: $warning 40%; text-style: bold; }
    }
    """

    class SearchRequested(Message):
        pass

    class SearchResult(Message):
        def __init__(self, text: str, line: int | None, total: int) -> None:
            super().__init__()
            self.text = text
            self.line = line
            self.total = total

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=None, auto_scroll=True)
        self.search_text = ""
        self.match_line: int | None = None

    def reset(self, lines: list[str]) -> None:
        self.match_line = None
        self.clear()
        if lines:
            self.write_lines(lines, scroll_end=True)
        else:
            self.refresh()

    # -- search --------------------------------------------------------------------------------

    def action_search(self) -> None:
        self.post_message(self.SearchRequested())

    def search(self, query: str, *, forward: bool = True, from_line: int | None = None) -> None:
        """Move to the next (or previous) line containing ``query`` (case-insensitive)."""
        self.search_text = query
        needle = query.lower()
        lines = self.lines
        count = len(lines)
        if not needle or not count:
            self.match_line = None
            self.refresh()
            self.post_message(self.SearchResult(query, None, 0))
            return
        if from_line is None:
            if self.match_line is not None:
                from_line = self.match_line + (1 if forward else -1)
            else:
                from_line = int(self.scroll_offset.y) if forward else count - 1
        step = 1 if forward else -1
        found = None
        for offset in range(count):
            index = (from_line + step * offset) % count
            if needle in lines[index].lower():
                found = index
                break
        self.match_line = found
        if found is not None:
            self.auto_scroll = False
            self.scroll_to(y=max(0, found - self.size.height // 3), animate=False, immediate=True)
        self.refresh()
        total = sum(1 for line in lines if needle in line.lower()) if found is not None else 0
        self.post_message(self.SearchResult(query, found, total))

    def action_next_match(self) -> None:
        if self.search_text:
            self.search(self.search_text, forward=True)

    def action_previous_match(self) -> None:
        if self.search_text:
            self.search(self.search_text, forward=False)

    def action_scroll_end(self) -> None:
        self.auto_scroll = True
        self.scroll_end(animate=False, immediate=True)

    def clear_search(self) -> None:
        self.search_text = ""
        self.match_line = None
        self.auto_scroll = True
        self.refresh()

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.match_line is not None and int(self.scroll_offset.y) + y == self.match_line:
            style = self.get_component_rich_style("log--match")
            strip = strip.apply_style(Style(bgcolor=style.bgcolor, bold=True))
        return strip
