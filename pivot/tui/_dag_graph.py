"""The DAG pane's drawing: the selected stage in the middle, its ancestors above (nearest
first), its descendants below, its siblings beside it, joined by box-drawing edges.

No Textual here: :func:`draw` turns the stage graph, a selection and a pane size into lines of
:class:`Span` (text plus what it is: edge, node frame, status symbol, name…); the widget only
colours them. Only the neighbourhood of the selection is laid out, so the cost does not grow
with the size of the pipeline (counting the ancestors and descendants off screen is one linear
walk). ::

                      [✓ load]
                 ┌───────┴───────┐
            [○ lengths]     [✓ counts]
                 └───────┬───────┘
                     [○ train]

Rows: a stage sits at its shortest distance from the selection (parents on the row just above,
grandparents above them, and so on), and each row is ordered by where its neighbours in the
row nearer the selection are, which keeps edges short. Only edges between adjacent rows are
drawn, so a stage that is both a parent and a grandparent shows as a parent. A row wider than
the pane folds: the nodes nearest the middle stay and the rest become ``[+N more]`` nodes;
rows that do not fit in the height become ``↑ N more ancestors`` / ``↓ N more descendants``.

Edges between two rows are drawn as buses: the upper nodes that point to exactly the same set
of lower nodes share one horizontal line (so a drawn bus never claims an edge that does not
exist), each bus on its own line of the gap when their spans overlap. Where a vertical line
crosses another bus's horizontal line the vertical is drawn unbroken (``─│─``: not joined).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence

from pivot.render.dag import BOX_GLYPHS, DOWN, LEFT, RIGHT, UP

#: Blank cells between two nodes on a row.
GAP = 2
#: Siblings drawn on each side of the selection; the others fold into ``[+N more]``.
MAX_SIBLINGS = 2
#: A stage name is cut (in the middle) to fit this many cells: a quarter of the pane's width,
#: within these bounds.
MIN_NAME = 12
MAX_NAME = 40

#: ``(symbol, tone)`` for a stage: its status symbol and the palette tone that colours it.
StyleOf = Callable[[str], tuple[str, str]]

_UP, _DOWN, _LEFT, _RIGHT = UP, DOWN, LEFT, RIGHT  # shared with the CLI drawing


class Kind(enum.StrEnum):
    """What a span of the drawing is (the widget picks its colour from this)."""

    BLANK = "blank"
    EDGE = "edge"
    FRAME = "frame"  # the brackets of a node
    SYMBOL = "symbol"  # a stage's status symbol, coloured by its tone
    NAME = "name"
    MORE = "more"  # a folded "+N more" node
    NOTE = "note"  # "↑ 12 more ancestors", the filter's counts
    PROMPT = "prompt"  # the filter's typed text


@dataclasses.dataclass(frozen=True)
class Span:
    text: str
    kind: Kind
    tone: str = ""
    stage: str | None = None
    selected: bool = False


Line = tuple[Span, ...]


@dataclasses.dataclass(frozen=True)
class Drawing:
    """The pane's lines, and what the keys need to move from the selection."""

    lines: tuple[Line, ...]
    selected: str | None = None
    #: The selection's parents and children as drawn, left to right (folded ones excluded).
    parents: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    #: The selection and every sibling (a stage sharing a parent), folded or not, in run order.
    siblings: tuple[str, ...] = ()

    def text(self) -> list[str]:
        """The lines as plain text, trailing blanks removed."""
        return ["".join(span.text for span in line).rstrip() for line in self.lines]

    def stage_at(self, x: int, y: int) -> str | None:
        """The stage whose node covers cell ``(x, y)``, if any."""
        if not 0 <= y < len(self.lines):
            return None
        start = 0
        for span in self.lines[y]:
            end = start + len(span.text)
            if start <= x < end:
                return span.stage
            start = end
        return None

    def centre_of(self, stage: str) -> tuple[int, int] | None:
        """``(x, y)`` of the middle cell of ``stage``'s node, if drawn."""
        for y, line in enumerate(self.lines):
            x = 0
            start = end = -1
            for span in line:
                if span.stage == stage:
                    start = x if start < 0 else start
                    end = x + len(span.text)
                x += len(span.text)
            if start >= 0:
                return (start + end) // 2, y
        return None


class DagGraph:
    """The stage graph as the drawing needs it; build once per pipeline load."""

    def __init__(
        self,
        order: Sequence[str],
        upstream: Mapping[str, Iterable[str]],
        downstream: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.order = tuple(order)
        self.rank = {name: index for index, name in enumerate(self.order)}
        self.upstream = {name: frozenset(upstream.get(name, ())) for name in self.order}
        if downstream is None:
            children: dict[str, set[str]] = {name: set() for name in self.order}
            for name, parents in self.upstream.items():
                for parent in parents:
                    children.setdefault(parent, set()).add(name)
            downstream = children
        self.downstream = {name: frozenset(downstream.get(name, ())) for name in self.order}

    @functools.cached_property
    def distinct_from(self) -> dict[str, int]:
        """For each name, where it starts to differ from the most similar other name: the
        longest prefix it shares with a neighbour in sorted order."""
        names = sorted(self.order)
        shared = [_common_prefix(a, b) for a, b in itertools.pairwise(names)]
        return {
            name: max(
                shared[index - 1] if index else 0, shared[index] if index < len(shared) else 0
            )
            for index, name in enumerate(names)
        }

    def label(self, name: str, width: int) -> str:
        """``name`` in at most ``width`` cells, keeping the part that tells it apart."""
        return shorten_middle(name, width, self.distinct_from.get(name, 0))


def _common_prefix(a: str, b: str) -> int:
    size = min(len(a), len(b))
    for index in range(size):
        if a[index] != b[index]:
            return index
    return size


def shorten_middle(name: str, width: int, distinct_from: int = 0) -> str:
    """Cut ``name`` to ``width`` cells by dropping from its middle, keeping its head and the
    part from ``distinct_from`` on (where it differs from similar names)."""
    if len(name) <= width:
        return name
    if width < 4:
        return name[: max(width - 1, 0)] + "…" if width > 0 else ""
    tail = (width - 1) // 2
    head = width - 1 - tail
    if distinct_from < head:  # the head already tells it apart
        return name[:head] + "…" + name[len(name) - tail :]
    distinct = len(name) - distinct_from
    if distinct <= width - 3:  # keep the whole distinct tail
        head = width - 1 - distinct
        return name[:head] + "…" + name[distinct_from:]
    # The distinct part alone is too long: show its start between two ellipses.
    head = max(2, width // 3)
    return name[:head] + "…" + name[distinct_from : distinct_from + width - head - 2] + "…"


@dataclasses.dataclass
class _Item:
    """A node on a row: a stage, or a ``[+N more]`` node standing for folded stages."""

    stage: str | None
    text: str  # the name part (a stage) or the whole label (a "more" node)
    hidden: tuple[str, ...] = ()
    x: int = 0

    @property
    def width(self) -> int:
        return len(self.text) + (4 if self.stage is not None else 0)

    @property
    def centre(self) -> int:
        return self.x + self.width // 2

    def stages(self) -> tuple[str, ...]:
        return (self.stage,) if self.stage is not None else self.hidden


def _more(hidden: Sequence[str]) -> _Item:
    return _Item(None, f"[+{len(hidden)} more]", tuple(hidden))


def draw(
    graph: DagGraph,
    selected: str | None,
    width: int,
    height: int,
    style_of: StyleOf,
) -> Drawing:
    """Draw the neighbourhood of ``selected`` (the first stage if None) in ``width`` x
    ``height`` cells; the selection is on the middle line, centred."""
    width, height = max(width, 1), max(height, 1)
    if not graph.order:
        return Drawing(_pad([_note("no stages", width)], height, 0))
    if selected not in graph.rank:
        selected = graph.order[0]
    return _Layout(graph, selected, width, height, style_of).run()


def draw_matches(
    graph: DagGraph,
    matches: Sequence[str],
    query: str,
    width: int,
    height: int,
    style_of: StyleOf,
) -> Drawing:
    """The filter's view: the typed text, then the matching stages as nodes, first one marked
    (Enter selects it)."""
    width, height = max(width, 1), max(height, 1)
    count = f"{len(matches):,} of {len(graph.order):,} stages" if query else "type to filter"
    prompt: list[Span] = [
        Span(f"/{query}▏", Kind.PROMPT),
        Span(f"  {count} · Enter: first match · Esc: clear", Kind.NOTE),
    ]
    lines: list[Line] = [_fit_spans(prompt, width)]
    name_width = _name_width(width)
    items = [_Item(name, graph.label(name, name_width)) for name in matches]
    row: list[_Item] = []
    used = 0
    index = 0
    while index < len(items) and len(lines) < height:
        item = items[index]
        last_line = len(lines) == height - 1
        left = len(items) - index - 1
        reserve = len(f"[+{left} more]") + GAP if last_line and left else 0
        if row and used + GAP + item.width + reserve > width:
            if last_line:
                break
            lines.append(_node_line(row, width, style_of, matches[0]))
            row, used = [], 0
            continue
        item.x = used + (GAP if row else 0)
        used = item.x + item.width
        row.append(item)
        index += 1
    if row or index < len(items):
        if index < len(items):
            more = _more(matches[index:])
            more.x = used + (GAP if row else 0)
            row.append(more)
        lines.append(_node_line(row, width, style_of, matches[0] if matches else None))
    return Drawing(_pad(lines, height, 0))


def _name_width(width: int) -> int:
    return max(MIN_NAME, min(MAX_NAME, width // 4))


def _note(text: str, width: int) -> Line:
    text = text[:width]
    pad = max(0, (width - len(text)) // 2)
    return (Span(" " * pad, Kind.BLANK), Span(text, Kind.NOTE))


def _fit_spans(spans: list[Span], width: int) -> Line:
    out: list[Span] = []
    room = width
    for span in spans:
        if room <= 0:
            break
        out.append(
            span if len(span.text) <= room else dataclasses.replace(span, text=span.text[:room])
        )
        room -= len(span.text)
    return tuple(out)


def _pad(lines: list[Line], height: int, top: int) -> tuple[Line, ...]:
    """``lines`` starting at line ``top`` of ``height`` lines (blank lines around)."""
    blank: Line = ()
    result = [blank] * top + lines
    result = result[:height]
    result += [blank] * (height - len(result))
    return tuple(result)


def _node_line(items: Sequence[_Item], width: int, style_of: StyleOf, selected: str | None) -> Line:
    spans: list[Span] = []
    cursor = 0
    for item in items:
        if item.x > cursor:
            spans.append(Span(" " * (item.x - cursor), Kind.BLANK))
        if item.stage is None:
            spans.append(Span(item.text, Kind.MORE))
        else:
            symbol, tone = style_of(item.stage)
            chosen = item.stage == selected
            spans += [
                Span("[", Kind.FRAME, tone, item.stage, chosen),
                Span(f"{symbol} ", Kind.SYMBOL, tone, item.stage, chosen),
                Span(item.text, Kind.NAME, tone, item.stage, chosen),
                Span("]", Kind.FRAME, tone, item.stage, chosen),
            ]
        cursor = item.x + item.width
    return _fit_spans(spans, width)


class _Layout:
    """One drawing: row 0 (selection and siblings), then rows outwards until the height or
    the graph runs out."""

    def __init__(
        self, graph: DagGraph, selected: str, width: int, height: int, style_of: StyleOf
    ) -> None:
        self.graph = graph
        self.selected = selected
        self.width = width
        self.height = height
        self.style_of = style_of
        self.name_width = _name_width(width)
        self.placed: set[str] = {selected}

    def run(self) -> Drawing:
        graph, selected = self.graph, self.selected
        parents = graph.upstream[selected]
        children = graph.downstream[selected]
        siblings = {c for p in parents for c in graph.downstream[p]} - {selected}
        siblings -= parents | children
        row0 = self._centre_row(sorted(siblings | {selected}, key=graph.rank.__getitem__))
        self.placed |= siblings
        above = (self.height - 1) // 2
        below = self.height - 1 - above
        up_lines, up_first = self._grow(row0, True, above)
        down_lines, down_first = self._grow(row0, False, below)
        lines = [*reversed(up_lines), _node_line(row0, self.width, self.style_of, selected)]
        lines += down_lines
        ordered_siblings = tuple(sorted(siblings | {selected}, key=graph.rank.__getitem__))
        return Drawing(
            _pad(lines, self.height, above - len(up_lines)),
            selected,
            parents=up_first,
            children=down_first,
            siblings=ordered_siblings,
        )

    def _item(self, name: str) -> _Item:
        return _Item(name, self.graph.label(name, self.name_width))

    def _centre_row(self, names: list[str]) -> list[_Item]:
        """The selection centred, siblings before it in run order to its left, after it to its
        right, folded at the pane's edges."""
        at = names.index(self.selected)
        chosen = self._item(self.selected)
        chosen.x = max(0, self.width // 2 - chosen.width // 2)
        left = self._side([self._item(n) for n in reversed(names[:at])], chosen.x)
        right = self._side(
            [self._item(n) for n in names[at + 1 :]], self.width - chosen.x - chosen.width
        )
        cursor = chosen.x
        for item in left:  # nearest first, leftwards
            cursor -= GAP + item.width
            item.x = cursor
        cursor = chosen.x + chosen.width
        for item in right:
            item.x = cursor + GAP
            cursor = item.x + item.width
        return [*reversed(left), chosen, *right]

    def _side(self, items: list[_Item], room: int) -> list[_Item]:
        """As many of ``items`` (nearest first) as fit in ``room`` cells, then a "more" node."""
        kept: list[_Item] = []
        used = 0
        for index, item in enumerate(items):
            left = len(items) - index - 1
            reserve = GAP + len(f"[+{left} more]") if left else 0
            if index >= MAX_SIBLINGS or used + GAP + item.width + reserve > room:
                hidden = [i.stage for i in items[index:] if i.stage is not None]
                more = _more(hidden)
                if used + GAP + more.width <= room:
                    kept.append(more)
                break
            kept.append(item)
            used += GAP + item.width
        return kept

    def _grow(self, row0: list[_Item], up: bool, budget: int) -> tuple[list[Line], tuple[str, ...]]:
        """Rows outwards from row 0 (ancestors when ``up``), nearest first, as lines listed
        outwards; and the first row's stages, left to right."""
        graph = self.graph
        outward, inward = (
            (graph.upstream, graph.downstream) if up else (graph.downstream, graph.upstream)
        )
        relatives = _closure(self.selected, outward)
        done = len(relatives & self.placed)
        lines: list[Line] = []
        first: tuple[str, ...] = ()
        near = row0
        expand = [self.selected]
        while True:
            candidates = sorted(
                {n for s in expand for n in outward[s]} - self.placed, key=graph.rank.__getitem__
            )
            if not candidates:
                break
            if near is row0 and not up:  # siblings join the parents they share, nothing else
                near = [item for item in row0 if item.stage == self.selected]
            row = self._row(candidates, near, inward)
            far_pairs = _pairs(row, near, inward)
            if up:
                gap = _route(row, near, far_pairs, self.width)[::-1]
            else:
                gap = _route(near, row, {(b, a) for a, b in far_pairs}, self.width)
            # Room for a "more" line above the row too, except for the nearest row: parents and
            # children come first.
            left = len(relatives) - done - len(candidates)
            if len(lines) + len(gap) + 1 + (1 if left > 0 and lines else 0) > budget:
                break
            lines += gap
            lines.append(_node_line(row, self.width, self.style_of, None))
            self.placed.update(candidates)
            done += len(candidates)
            if not first:
                first = tuple(item.stage for item in row if item.stage is not None)
            near = row
            expand = [item.stage for item in row if item.stage is not None]
        left = len(relatives) - done
        if left > 0 and len(lines) < budget:
            what = "ancestor" if up else "descendant"
            arrow = "↑" if up else "↓"
            lines.append(
                _note(f"{arrow} {left:,} more {what}{'s' if left != 1 else ''}", self.width)
            )
        return lines, first

    def _row(
        self, names: list[str], near: list[_Item], inward: Mapping[str, frozenset[str]]
    ) -> list[_Item]:
        """``names`` ordered and placed under (or over) their neighbours in the ``near`` row,
        folded to the width."""
        where = _index_of(near)
        ideal: dict[str, float] = {}
        for name in names:
            xs = [near[where[n]].centre for n in inward[name] if n in where]
            ideal[name] = sum(xs) / len(xs) if xs else self.width / 2
        names = sorted(names, key=lambda n: (ideal[n], self.graph.rank[n]))
        items = [self._item(n) for n in names]
        items = _fold(items, [ideal[n] for n in names], self.width)
        centres = [ideal[item.stage] if item.stage is not None else 0.0 for item in items]
        for index, item in enumerate(items):  # a "more" node sits beside its neighbour
            if item.stage is None:
                side = 1 if index == 0 else -1
                other = items[index + side]
                centres[index] = centres[index + side] - side * (
                    (other.width + item.width) / 2 + GAP
                )
        _pack(items, centres, self.width)
        return items


def _closure(start: str, edges: Mapping[str, frozenset[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(edges[start])
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(edges[name])
    return seen


def _index_of(items: Sequence[_Item]) -> dict[str, int]:
    """Stage -> index of the item that shows it (a "more" node for folded stages)."""
    return {stage: index for index, item in enumerate(items) for stage in item.stages()}


def _pairs(
    far: list[_Item], near: list[_Item], inward: Mapping[str, frozenset[str]]
) -> set[tuple[int, int]]:
    """Edges between the rows as (far index, near index)."""
    where = _index_of(near)
    pairs = set()
    for index, item in enumerate(far):
        for stage in item.stages():
            for other in inward[stage]:
                if other in where:
                    pairs.add((index, where[other]))
    return pairs


def _fold(items: list[_Item], ideal: list[float], width: int) -> list[_Item]:
    """Keep the run of ``items`` nearest the middle that fits in ``width`` (with room for a
    ``[+N more]`` node on each side that loses some)."""
    total = sum(item.width for item in items) + GAP * (len(items) - 1)
    if total <= width:
        return items
    count = len(items)
    more_width = len(f"[+{count} more]") + GAP
    centre = width / 2
    start = min(range(count), key=lambda i: abs(ideal[i] - centre))
    lo = hi = start
    used = items[start].width
    grew = True
    while grew:
        grew = False
        for step in (1, -1):
            j = hi + 1 if step == 1 else lo - 1
            if not 0 <= j < count:
                continue
            new_lo, new_hi = (lo, j) if step == 1 else (j, hi)
            sides = (new_lo > 0) + (new_hi < count - 1)
            if used + GAP + items[j].width + more_width * sides <= width:
                lo, hi = new_lo, new_hi
                used += GAP + items[j].width
                grew = True
    kept = items[lo : hi + 1]
    before = [s for item in items[:lo] for s in item.stages()]
    after = [s for item in items[hi + 1 :] for s in item.stages()]
    return [*([_more(before)] if before else []), *kept, *([_more(after)] if after else [])]


def _pack(items: list[_Item], centres: list[float], width: int) -> None:
    """Place ``items`` in order, each as near its ideal centre as the gaps allow (nodes that
    would overlap form a block centred on their ideals), then inside the width."""
    # Blocks: [first, last, sum of (desired left - offset in block), count, block width].
    blocks: list[list[float]] = []
    for index, (item, centre) in enumerate(zip(items, centres, strict=True)):
        block: list[float] = [index, index, round(centre) - item.width // 2, 1, item.width]
        while blocks:
            prev = blocks[-1]
            if prev[2] / prev[3] + prev[4] + GAP <= block[2] / block[3]:
                break
            shift = prev[4] + GAP
            block = [
                prev[0],
                block[1],
                prev[2] + block[2] - shift * block[3],
                prev[3] + block[3],
                prev[4] + GAP + block[4],
            ]
            blocks.pop()
        blocks.append(block)
    for first, last, total, count, _ in blocks:
        x = round(total / count)
        for item in items[int(first) : int(last) + 1]:
            item.x = x
            x += item.width + GAP
    cursor = -GAP
    for item in items:
        item.x = max(item.x, cursor + GAP, 0)
        cursor = item.x + item.width
    limit = width + GAP
    for item in reversed(items):
        item.x = max(0, min(item.x, limit - GAP - item.width))
        limit = item.x


def _route(
    upper: list[_Item], lower: list[_Item], pairs: set[tuple[int, int]], width: int
) -> list[Line]:
    """The gap lines joining the ``upper`` row to the ``lower`` one, top to bottom; ``pairs``
    are edges as (upper index, lower index)."""
    if not pairs:
        return [()]
    # A bus: upper nodes with the same set of lower nodes.
    targets: dict[int, set[int]] = {}
    for a, b in pairs:
        targets.setdefault(a, set()).add(b)
    groups: dict[frozenset[int], list[int]] = {}
    for a, bs in sorted(targets.items()):
        groups.setdefault(frozenset(bs), []).append(a)
    buses = [
        ([upper[a].centre for a in froms], sorted(lower[b].centre for b in tos))
        for tos, froms in groups.items()
    ]
    tracks = _tracks(buses)
    count = max(tracks) + 1
    # cells[line][x]: bus -> (bits, True when only a vertical passing through this line)
    cells: list[dict[int, dict[int, list[int]]]] = [{} for _ in range(count)]

    def mark(line: int, x: int, bits: int, bus: int, through: bool = False) -> None:
        if 0 <= x < width:
            entry = cells[line].setdefault(x, {}).setdefault(bus, [0, 1])
            entry[0] |= bits
            entry[1] &= int(through)

    for bus, ((ups, downs), track) in enumerate(zip(buses, tracks, strict=True)):
        low, high = min(*ups, *downs), max(*ups, *downs)
        for x in range(low, high + 1):
            mark(track, x, (_LEFT if x > low else 0) | (_RIGHT if x < high else 0), bus)
        for x in ups:
            for line in range(track):
                mark(line, x, _UP | _DOWN, bus, True)
            mark(track, x, _UP, bus)
        for x in downs:
            mark(track, x, _DOWN, bus)
            for line in range(track + 1, count):
                mark(line, x, _UP | _DOWN, bus, True)
    lines: list[Line] = []
    for row in cells:
        chars = [" "] * width
        for x, owners in row.items():
            chars[x] = _glyph(owners)
        lines.append(_edge_line("".join(chars).rstrip()))
    return lines


def _edge_line(text: str) -> Line:
    """Edge glyphs as EDGE spans, the blanks between them as BLANK spans."""
    spans: list[Span] = []
    for blank, run in itertools.groupby(text, key=lambda char: char == " "):
        spans.append(Span("".join(run), Kind.BLANK if blank else Kind.EDGE))
    return tuple(spans)


def _glyph(owners: dict[int, list[int]]) -> str:
    """One cell of a gap: a vertical passing through another bus's horizontal line is drawn
    unbroken (not joined); lines of one bus, or lines meeting at a node's column, join."""
    if len(owners) == 1:
        for bits, _ in owners.values():
            return BOX_GLYPHS[bits]
    vertical = [bits for bits, through in owners.values() if bits & (_UP | _DOWN)]
    if len(owners) > 1 and any(through for _, through in owners.values()):
        flat = [bits for bits, _ in owners.values() if not bits & (_UP | _DOWN)]
        if flat and len(vertical) == sum(1 for _, t in owners.values() if t):
            return "│"
    bits = 0
    for value, _ in owners.values():
        bits |= value
    return BOX_GLYPHS[bits]


def _tracks(buses: list[tuple[list[int], list[int]]]) -> list[int]:
    """A line of the gap for each bus: overlapping buses on different lines, and a bus whose
    far end shares a column with another bus's near end drawn above it (so their verticals
    do not run into each other)."""
    spans = [(min(*u, *d), max(*u, *d)) for u, d in buses]
    before: list[set[int]] = [set() for _ in buses]  # before[i]: buses that must be above i
    for i, (ups, _) in enumerate(buses):
        for j, (_, downs) in enumerate(buses):
            if i != j and set(ups) & set(downs):
                before[j].add(i)
    order = sorted(range(len(buses)), key=lambda i: spans[i])
    track = [-1] * len(buses)
    ends: list[list[tuple[int, int]]] = []
    pending = list(order)
    while pending:
        ready = [i for i in pending if all(track[j] >= 0 for j in before[i])] or pending[:1]
        i = ready[0]
        pending.remove(i)
        low, high = spans[i]
        floor = max((track[j] + 1 for j in before[i] if track[j] >= 0), default=0)
        t = floor
        while t < len(ends) and any(not (high < a - 1 or low > b + 1) for a, b in ends[t]):
            t += 1
        while len(ends) <= t:
            ends.append([])
        ends[t].append((low, high))
        track[i] = t
    return track
