"""The DAG pane: the layered drawing from :mod:`pivot.tui._dag`, following the selection."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pivot.tui._dag import DagLayout
from pivot.tui._model import PHASE_STYLE, PipelineModel
from pivot.tui._stage_list import TONE_CLASSES, TONE_CSS
from pivot.tui._text import shorten


class DagView(ScrollView, can_focus=True):
    """Every stage once, by layer; ``←`` lists a stage's parents. The selected stage's parents
    are marked ``↑`` and its children ``↓``."""

    BINDINGS = [
        Binding("j,down", "step(1)", "Next stage", show=False),
        Binding("k,up", "step(-1)", "Previous stage", show=False),
        Binding("u", "parent", "Go to parent"),
        Binding("n", "child", "Go to child"),
        Binding("g,home", "step(-1000000)", "First", show=False),
        Binding("G,end", "step(1000000)", "Last", show=False),
    ]

    COMPONENT_CLASSES = {
        "dag--rail",
        "dag--header",
        "dag--selected",
        "dag--related",
        "dag--edges",
        *TONE_CLASSES.values(),
    }

    DEFAULT_CSS = (
        """
    DagView {
        height: 1fr;
        & > .dag--rail { color: $text-muted; }
        & > .dag--header { color: $text-primary; text-style: bold; }
        & > .dag--selected { background: $block-cursor-blurred-background; text-style: bold; }
        & > .dag--related { color: $text-accent; text-style: bold; }
        & > .dag--edges { color: $text-muted; }
    """
        + TONE_CSS
        + "}"
    )

    class Selected(Message):
        def __init__(self, stage: str) -> None:
            super().__init__()
            self.stage = stage

    def __init__(self, model: PipelineModel, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.layout_ = DagLayout.build(model.order, model.graph.upstream)
        self.selected: str | None = None
        self._content_width = 0
        self._measure()

    def set_model(self, model: PipelineModel) -> None:
        self.model = model
        self.layout_ = DagLayout.build(model.order, model.graph.upstream)
        self._measure()
        self.refresh()

    def _measure(self) -> None:
        widest = 0
        for line in self.layout_.lines:
            if line.stage is None:
                widest = max(widest, 24)
            else:
                edges = sum(len(p) + 2 for p in line.parents)
                widest = max(widest, 6 + self.layout_.name_width + (edges + 3 if edges else 0))
        self._content_width = widest
        self.virtual_size = Size(widest, len(self.layout_.lines))

    # -- selection -----------------------------------------------------------------------------

    def select(self, name: str | None) -> None:
        """Highlight ``name`` and scroll it into view (focus follows selection)."""
        if name == self.selected:
            return
        self.selected = name
        self.refresh()
        line = self.layout_.line_of.get(name) if name else None
        if line is not None:
            self.scroll_to_region(
                Region(0, max(0, line - 1), 1, 3), animate=False, force=True, immediate=True
            )

    def _choose(self, name: str) -> None:
        self.select(name)
        self.post_message(self.Selected(name))

    def action_step(self, delta: int) -> None:
        stages = [line.stage for line in self.layout_.lines if line.stage is not None]
        if not stages:
            return
        index = stages.index(self.selected) if self.selected in stages else -1
        self._choose(stages[max(0, min(len(stages) - 1, index + delta))])

    def action_parent(self) -> None:
        if self.selected is not None:
            parents = self.model.graph.upstream.get(self.selected, frozenset())
            ordered = [name for name in self.model.order if name in parents]
            if ordered:
                self._choose(ordered[0])

    def action_child(self) -> None:
        if self.selected is not None:
            children = self.model.graph.downstream.get(self.selected, frozenset())
            ordered = [name for name in self.model.order if name in children]
            if ordered:
                self._choose(ordered[0])

    def on_click(self, event: events.Click) -> None:
        index = event.y + self.scroll_offset.y
        if 0 <= index < len(self.layout_.lines):
            stage = self.layout_.lines[index].stage
            if stage is not None:
                self._choose(stage)

    # -- drawing -------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        base = self.rich_style
        width = max(self.size.width, self._content_width)
        if index >= len(self.layout_.lines):
            return Strip.blank(self.size.width, base)
        line = self.layout_.lines[index]
        rail = base + self.get_component_rich_style("dag--rail")
        gutter = self.layout_.gutter(line)
        if line.stage is None:
            count = len(self.layout_.layers[line.layer])
            title = f"layer {line.layer}"
            segments = [
                Segment(gutter + " ", rail),
                Segment(title, base + self.get_component_rich_style("dag--header")),
                Segment(f" · {count} stage{'s' if count != 1 else ''}", rail),
            ]
        else:
            segments = self._stage_segments(line.stage, line.parents, gutter, base, rail)
        strip = Strip(segments).adjust_cell_length(width, base)
        if line.stage is not None and line.stage == self.selected:
            selected = self.get_component_rich_style("dag--selected")
            strip = strip.apply_style(Style(bgcolor=selected.bgcolor, bold=True))
        return strip.crop(self.scroll_offset.x, self.scroll_offset.x + self.size.width)

    def _stage_segments(
        self, name: str, parents: tuple[str, ...], gutter: str, base: Style, rail: Style
    ) -> list[Segment]:
        state = self.model.stages.get(name)
        symbol, tone = PHASE_STYLE[state.phase] if state is not None else ("?", "muted")
        related = base + self.get_component_rich_style("dag--related")
        edges = base + self.get_component_rich_style("dag--edges")
        mark = " "
        selected = self.selected
        if selected is not None and name != selected:
            if name in self.model.graph.upstream.get(selected, frozenset()):
                mark = "↑"
            elif name in self.model.graph.downstream.get(selected, frozenset()):
                mark = "↓"
        segments = [
            Segment(gutter + " ", rail),
            Segment(mark, related),
            Segment(symbol, base + self.get_component_rich_style(TONE_CLASSES[tone])),
            Segment(" ", base),
            Segment(shorten(name, 60).ljust(min(self.layout_.name_width, 60)), base),
        ]
        if parents:
            segments.append(Segment("  ← ", edges))
            for i, parent in enumerate(parents):
                if i:
                    segments.append(Segment(", ", edges))
                style = related if parent == selected else edges
                segments.append(Segment(parent, style))
        return segments
