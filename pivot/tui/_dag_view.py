"""The DAG pane: the graph around the selected stage (:mod:`pivot.tui._dag_graph`), with keys
to walk it and a ``/`` filter to jump anywhere."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from pivot.tui._dag_graph import DagGraph, Drawing, Kind, Span, draw, draw_matches
from pivot.tui._model import PHASE_STYLE, PipelineModel
from pivot.tui._stage_list import TONE_CLASSES, TONE_CSS


class DagView(Widget, can_focus=True):
    """The selected stage in the middle, ancestors above, descendants below. The drawing is
    recomputed on every paint (only the neighbourhood is laid out, so it is cheap), which keeps
    it true to the latest statuses without any bookkeeping."""

    BINDINGS = [
        Binding("k,up", "parent", "Parent"),
        Binding("j,down", "child", "Child"),
        Binding("h,left", "sibling(-1)", "Previous sibling", show=False),
        Binding("l,right", "sibling(1)", "Next sibling", show=False),
        Binding("g,home", "end(0)", "First stage", show=False),
        Binding("G,end", "end(-1)", "Last stage", show=False),
        Binding("slash", "filter", "Find stage"),
    ]

    COMPONENT_CLASSES = {
        "dag--edge",
        "dag--selected",
        "dag--selected-blurred",
        "dag--more",
        "dag--note",
        "dag--prompt",
        *TONE_CLASSES.values(),
    }

    DEFAULT_CSS = (
        """
    DagView {
        height: 1fr;
        & > .dag--edge { color: $text-muted; }
        & > .dag--selected { background: $block-cursor-background; text-style: bold; }
        & > .dag--selected-blurred { background: $block-cursor-blurred-background; text-style: bold; }
        & > .dag--more { color: $text-muted; text-style: italic; }
        & > .dag--note { color: $text-muted; }
        & > .dag--prompt { color: $text-accent; text-style: bold; }
    """
        + TONE_CSS
        + "}"
    )

    #: The selected stage (drawn in the middle).
    selected: reactive[str | None] = reactive(None)
    #: The filter's text while the filter is open, else None.
    filter_text: reactive[str | None] = reactive(None)

    class Selected(Message):
        def __init__(self, stage: str) -> None:
            super().__init__()
            self.stage = stage

    def __init__(self, model: PipelineModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.graph = _graph_of(model)
        self.drawing = Drawing(())
        #: Where each stage was reached from along an edge: going back the way you came.
        self._came_from: dict[str, str] = {}

    def set_model(self, model: PipelineModel) -> None:
        self.model = model
        self.graph = _graph_of(model)
        self._came_from.clear()
        self.refresh()

    # -- drawing -------------------------------------------------------------------------------

    def _style_of(self, name: str) -> tuple[str, str]:
        state = self.model.stages.get(name)
        return PHASE_STYLE[state.phase] if state is not None else ("?", "muted")

    def make_drawing(self) -> Drawing:
        width, height = self.size
        if self.filter_text is not None:
            matches = self.model.filtered(self.filter_text) if self.filter_text else []
            return draw_matches(
                self.graph, matches, self.filter_text, width, height, self._style_of
            )
        return draw(self.graph, self.selected, width, height, self._style_of)

    def render_lines(self, crop: Region) -> list[Strip]:
        self.drawing = self.make_drawing()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        if y >= len(self.drawing.lines):
            return Strip.blank(self.size.width, base)
        segments = [
            Segment(span.text, self._span_style(span, base)) for span in self.drawing.lines[y]
        ]
        return Strip(segments).adjust_cell_length(self.size.width, base)

    def _span_style(self, span: Span, base: Style) -> Style:
        kind = span.kind
        if kind is Kind.BLANK:
            return base
        if kind in (Kind.FRAME, Kind.SYMBOL):
            style = base + self.get_component_rich_style(TONE_CLASSES.get(span.tone, "tone--muted"))
        elif kind is Kind.NAME:
            style = base
        else:
            style = base + self.get_component_rich_style(f"dag--{kind}")
        if span.selected:
            cursor = "dag--selected" if self.has_focus else "dag--selected-blurred"
            selected = self.get_component_rich_style(cursor)
            style += Style(bgcolor=selected.bgcolor, bold=True)
        return style

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- selection -----------------------------------------------------------------------------

    def select(self, name: str | None) -> None:
        """Centre the drawing on ``name`` (the app calls this when the stage pane moves)."""
        self.selected = name

    def _choose(self, name: str, came_from: str | None = None) -> None:
        if came_from is not None:
            self._came_from[name] = came_from
        self.selected = name
        self.post_message(self.Selected(name))

    def _current(self) -> str | None:
        if self.selected in self.graph.rank:
            return self.selected
        return self.graph.order[0] if self.graph.order else None

    def _step(self, up: bool) -> None:
        current = self._current()
        if current is None:
            return
        drawing = draw(self.graph, current, *self.size, self._style_of)
        drawn = drawing.parents if up else drawing.children
        linked = self.graph.upstream[current] if up else self.graph.downstream[current]
        back = self._came_from.get(current)
        if back in linked:
            self._choose(back, current)
        elif drawn:  # the leftmost one drawn; h and l move along its row
            self._choose(drawn[0], current)
        elif linked:
            self._choose(min(linked, key=self.graph.rank.__getitem__), current)

    def action_parent(self) -> None:
        self._step(True)

    def action_child(self) -> None:
        self._step(False)

    def action_sibling(self, step: int) -> None:
        """The previous/next stage sharing a parent; with none, the previous/next in run order."""
        current = self._current()
        if current is None:
            return
        siblings = draw(self.graph, current, 1, 1, self._style_of).siblings
        if len(siblings) <= 1:
            siblings = self.graph.order
        index = siblings.index(current) + step
        if 0 <= index < len(siblings):
            self._choose(siblings[index])

    def action_end(self, index: int) -> None:
        if self.graph.order:
            self._choose(self.graph.order[index])

    # -- filter --------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.filter_text = ""

    def on_key(self, event: events.Key) -> None:
        """While the filter is open, typed keys go into it (before any binding sees them)."""
        if self.filter_text is None:
            return
        key = event.key
        if key == "escape":
            self.filter_text = None
        elif key == "enter":
            matches = self.model.filtered(self.filter_text) if self.filter_text else []
            self.filter_text = None
            if matches:
                self._choose(matches[0])
        elif key == "backspace":
            self.filter_text = self.filter_text[:-1]
        elif event.is_printable and event.character:
            self.filter_text += event.character
        else:
            return
        event.stop()
        event.prevent_default()

    def on_click(self, event: events.Click) -> None:
        stage = self.drawing.stage_at(event.x, event.y)
        if stage is not None:
            self.filter_text = None
            self._choose(stage)


def _graph_of(model: PipelineModel) -> DagGraph:
    graph = model.graph
    return DagGraph(graph.order, graph.upstream, graph.downstream)
