"""The stage graph, derived from artifact paths.

A stage depends on another when one of its deps is, lies inside, or contains one of the
other's outputs. Built with plain dicts and :mod:`graphlib`: importing networkx alone costs
~0.3 s, more than our whole no-op budget.
"""

from __future__ import annotations

import dataclasses
import graphlib
import posixpath
from collections.abc import Iterable

from pivot.core.pipeline.discovery import PipelineDefinition
from pivot.core.store.paths import is_within
from pivot.core.store.tracked import tracking
from pivot.exceptions import GraphError


@dataclasses.dataclass(frozen=True)
class StageGraph:
    order: tuple[str, ...]  # topological, ties broken by registration order
    upstream: dict[str, frozenset[str]]
    downstream: dict[str, frozenset[str]]
    producer: dict[str, str]  # output path -> stage

    def ancestors(self, names: Iterable[str]) -> set[str]:
        """``names`` and every stage they (transitively) depend on."""
        return _closure(names, self.upstream)

    def descendants(self, names: Iterable[str]) -> set[str]:
        return _closure(names, self.downstream)

    def ordered(self, names: Iterable[str]) -> list[str]:
        wanted = set(names)
        return [name for name in self.order if name in wanted]

    def producer_of(self, path: str) -> str | None:
        """The stage whose output is ``path`` or a folder containing it."""
        probe = path
        while probe:
            stage = self.producer.get(probe)
            if stage is not None:
                return stage
            probe = posixpath.dirname(probe)
        return None


def _closure(names: Iterable[str], edges: dict[str, frozenset[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(edges.get(name, ()))
    return seen


def build_graph(pipeline: PipelineDefinition) -> StageGraph:
    producer: dict[str, str] = {}
    for spec in pipeline.stages.values():
        for path in spec.out_paths:
            other = producer.get(path)
            if other == spec.name:
                raise GraphError(
                    f"stage '{spec.name}' declares the output '{path}' twice; declare it once"
                )
            if other is not None:
                first, second = sorted({other, spec.name})
                raise GraphError(
                    f"two stages write '{path}': '{first}' and '{second}'; each output needs "
                    "exactly one producer"
                )
            producer[path] = spec.name
    # Outputs nested inside another stage's output folder are ambiguous too.
    under: dict[str, list[str]] = {}
    for path in producer:
        parent = posixpath.dirname(path)
        while parent:
            under.setdefault(parent, []).append(path)
            parent = posixpath.dirname(parent)
    for path, stage in producer.items():
        for inner in under.get(path, ()):
            if producer[inner] != stage:
                raise GraphError(
                    f"'{inner}' (from '{producer[inner]}') is inside the output folder '{path}' "
                    f"of '{stage}'; move one of them"
                )

    upstream: dict[str, set[str]] = {name: set() for name in pipeline.stages}
    for spec in pipeline.stages.values():
        for dep in spec.dep_paths:
            sources = set()
            probe = dep
            while probe:
                if probe in producer:
                    sources.add(producer[probe])
                probe = posixpath.dirname(probe)
            sources.update(producer[p] for p in under.get(dep, ()))
            if spec.name in sources:
                raise GraphError(
                    f"stage '{spec.name}' reads '{dep}', which it writes itself; use "
                    "IncrementalOut for an output that builds on its previous version"
                )
            upstream[spec.name].update(sources)

    position = {name: index for index, name in enumerate(pipeline.stages)}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name in pipeline.stages:
        sorter.add(name, *sorted(upstream[name], key=position.__getitem__))
    try:
        order = tuple(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])
        raise GraphError(
            f"the stages form a cycle: {' -> '.join(cycle)}; break it by changing "
            "one stage's deps or outs"
        ) from None
    downstream: dict[str, set[str]] = {name: set() for name in pipeline.stages}
    for name, ups in upstream.items():
        for up in ups:
            downstream[up].add(name)
    return StageGraph(
        order=order,
        upstream={k: frozenset(v) for k, v in upstream.items()},
        downstream={k: frozenset(v) for k, v in downstream.items()},
        producer=producer,
    )


def missing_sources(
    pipeline: PipelineDefinition, graph: StageGraph, stages: Iterable[str]
) -> dict[str, str]:
    """Per stage, why it cannot run for want of a source: its first dep that no stage
    produces and that does not exist in the workspace (tracked data too: it is restored by
    checkout or pull, never behind the user's back)."""
    missing: dict[str, str] = {}
    for name in stages:
        for dep in pipeline[name].dep_paths:
            if (
                not (pipeline.root / dep).exists()
                and graph.producer_of(dep) is None
                and not any(is_within(out, dep) for out in graph.producer)
            ):
                tracked = tracking(pipeline.root, dep)
                if tracked is not None:
                    missing[name] = (
                        f"stage '{name}' depends on '{dep}', tracked by {tracked.manifest} but "
                        f"not in the workspace; `pivot checkout {tracked.path}` restores it from "
                        "the cache, `pivot pull` from the remote"
                    )
                    break
                missing[name] = (
                    f"stage '{name}' depends on '{dep}', which no stage produces and which does "
                    "not exist; create it or fix the path"
                )
                break
    return missing


def check_sources_exist(
    pipeline: PipelineDefinition, graph: StageGraph, stages: Iterable[str]
) -> None:
    """Every dep that no stage produces must exist in the workspace."""
    for message in missing_sources(pipeline, graph, stages).values():
        raise GraphError(message)
