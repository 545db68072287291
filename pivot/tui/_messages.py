"""Typed messages from worker threads to the app (posting a message is thread-safe)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message

from pivot.core.pipeline.graph import StageGraph
from pivot.core.run.events import Event, RunSummary
from pivot.core.run.planner import Decision


class PipelineLoaded(Message):
    """The pipeline was (re)loaded; ``graph`` is the stage graph to show."""

    def __init__(self, graph: StageGraph) -> None:
        super().__init__()
        self.graph = graph


class EngineFailed(Message):
    """Loading, planning or starting a run failed with a Pivot error (shown to the user)."""

    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


class PlanReady(Message):
    """Decisions for every stage, and the graph they were planned on (it may have changed:
    stages added or renamed in pipeline.py)."""

    def __init__(
        self, decisions: list[Decision], generation: int, graph: StageGraph | None = None
    ) -> None:
        super().__init__()
        self.decisions = decisions
        self.generation = generation
        self.graph = graph


class EngineEvents(Message):
    """A batch of engine events, in the order the engine emitted them."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class RunDone(Message):
    """The run worker returned (after the RunFinished event, if the run started)."""

    def __init__(self, summary: RunSummary | None) -> None:
        super().__init__()
        self.summary = summary


class DetailReady(Message):
    """Data for one detail tab of one stage, computed in a worker."""

    def __init__(self, tab: str, stage: str, token: int, payload: Any) -> None:
        super().__init__()
        self.tab = tab
        self.stage = stage
        self.token = token
        self.payload = payload


class WatchEnded(Message):
    """The watch session stopped and released the engine."""


class FilesTouched(Message):
    """Files of the project changed while no watch session runs (``_autorefresh``)."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = paths


class SourceFound(Message):
    """Where a stage's function is (``o``); ``source`` is None, with ``error``, if unknown."""

    def __init__(self, stage: str, source: tuple[Path, int] | None, error: str | None) -> None:
        super().__init__()
        self.stage = stage
        self.source = source
        self.error = error
