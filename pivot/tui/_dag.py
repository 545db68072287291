"""A layered text layout of the stage DAG (no Textual here).

Stages are put in layers by their longest path from a source stage (the same
:func:`~pivot.core.reports.dag_view.layers` as ``pivot dag``), so every edge points down to a
later layer. Each stage appears exactly once, on its own line; its incoming edges
are listed beside it as ``← parent, parent``, and the view highlights the parents and children
of the selected stage. Within a layer, stages are ordered by the mean position of their
parents (one barycentre pass), which keeps related stages close together. Layout is linear in
nodes + edges, so it stays instant at thousands of stages.

::

    ┌ layer 0 · 2 stages
    │  ✓ load_raw
    │  ✓ load_side
    ├ layer 1 · 2 stages
    │  ○ clean      ← load_raw
    │  ○ features   ← load_raw, load_side
    └ layer 2 · 1 stage
       ○ train      ← clean, features
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from pivot.core.reports import dag_view


@dataclasses.dataclass(frozen=True)
class DagLine:
    """One line of the drawing: a layer header, or one stage."""

    layer: int
    stage: str | None = None  # None for a header
    parents: tuple[str, ...] = ()
    last_layer: bool = False


@dataclasses.dataclass(frozen=True)
class DagLayout:
    layers: tuple[tuple[str, ...], ...]
    lines: tuple[DagLine, ...]
    line_of: Mapping[str, int]
    layer_of: Mapping[str, int]
    name_width: int

    @classmethod
    def build(cls, order: Sequence[str], upstream: Mapping[str, frozenset[str]]) -> DagLayout:
        """Lay out the stages ``order`` (topological) with edges ``upstream[stage]``."""
        # The same layers as `pivot dag` draws: one definition of a stage's layer.
        known = set(order)
        edges = tuple((p, name) for name in order for p in upstream.get(name, ()) if p in known)
        buckets = dag_view.layers(dag_view.DagView(tuple(order), edges))
        layer_of = {name: index for index, bucket in enumerate(buckets) for name in bucket}

        # One barycentre pass, top-down: order each layer by its parents' mean position.
        position: dict[str, float] = {}
        rank = {name: index for index, name in enumerate(order)}
        layers: list[tuple[str, ...]] = []
        for bucket in buckets:

            def key(name: str) -> tuple[float, int]:
                parents = [position[p] for p in upstream.get(name, ()) if p in position]
                centre = sum(parents) / len(parents) if parents else float(rank[name])
                return (centre, rank[name])

            ordered = tuple(sorted(bucket, key=key)) if layers else tuple(bucket)
            for index, name in enumerate(ordered):
                position[name] = float(index) * (len(order) / max(len(ordered), 1))
            layers.append(ordered)

        lines: list[DagLine] = []
        line_of: dict[str, int] = {}
        for index, layer in enumerate(layers):
            last = index == len(layers) - 1
            lines.append(DagLine(index, last_layer=last))
            for name in layer:
                line_of[name] = len(lines)
                incoming = tuple(sorted(upstream.get(name, ()), key=rank.__getitem__))
                lines.append(DagLine(index, name, incoming, last))
        width = max((len(name) for name in order), default=0)
        return cls(tuple(layers), tuple(lines), line_of, layer_of, width)

    def gutter(self, line: DagLine) -> str:
        """The tree-ish rail drawn left of a line: ``┌ ├ └`` at headers, ``│`` beside stages."""
        if line.stage is None:
            if line.layer == 0:
                return "┌" if not line.last_layer else "─"
            return "└" if line.last_layer else "├"
        return " " if line.last_layer else "│"
