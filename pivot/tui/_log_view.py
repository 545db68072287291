"""The Logs tab: a stage's output as a terminal shows it, following the tail, with search
(``/``, ``n``, ``N``) and a time column on demand (``t``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import overload

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from pivot.tui._log_lines import LogEntry, format_time

#: Drawn left of a line the stage wrote to stderr (a blank for stdout lines).
STDERR_MARK = "▌"
_TIME_WIDTH = len(format_time(0.0)) + 1


class LogView(ScrollView, can_focus=True):
    """A stage's log lines, drawn lazily (only visible lines are rendered).

    Each :class:`LogEntry` keeps the stage's SGR colour codes; they are drawn as colours. A
    stderr line gets a gutter mark and the error text colour under the stage's own colours.
    A ``partial`` last line (a progress bar being redrawn) is replaced by the next write.
    It follows the tail while scrolled to the bottom; scrolling up (or searching) stops that,
    ``G``/End resumes it.
    """

    ALLOW_SELECT = True

    BINDINGS = [
        # Priority: the box takes focus before the keys that came with `/` are handed out.
        Binding("slash", "search", "Search", priority=True),
        Binding("n", "next_match", "Next match"),
        Binding("N", "previous_match", "Prev match", show=False),
        Binding("t", "toggle_times", "Times"),
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    COMPONENT_CLASSES = {"log--match", "log--stderr", "log--stderr-mark", "log--time"}

    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        background: $surface;
        color: $text;
        overflow: scroll;
        &:focus { background-tint: $foreground 5%; }
        & > .log--match { background: $warning 40%; text-style: bold; }
        & > .log--stderr { color: $text-error; }
        & > .log--stderr-mark { color: $error; }
        & > .log--time { color: $text-muted; }
    }
    """

    #: Show when each line arrived, in a column on the left.
    show_times: var[bool] = var(False)

    class SearchResult(Message):
        def __init__(self, text: str, line: int | None, total: int) -> None:
            super().__init__()
            self.text = text
            self.line = line
            self.total = total

    def __init__(self, open_search: Callable[[], None], *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: Shows the search box. Called, not messaged: the box must have focus before the
        #: next key already queued behind ``/`` is handled.
        self._open_search = open_search
        self._entries: list[LogEntry] = []
        self._width = 0
        self._strips: LRUCache[int, Strip] = LRUCache(1024)
        self.auto_scroll = True
        self.search_text = ""
        self.match_line: int | None = None

    # -- content -------------------------------------------------------------------------------

    @property
    def entries(self) -> Sequence[LogEntry]:
        return self._entries

    @property
    def lines(self) -> Sequence[str]:
        """The lines as plain text (what search looks at)."""
        return _PlainLines(self._entries)

    @property
    def line_count(self) -> int:
        return len(self._entries)

    def reset(self, lines: Iterable[LogEntry]) -> None:
        self.match_line = None
        self._entries = []
        self._width = 0
        self._strips.clear()
        self.write_lines(list(lines), scroll_end=True)
        self.refresh()

    def write_lines(self, lines: Sequence[LogEntry], scroll_end: bool | None = None) -> None:
        """Append ``lines``; they replace a partial last line first."""
        at_end = self.is_vertical_scroll_end
        entries = self._entries
        start = len(entries)
        if lines and entries and entries[-1].partial:
            entries.pop()
            start -= 1
        entries.extend(lines)
        if lines:
            self._width = max(self._width, max(entry.width for entry in lines))
        for y in range(start, len(entries)):
            self._strips.discard(y)
        self._update_virtual_size()
        self.refresh_lines(start, len(entries) - start)
        follow = self.auto_scroll if scroll_end is None else scroll_end
        if follow and (scroll_end or at_end) and not self.is_vertical_scrollbar_grabbed:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.refresh()

    def clear(self) -> None:
        self.reset([])

    def action_toggle_times(self) -> None:
        self.show_times = not self.show_times

    def watch_show_times(self) -> None:
        self._strips.clear()
        self._update_virtual_size()
        self.refresh()

    def _prefix_width(self) -> int:
        return len(STDERR_MARK) + (_TIME_WIDTH if self.show_times else 0)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self._width + self._prefix_width(), len(self._entries))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    # -- search --------------------------------------------------------------------------------

    def action_search(self) -> None:
        self._open_search()

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

    # -- selection -----------------------------------------------------------------------------

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        text = "\n".join(self._prefix_plain(entry) + entry.plain for entry in self._entries)
        return selection.extract(text), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self._strips.clear()
        self.refresh()

    # -- drawing -------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self._entries):
            return Strip.blank(width, base)
        strip = self._strips.get(index)
        selection = self.text_selection
        if strip is None or index == self.match_line or selection is not None:
            strip = self._render_entry(index, selection)
            if index != self.match_line and selection is None:
                self._strips[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, index)

    def _render_entry(self, index: int, selection: Selection | None) -> Strip:
        entry = self._entries[index]
        line = Text(self._prefix_plain(entry), no_wrap=True, end="")
        if self.show_times:
            line.stylize(self.get_component_rich_style("log--time"), 0, _TIME_WIDTH - 1)
        if entry.stderr:
            start = _TIME_WIDTH if self.show_times else 0
            mark = self.get_component_rich_style("log--stderr-mark")
            line.stylize(mark, start, start + len(STDERR_MARK))
        body = Text.from_ansi(entry.text, no_wrap=True, end="") if "\x1b" in entry.text else None
        body = body or Text(entry.text, no_wrap=True, end="")
        if "\t" in body.plain:
            body.expand_tabs()
        if entry.stderr:
            body.stylize_before(self.get_component_rich_style("log--stderr"))
        line.append_text(body)
        line.stylize_before(self.rich_style)
        if index == self.match_line:
            match = self.get_component_rich_style("log--match")
            line.stylize(Style(bgcolor=match.bgcolor, bold=True))
        if selection is not None:
            span = selection.get_span(index)
            if span is not None:
                start, end = span
                style = self.screen.get_component_rich_style("screen--selection")
                line.stylize(style, start, len(line) if end == -1 else end)
        return Strip(line.render(self.app.console), line.cell_len)

    def _prefix_plain(self, entry: LogEntry) -> str:
        mark = STDERR_MARK if entry.stderr else " "
        return f"{format_time(entry.time)} {mark}" if self.show_times else mark


class _PlainLines(Sequence[str]):
    """A read-only view of log entries as plain text."""

    def __init__(self, entries: list[LogEntry]) -> None:
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [entry.plain for entry in self._entries[index]]
        return self._entries[index].plain
