"""The part of the stage graph to draw, as data: stages, edges and layers.

:func:`dag_view` cuts a :class:`~pivot.core.pipeline.graph.StageGraph` down to the stages to
show; :func:`layers` puts each stage on the layer of its longest path from a stage with no
upstream, so every edge points down. The drawings (text, Mermaid, dot) are made from a
:class:`DagView` by :mod:`pivot.render.dag`; the TUI's DAG pane uses the same layers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pivot.core.pipeline.discovery import PipelineDefinition
    from pivot.core.pipeline.graph import StageGraph

__all__ = ["DagView", "dag_view", "layers"]


@dataclasses.dataclass(frozen=True)
class DagView:
    """The part of the graph to draw: stages in run order and ``(upstream, downstream)`` edges."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]

    def parents(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {name: [] for name in self.nodes}
        for up, down in self.edges:
            result[down].append(up)
        return result

    def children(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {name: [] for name in self.nodes}
        for up, down in self.edges:
            result[up].append(down)
        return result

    def to_dict(self, pipeline: PipelineDefinition | None = None) -> dict[str, Any]:
        """Stages (with their layer, and deps/outs when ``pipeline`` is given) and edges."""
        depth = {name: index for index, names in enumerate(layers(self)) for name in names}
        parents = self.parents()
        stages = []
        for name in self.nodes:
            row: dict[str, Any] = {"name": name, "layer": depth[name], "upstream": parents[name]}
            if pipeline is not None and name in pipeline:
                spec = pipeline[name]
                row["deps"] = list(spec.dep_paths)
                row["outs"] = list(spec.out_paths)
            stages.append(row)
        return {"stages": stages, "edges": [list(edge) for edge in self.edges]}


def dag_view(graph: StageGraph, targets: Iterable[str] = ()) -> DagView:
    """The whole graph, or only ``targets`` and their upstream stages."""
    wanted = list(targets)
    names = graph.ordered(graph.ancestors(wanted)) if wanted else list(graph.order)
    position = {name: index for index, name in enumerate(names)}
    edges = tuple(
        (up, name)
        for name in names
        for up in sorted(graph.upstream.get(name, ()), key=lambda up: position.get(up, -1))
        if up in position
    )
    return DagView(tuple(names), edges)


def layers(view: DagView) -> list[list[str]]:
    """Stages grouped by the length of their longest path from a stage with no upstream."""
    parents = view.parents()
    depth: dict[str, int] = {}
    for name in view.nodes:  # nodes are in topological order
        depth[name] = 1 + max((depth[p] for p in parents[name]), default=-1)
    result: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in view.nodes:
        result[depth[name]].append(name)
    return result
