"""Draw the stage DAG as text, Mermaid or Graphviz dot.

Every function here is pure: it takes a :class:`~pivot.core.reports.dag_view.DagView` (stage
names and edges, cut from the graph by :func:`~pivot.core.reports.dag_view.dag_view`) and
returns a string. The JSON form is data: ``DagView.to_dict``.

The text layout is a small Sugiyama-style drawing:

1. each stage goes on the layer of its longest path from a source (``layers``), so every edge
   points down;
2. an edge that skips layers is routed through one-cell "dummy" nodes, drawn as ``│``;
3. the order within a layer is improved by a few barycenter sweeps to cut crossings;
4. each stage sits under the average of its parents, never under a stage that is not its
   parent (so a vertical line only ever joins a stage to its own child);
5. between two layers, the edges leaving one stage form a "bus" on its own row: a vertical
   from the stage, a horizontal across its children, and a ``▼`` into each child. Buses that
   do not overlap share a row. Where a vertical crosses another bus's horizontal, the vertical
   is drawn unbroken and the horizontal stops short of it, so a crossing never looks like a
   junction.

Each stage is printed exactly once, however many parents it has. With stages of several
pipelines, each pipeline gets a drawing of its own under a heading; the stages of other
pipelines it reads are drawn at its top, in parentheses (they are printed once more there,
as labels, so that every edge still has both ends in one drawing).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping

from pivot.core.pipeline.selection import grouped
from pivot.core.reports.dag_view import DagView, layers
from pivot.render.counts import plural

__all__ = ["pipeline_heading", "render_dot", "render_mermaid", "render_text"]


# -- text -------------------------------------------------------------------------------------

#: Directions a line leaves a cell by, as bits; the CLI and the TUI DAG drawings share them.
UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8
#: The box-drawing glyph for each set of directions (a lone direction draws a plain line).
BOX_GLYPHS = {
    0: " ",
    UP: "│",
    DOWN: "│",
    UP | DOWN: "│",
    LEFT: "─",
    RIGHT: "─",
    LEFT | RIGHT: "─",
    DOWN | RIGHT: "┌",
    DOWN | LEFT: "┐",
    UP | RIGHT: "└",
    UP | LEFT: "┘",
    UP | DOWN | RIGHT: "├",
    UP | DOWN | LEFT: "┤",
    DOWN | LEFT | RIGHT: "┬",
    UP | LEFT | RIGHT: "┴",
    UP | DOWN | LEFT | RIGHT: "┼",
}
_ASCII = str.maketrans("│─┌┐└┘├┤┬┴┼▼", "|-+++++++++v")


@dataclasses.dataclass
class _Node:
    key: str  # stage name, or "\0<n>" for a dummy
    label: str
    parents: list[str] = dataclasses.field(default_factory=list)
    left: int = 0

    @property
    def dummy(self) -> bool:
        return self.key.startswith("\0")

    @property
    def width(self) -> int:
        return len(self.label)

    @property
    def center(self) -> int:
        return self.left + (self.width - 1) // 2


def _layered(
    view: DagView, labels: Mapping[str, str] | None = None
) -> tuple[list[list[_Node]], dict[str, _Node]]:
    """Layers of real and dummy nodes where every edge joins adjacent layers."""
    by_layer = layers(view)
    depth = {name: index for index, names in enumerate(by_layer) for name in names}
    label = labels or {}
    rows: list[list[_Node]] = [
        [_Node(name, label.get(name, name)) for name in names] for names in by_layer
    ]
    nodes = {node.key: node for row in rows for node in row}
    dummies = 0
    for up, down in view.edges:
        previous = up
        for level in range(depth[up] + 1, depth[down]):
            dummies += 1
            dummy = _Node(f"\0{dummies}", "│", [previous])
            rows[level].append(dummy)
            nodes[dummy.key] = dummy
            previous = dummy.key
        nodes[down].parents.append(previous)
    return rows, nodes


def _crossings(upper: list[_Node], lower: list[_Node]) -> int:
    position = {node.key: index for index, node in enumerate(upper)}
    ends = [(index, position[p]) for index, node in enumerate(lower) for p in node.parents]
    return sum(
        1
        for i, (a_low, a_up) in enumerate(ends)
        for b_low, b_up in ends[i + 1 :]
        if (a_low - b_low) * (a_up - b_up) < 0
    )


def _order(rows: list[list[_Node]], nodes: dict[str, _Node]) -> None:
    """Reorder each layer by the barycenter of its neighbours, keeping the best order seen."""
    children: dict[str, list[str]] = {key: [] for key in nodes}
    for node in nodes.values():
        for parent in node.parents:
            children[parent].append(node.key)

    def total() -> int:
        return sum(_crossings(rows[i], rows[i + 1]) for i in range(len(rows) - 1))

    def sweep(indices: Iterable[int], neighbours: Mapping[str, list[str]], other: int) -> None:
        for i in indices:
            position = {node.key: index for index, node in enumerate(rows[i + other])}
            current = {node.key: index for index, node in enumerate(rows[i])}

            weights: dict[str, tuple[float, int]] = {}
            for node in rows[i]:
                linked = [position[k] for k in neighbours[node.key] if k in position]
                mean = sum(linked) / len(linked) if linked else float(current[node.key])
                weights[node.key] = (mean, current[node.key])
            rows[i].sort(key=lambda node: weights[node.key])

    parents = {key: node.parents for key, node in nodes.items()}
    best, best_rows = total(), [list(row) for row in rows]
    for _ in range(4):
        if best == 0:
            break
        sweep(range(1, len(rows)), parents, -1)
        sweep(range(len(rows) - 2, -1, -1), children, 1)
        score = total()
        if score < best:
            best, best_rows = score, [list(row) for row in rows]
    rows[:] = best_rows


def _place(rows: list[list[_Node]], nodes: dict[str, _Node], gap: int = 3) -> None:
    """Give each node a column: under its parents' average, never under a non-parent."""
    previous_centers: dict[int, str] = {}
    for row in rows:
        cursor: int | None = None
        for node in row:
            centers = [nodes[p].center for p in node.parents]
            if centers:
                wanted = round(sum(centers) / len(centers)) - (node.width - 1) // 2
                node.left = wanted if cursor is None else max(cursor, wanted)
            else:
                node.left = 0 if cursor is None else cursor
            while (owner := previous_centers.get(node.center)) is not None and (
                owner not in node.parents
            ):
                node.left += 1
            cursor = node.left + node.width + (1 if node.dummy else gap)
        previous_centers = {node.center: node.key for node in row}
    shift = min(node.left for row in rows for node in row)
    for row in rows:
        for node in row:
            node.left -= shift


def _band(upper: list[_Node], lower: list[_Node]) -> list[str]:
    """The connector rows between two layers."""
    by_parent: dict[str, list[_Node]] = {}
    for node in lower:
        for parent in node.parents:
            by_parent.setdefault(parent, []).append(node)
    buses: list[tuple[int, list[_Node]]] = []  # (source column, children)
    for node in upper:
        if node.key in by_parent:
            buses.append((node.center, by_parent[node.key]))
    # Give each bus with a horizontal part a row; buses that do not touch share one.
    spans: list[tuple[int, int, int]] = []  # (lo, hi, bus index)
    for index, (source, kids) in enumerate(buses):
        columns = [source, *(kid.center for kid in kids)]
        if min(columns) != max(columns):
            spans.append((min(columns), max(columns), index))
    row_ends: list[int] = []
    row_of: dict[int, int] = {}
    for lo, hi, index in sorted(spans):
        for row, end in enumerate(row_ends):
            if lo > end + 1:
                row_ends[row], row_of[index] = hi, row
                break
        else:
            row_of[index] = len(row_ends)
            row_ends.append(hi)
    height = len(row_ends) + 2  # a vertical row below the sources, the buses, the arrows
    width = max([0, *(n.left + n.width for n in upper), *(n.left + n.width for n in lower)])
    # Per cell, the direction bits each bus draws there.
    cells: list[list[dict[int, int]]] = [[{} for _ in range(width)] for _ in range(height)]

    def draw(bus: int, row: int, column: int, bits: int) -> None:
        cell = cells[row][column]
        cell[bus] = cell.get(bus, 0) | bits

    def line(bus: int, column: int, top: int, bottom: int) -> None:
        for row in range(top, bottom + 1):
            up = UP if row > top or top == 0 else 0
            down = DOWN if row < bottom or bottom == height - 1 else 0
            draw(bus, row, column, up | down)

    for bus, (source, kids) in enumerate(buses):
        if bus not in row_of:  # straight down
            line(bus, source, 0, height - 1)
            continue
        bus_row = row_of[bus] + 1
        columns = sorted({source, *(kid.center for kid in kids)})
        line(bus, source, 0, bus_row)
        for kid in kids:
            line(bus, kid.center, bus_row, height - 1)
        for column in range(columns[0], columns[-1] + 1):
            draw(
                bus,
                bus_row,
                column,
                (LEFT if column > columns[0] else 0) | (RIGHT if column < columns[-1] else 0),
            )
    text_rows = ["".join(_cell_char(cell) for cell in row_cells).rstrip() for row_cells in cells]
    # Arrows into real stages; dummies continue as plain lines.
    last = list(text_rows[-1].ljust(width))
    for node in lower:
        if not node.dummy and last[node.center] != " ":
            last[node.center] = "▼"
    text_rows[-1] = "".join(last).rstrip()
    return text_rows


def _cell_char(cell: dict[int, int]) -> str:
    """One connector character. A bus's horizontal crossed by another bus's vertical is drawn
    as the vertical alone: only a bus's own vertical joins its horizontal."""
    if not cell:
        return " "
    vertical = UP | DOWN
    bits = 0
    for bus, own in cell.items():
        if own & ~vertical and not own & vertical:
            crossed = any(other & vertical for key, other in cell.items() if key != bus)
            if crossed:
                continue
        bits |= own
    # The layered drawing never joins a lone direction: such a cell stays blank.
    return BOX_GLYPHS[bits] if bits & (bits - 1) else " "


def render_text(view: DagView, *, ascii_only: bool = False) -> str:
    """A layered drawing with each stage once and every edge visible (see module docstring).

    With stages of several pipelines, each pipeline is drawn on its own under a heading (as
    ``pivot list`` titles them); a stage of another pipeline that it reads is drawn above it
    in parentheses, so every edge is still shown once.
    """
    if not view.nodes:
        return "(no stages)"
    groups = grouped(view.nodes)
    if len(groups) < 2:
        return _drawing(view, ascii_only=ascii_only)
    parts = []
    for group, members in groups:
        sub, labels = _pipeline_view(view, members)
        drawing = _drawing(sub, labels, ascii_only=ascii_only)
        parts.append(f"{pipeline_heading(group, len(members), ascii_only=ascii_only)}\n{drawing}")
    return "\n\n".join(parts)


def pipeline_heading(group: str | None, stages: int, *, ascii_only: bool = False) -> str:
    """The line above a pipeline's stages in text output (``pivot list``, ``pivot dag``):
    ``── pipeline prep (3 stages)``; stages named without a pipeline come under
    ``pipeline.py``."""
    title = f"pipeline {group}" if group is not None else "pipeline.py"
    return f"{'--' if ascii_only else '──'} {title} ({plural(stages, 'stage')})"


def _pipeline_view(view: DagView, members: list[str]) -> tuple[DagView, dict[str, str]]:
    """The stages of one pipeline, with the stages of others they read (labelled in
    parentheses) ahead of them, and the edges among all of these."""
    inside = set(members)
    readers = [(up, down) for up, down in view.edges if down in inside]
    outside = {up for up, _ in readers if up not in inside}
    nodes = tuple(name for name in view.nodes if name in outside or name in inside)
    return DagView(nodes, tuple(readers)), {name: f"({name})" for name in outside}


def _drawing(
    view: DagView, labels: Mapping[str, str] | None = None, *, ascii_only: bool = False
) -> str:
    rows, nodes = _layered(view, labels)
    _order(rows, nodes)
    _place(rows, nodes)
    lines: list[str] = []
    for index, row in enumerate(rows):
        width = max(node.left + node.width for node in row)
        chars = [" "] * width
        for node in row:
            chars[node.left : node.left + node.width] = node.label
        lines.append("".join(chars).rstrip())
        if index + 1 < len(rows):
            lines.extend(_band(row, rows[index + 1]))
    text = "\n".join(lines)
    return text.translate(_ASCII) if ascii_only else text


# -- other formats ----------------------------------------------------------------------------


def _mermaid_label(name: str) -> str:
    return name.replace('"', "#quot;")


def render_mermaid(view: DagView) -> str:
    """A Mermaid flowchart (paste it into Markdown inside a ```mermaid block)."""
    ids = {name: f"s{index}" for index, name in enumerate(view.nodes)}
    out = ["flowchart TD"]
    for index, (group, members) in enumerate(grouped(view.nodes)):
        indent = "    " if group is None else "        "
        if group is not None:  # a pipeline's stages in a box of its name
            out.append(f'    subgraph p{index}["{_mermaid_label(group)}"]')
        out.extend(f'{indent}{ids[name]}["{_mermaid_label(name)}"]' for name in members)
        if group is not None:
            out.append("    end")
    out.extend(f"    {ids[up]} --> {ids[down]}" for up, down in view.edges)
    return "\n".join(out)


def _dot_id(name: str) -> str:
    return json.dumps(name)  # a double-quoted string with escapes, which dot accepts


def render_dot(view: DagView) -> str:
    """A Graphviz digraph (``pivot dag --dot | dot -Tsvg > dag.svg``)."""
    out = ["digraph pivot {", "    rankdir=TB;", "    node [shape=box];"]
    for index, (group, members) in enumerate(grouped(view.nodes)):
        if group is None:
            out.extend(f"    {_dot_id(name)};" for name in members)
            continue
        # a pipeline's stages in a cluster labelled with its name
        out.append(f"    subgraph cluster_{index} {{")
        out.append(f"        label={_dot_id(group)};")
        out.extend(f"        {_dot_id(name)};" for name in members)
        out.append("    }")
    out.extend(f"    {_dot_id(up)} -> {_dot_id(down)};" for up, down in view.edges)
    out.append("}")
    return "\n".join(out)
