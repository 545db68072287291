"""The stage pane: every stage with a live status symbol and elapsed time (Line API).

With stages of several pipelines on screen, each pipeline's stages sit under a heading line
(``demo · 3 stages``); headings are drawn, never selected.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pivot.core.pipeline.selection import grouped
from pivot.render.counts import plural
from pivot.tui._model import PHASE_STYLE, Phase, PipelineModel
from pivot.tui._text import format_duration, shorten_middle

#: Component classes for the theme colours used by status symbols (see ``PHASE_STYLE``).
TONE_CLASSES = {
    "success": "tone--success",
    "error": "tone--error",
    "warning": "tone--warning",
    "accent": "tone--accent",
    "muted": "tone--muted",
    "waiting": "tone--waiting",
}

TONE_CSS = """
& > .tone--success { color: $text-success; }
& > .tone--error { color: $text-error; text-style: bold; }
& > .tone--warning { color: $text-warning; }
& > .tone--accent { color: $text-accent; text-style: bold; }
& > .tone--muted { color: $text-muted; }
& > .tone--waiting { color: $text-primary; text-style: bold; }
"""


@dataclasses.dataclass(frozen=True)
class Heading:
    """The line above a pipeline's stages: its name, and how many of its stages are shown."""

    #: None for the stages named without a pipeline (the root pipeline.py's, as `pivot list`
    #: calls them).
    pipeline: str | None
    shown: int
    total: int

    @property
    def text(self) -> str:
        title = self.pipeline if self.pipeline is not None else "pipeline.py"
        count = plural(self.total, "stage")
        return f"{title} · {count if self.shown == self.total else f'{self.shown} of {count}'}"


def pane_lines(rows: Sequence[str], order: Sequence[str]) -> list[str | Heading]:
    """The lines drawn for ``rows`` (stage names): the rows themselves, each pipeline's under a
    heading when they come from two pipelines or more. ``order`` is every stage, for totals."""
    groups = grouped(rows)
    if len(groups) < 2:
        return list(rows)
    totals = {group: len(members) for group, members in grouped(order)}
    lines: list[str | Heading] = []
    for group, members in groups:
        lines.append(Heading(group, len(members), totals.get(group, len(members))))
        lines.extend(members)
    return lines


class StageList(ScrollView, can_focus=True):
    """Stages in run order (optionally filtered); the cursor row is the selected stage.

    ``rows`` are the stage names shown and ``cursor`` indexes them; the lines drawn are
    ``rows`` with a heading above each pipeline's (see :func:`pane_lines`), so the cursor can
    only ever be on a stage.
    """

    BINDINGS = [
        Binding("j,down", "cursor(1)", "Down", show=False),
        Binding("k,up", "cursor(-1)", "Up", show=False),
        Binding("g,home", "first", "First", show=False),
        Binding("G,end", "last", "Last", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    COMPONENT_CLASSES = {
        "stages--cursor",
        "stages--cursor-blurred",
        "stages--time",
        "stages--heading",
        *TONE_CLASSES.values(),
    }

    DEFAULT_CSS = (
        """
    StageList {
        height: 1fr;
        overflow-x: hidden;
        & > .stages--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
        & > .stages--cursor-blurred { background: $block-cursor-blurred-background; text-style: bold; }
        & > .stages--time { color: $text-muted; }
        & > .stages--heading { color: $foreground; text-style: bold; }
    """
        + TONE_CSS
        + "}"
    )

    class Highlighted(Message):
        """The cursor moved to ``stage`` (None when the filter matches nothing)."""

        def __init__(self, stage: str | None) -> None:
            super().__init__()
            self.stage = stage

    class FilterCleared(Message):
        pass

    def __init__(
        self, model: PipelineModel, clock: Callable[[], float], *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.model = model
        self.clock = clock
        self.rows: list[str] = list(model.order)
        self.cursor = 0
        self.filter_text = ""
        self._index: dict[str, int] = {}
        #: What each line of the pane draws: a stage name or a pipeline's heading.
        self._lines: list[str | Heading] = []
        #: The line of each row (``_line_of[cursor]`` is the cursor's line).
        self._line_of: list[int] = []
        self._reindex()

    # -- data ----------------------------------------------------------------------------------

    def _reindex(self) -> None:
        self._index = {name: i for i, name in enumerate(self.rows)}
        self._lines = pane_lines(self.rows, self.model.order)
        self._line_of = [i for i, line in enumerate(self._lines) if isinstance(line, str)]
        self.virtual_size = Size(self.size.width, len(self._lines))

    @property
    def headed(self) -> bool:
        """Whether the pane shows pipeline headings (the rows come from several pipelines)."""
        return len(self._lines) > len(self.rows)

    def _row_at(self, line: int) -> int | None:
        """The row drawn on ``line``; a heading's first stage for a heading; None past the end."""
        if not 0 <= line < len(self._lines):
            return None
        # the first row on or after the line: a heading is always followed by its stages
        return bisect.bisect_left(self._line_of, line)

    @property
    def selected(self) -> str | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def set_model(self, model: PipelineModel) -> None:
        self.model = model
        self.apply_filter(self.filter_text, keep=self.selected)

    def apply_filter(self, query: str, *, keep: str | None = None) -> None:
        """Show only stages matching ``query``, keeping ``keep`` (or the first row) selected."""
        keep = keep if keep is not None else self.selected
        self.filter_text = query
        self.rows = self.model.filtered(query)
        self._reindex()
        self.cursor = self._index.get(keep, 0) if keep is not None else 0
        self.refresh()
        # Once the rows are laid out again, bring the kept selection into view.
        self.call_after_refresh(self._scroll_to_cursor)
        self._announce()

    def refresh_stages(self, names: set[str] | None = None) -> None:
        """Redraw the rows of ``names`` (all when None) if they are visible."""
        if names is None or len(names) > 32:
            self.refresh()
            return
        for name in names:
            index = self._index.get(name)
            if index is not None:
                self.refresh_line(self._line_of[index])

    def select(self, name: str) -> None:
        index = self._index.get(name)
        if index is None and self.filter_text:
            self.apply_filter("", keep=name)
            return
        if index is not None:
            self._move(index)

    # -- movement ------------------------------------------------------------------------------

    def _move(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(index, len(self.rows) - 1))
        if index == self.cursor:
            self._scroll_to_cursor()
            return
        previous = self.cursor
        self.cursor = index
        self.refresh_line(self._line_of[previous])
        self.refresh_line(self._line_of[index])
        self._scroll_to_cursor()
        self._announce()

    def _scroll_to_cursor(self) -> None:
        if not self.rows:
            return
        line = self._line_of[self.cursor]
        # The first stage of a pipeline brings its heading into view with it.
        top = line - 1 if line and isinstance(self._lines[line - 1], Heading) else line
        self.scroll_to_region(
            Region(0, top, 1, line - top + 1), animate=False, force=True, immediate=True
        )

    def _announce(self) -> None:
        # The list is the sender even when a parent's handler moved it: Textual stops a
        # message at its sender's child, so the pane's filter box would otherwise swallow it.
        self.post_message(self.Highlighted(self.selected).set_sender(self))

    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        if not self.rows:
            return
        line = self._line_of[self.cursor] + direction * max(1, self.size.height - 1)
        row = self._row_at(max(0, min(line, len(self._lines) - 1)))
        if row is not None:
            self._move(row)

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self.rows) - 1)

    def action_clear_filter(self) -> None:
        if self.filter_text:
            self.apply_filter("")
            self.post_message(self.FilterCleared())

    def on_click(self, event: events.Click) -> None:
        row = self._row_at(event.y + self.scroll_offset.y)
        if row is not None:
            self._move(row)

    def _refresh_cursor(self) -> None:
        if self.rows:
            self.refresh_line(self._line_of[self.cursor])

    def on_focus(self) -> None:
        self._refresh_cursor()

    def on_blur(self) -> None:
        self._refresh_cursor()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._lines))

    # -- drawing -------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        # The region left of a vertical scrollbar: the time column must not slide under it.
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self._lines):
            if not self.rows and y == 0:
                text = (
                    f" no stage matches {self.filter_text!r}" if self.filter_text else " no stages"
                )
                return Strip([Segment(text, base)]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        line = self._lines[index]
        if isinstance(line, Heading):
            style = self.get_component_rich_style("stages--heading")
            heading = base + Style(color=style.color, bold=style.bold)
            text = " " + shorten_middle(line.text, max(1, width - 1))
            return Strip([Segment(text, heading)]).adjust_cell_length(width, base)
        if index == self._line_of[self.cursor]:
            # The cursor's colours go into every segment's style: Strip.apply_style would put
            # them under the segments' own background, and the highlight would be lost.
            base = base + self.get_component_rich_style(
                "stages--cursor" if self.has_focus else "stages--cursor-blurred"
            )
        name = line
        state = self.model.stages[name]
        phase = state.phase
        symbol, tone = PHASE_STYLE[phase]
        if phase is Phase.RUNNING:
            symbol = _spinner(self.clock())
        tone_style = self.get_component_rich_style(TONE_CLASSES[tone])
        tone_colour = base + Style(color=tone_style.color, bold=tone_style.bold)
        # A stage waiting for a resource says which in the time column, in its colour.
        waiting = state.waiting_label if phase is Phase.WAITING else None
        elapsed = waiting or format_duration(state.elapsed(self.clock()))
        time_style = self.get_component_rich_style("stages--time")
        if elapsed and len(elapsed) > width // 2:
            elapsed = shorten_middle(elapsed, max(1, width // 2))
        # Under a heading, a stage is indented one cell and its `demo/` (the heading's) dropped.
        indent = " " if self.headed else ""
        prefix, slash, rest = name.partition("/")
        label = rest if slash and indent else name
        name_width = max(1, width - 3 - len(indent) - (len(elapsed) + 2 if elapsed else 1))
        shown = shorten_middle(label, name_width).ljust(name_width)
        # a composed stage's pipeline, dimmed: the rows of one pipeline read as a group
        dimmed = len(prefix) + 1 if slash and not indent and shown.startswith(prefix + "/") else 0
        segments = [
            Segment(" " + indent, base),
            Segment(symbol, tone_colour),
            Segment(" ", base),
        ]
        if dimmed:
            segments.append(Segment(shown[:dimmed], base + Style(color=time_style.color)))
        segments.append(Segment(shown[dimmed:], base))
        if elapsed:
            style = tone_colour if waiting else base + Style(color=time_style.color)
            segments.append(Segment(" " + elapsed + " ", style))
        return Strip(segments).adjust_cell_length(width, base)


_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def _spinner(now: float) -> str:
    return _SPINNER[int(now * 10) % len(_SPINNER)]
