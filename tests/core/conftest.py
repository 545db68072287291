"""A real Pivot project in ``tmp_path``, driven in-process.

Its ``pipeline.py`` is imported by the real discovery, its locks, LMDB state and cache are the
real ones under ``.pivot/``. Runs go through the real :class:`Engine`, with an executor that
calls the real worker function in this process instead of a loky pool: the unit tests stay
well under a second each and still exercise the whole plan → run → commit path.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from pivot.core.pipeline.discovery import PipelineDefinition, load_pipeline, unload_project
from pivot.core.project import Project
from pivot.core.run import worker
from pivot.core.run.engine import Engine, RunRequest, RunSummary
from pivot.core.run.events import Event
from pivot.core.run.executors.base import Executor
from pivot.core.run.planner import Decision
from pivot.core.run.worker import StageOutcome, StageTask, execute_stage
from pivot.core.store import state
from pivot.core.store.paths import init_project


class InlineExecutor(Executor):
    """Runs each stage at submit time, in this process, one at a time.

    ``execute_stage`` is what a loky worker runs; it changes the working directory to the
    project, which a worker process never gives back but a test process must.
    """

    @property
    def capacity(self) -> int:
        return 1

    def submit(self, task: StageTask) -> Future[StageOutcome]:
        future: Future[StageOutcome] = Future()
        cwd = os.getcwd()
        try:
            future.set_result(execute_stage(task))
        finally:
            os.chdir(cwd)
        return future

    def kill(self) -> None:
        """Nothing runs in the background."""

    def restart(self) -> None:
        """No warm workers to drop."""


class InProcessProject:
    """A project folder, its stores, and the verbs a test needs: write files, load the
    pipeline, ask for decisions, run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        init_project(root)
        self.project = Project(root)
        self.events: list[Event] = []

    # -- files ---------------------------------------------------------------------------------

    def path(self, rel: str) -> Path:
        return self.root / rel

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def edit(self, rel: str, old: str, new: str) -> None:
        """Replace the one occurrence of ``old`` in ``rel`` with ``new``."""
        text = self.read(rel)
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
        (self.root / rel).write_text(text.replace(old, new), encoding="utf-8")

    # -- the pipeline --------------------------------------------------------------------------

    def load(self) -> PipelineDefinition:
        """Import ``pipeline.py`` (and the modules it imports) afresh, as a new process would."""
        return load_pipeline(self.root, fresh=True)

    def engine(self) -> Engine:
        engine = Engine(self.project, InlineExecutor())
        engine.load(fresh=True)
        return engine

    def status(self, *targets: str, force: bool = False) -> dict[str, Decision]:
        """The predicted decisions `pivot status` and `run --dry-run` show."""
        return {d.stage: d for d in self.engine().plan(targets, force=force)}

    def decide(self, stage: str, *, force: bool = False) -> Decision:
        """The decision the engine takes once the stage's upstream stages have finished."""
        planner = self.engine().planner()
        try:
            return planner.decide(stage, force=force)
        finally:
            planner.flush()

    def run(self, *targets: str, force: bool = False) -> RunSummary:
        """`pivot run`; fails the test unless every stage completed."""
        summary = self.engine().run(
            RunRequest(targets=targets, force=force), emit=self.events.append
        )
        assert summary.exit_code == 0, summary.reasons
        return summary

    def close(self) -> None:
        unload_project(self.root)
        if "state" in self.project.__dict__:  # LMDB opened: close it, as process exit would
            env = state._ENVS.pop(self.project.state.path, None)
            if env is not None:
                env.close()


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessProject]:
    """An initialized project at ``tmp_path/proj``, isolated from the test process's imports."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # execute_stage sets it, as workers want
    # Each test starts like a fresh worker process: no project imported yet.
    monkeypatch.setattr(worker, "_loaded", None)
    for name in ("pipeline", "helpers"):  # left by other in-process tests
        monkeypatch.delitem(sys.modules, name, raising=False)
    root = tmp_path / "proj"
    root.mkdir()
    project = InProcessProject(root)
    yield project
    project.close()
    for name in ("pipeline", "helpers"):
        sys.modules.pop(name, None)
