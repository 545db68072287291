"""Fixtures for the TUI tests: real temp projects, apps pointed at them, snapshot location."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_textual_snapshot

from pivot.core.project import Project
from pivot.core.run.engine import Engine
from pivot.core.run.executors import LocalExecutor
from pivot.tui import PivotApp
from tests.helpers import REPO, TempProject, make_project

SNAPSHOT_DIR = REPO / "snapshots"


def _top_level_dirname(cls: type, *, test_location: Any) -> str:
    """SVG snapshots live in the repository's top-level ``snapshots/`` folder, one subfolder
    per test module (syrupy relates a snapshot to its test by that folder name)."""
    return str(SNAPSHOT_DIR / test_location.basename)


# The plugin's extension class is what `snap_compare` uses; pointing its directory at
# snapshots/ also makes `pytest --snapshot-update` prune stale files there.
pytest_textual_snapshot.SVGImageExtension.dirname = classmethod(_top_level_dirname)  # type: ignore[assignment,method-assign]

#: Elapsed times are drawn from this clock: frozen, so nothing time-dependent is drawn.
FROZEN_NOW = 1_800_000_000.0

#: A diamond: load -> (lengths, counts) -> train, with params and a sibling helper module.
DEMO_PIPELINE = """
from typing import Annotated

import pivot
from pivot import loaders
from pivot.stage_def import StageParams

from demo_helpers import scale

pipeline = pivot.Pipeline("demo")


class TrainParams(StageParams):
    epochs: int = 3
    rate: float = 0.1
    name: str = "baseline"


def load(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[dict, pivot.Out("data/words.json", loaders.JSON())]:
    words = raw.split()
    print("loading", len(words), "words")
    return {"words": words}


def lengths(words: Annotated[dict, pivot.Dep("data/words.json", loaders.JSON())]) -> Annotated[dict, pivot.Out("data/lengths.json", loaders.JSON())]:
    return {"lengths": [scale(len(w)) for w in words["words"]]}


def counts(words: Annotated[dict, pivot.Dep("data/words.json", loaders.JSON())]) -> Annotated[str, pivot.Out("data/counts.csv", loaders.Text())]:
    rows = sorted({w: words["words"].count(w) for w in words["words"]}.items())
    return "word,count\\n" + "".join(f"{w},{n}\\n" for w, n in rows)


def train(
    lengths: Annotated[dict, pivot.Dep("data/lengths.json", loaders.JSON())],
    counts: Annotated[str, pivot.Dep("data/counts.csv", loaders.Text())],
    params: TrainParams,
) -> Annotated[dict, pivot.Out("models/model.json", loaders.JSON())]:
    print("training", params.name, "for", params.epochs, "epochs")
    return {"total": sum(lengths["lengths"]) * params.epochs, "rows": counts.count("\\n")}


pipeline.register(load)
pipeline.register(lengths)
pipeline.register(counts)
pipeline.register(train)
"""

DEMO_HELPERS = """
def scale(n):
    return n * 2
"""


def write_demo(project: TempProject) -> TempProject:
    project.write("pipeline.py", DEMO_PIPELINE)
    project.write("demo_helpers.py", DEMO_HELPERS)
    project.write("raw.txt", "the quick brown fox jumps over the lazy dog the end\n")
    project.write("params.yaml", "train:\n  epochs: 5\n")
    return project


@pytest.fixture
def demo(tmp_path: Path) -> TempProject:
    """The demo pipeline, never run (every stage stale)."""
    return write_demo(make_project(tmp_path / "demo"))


@pytest.fixture
def demo_ran(demo: TempProject) -> TempProject:
    """The demo pipeline after a headless run, committed to git."""
    demo.pivot("--no-tui", "run")
    demo.commit_all("ran")
    return demo


#: Two composed pipelines in one pipeline.py: `prep` (3 stages) feeds `model` (2 stages).
TWO_PIPELINES = """
import pivot
from pivot import stage


@stage
def clean(raw: str) -> str:
    return raw.strip().lower()


@stage
def words(text: str) -> dict:
    return {"words": text.split()}


@stage
def report(counted: dict) -> str:
    return f"{len(counted['words'])} words"


@stage
def fit(counted: dict) -> dict:
    return {"weight": len(counted["words"])}


@stage
def score(model: dict, counted: dict) -> dict:
    return {"score": model["weight"] / max(1, len(counted["words"]))}


with pivot.Pipeline("prep") as prep:
    counted = words(clean(prep.input("raw.txt")))
    report(counted)

with pivot.Pipeline("model") as model:
    score(fit(counted), counted)
"""


def write_two_pipelines(project: TempProject) -> TempProject:
    project.write("pipeline.py", TWO_PIPELINES)
    project.write("raw.txt", "The quick brown fox jumps over the lazy dog\n")
    return project


@pytest.fixture
def two_pipelines(tmp_path: Path) -> TempProject:
    """Two composed pipelines in one project, never run (every stage stale)."""
    return write_two_pipelines(make_project(tmp_path / "multi"))


@pytest.fixture(autouse=True)
def _forget_project_modules(tmp_path: Path) -> Iterator[None]:
    """Each test imports its own project's pipeline.py and helpers in this process; forget
    them afterwards so the next project's same-named modules are imported afresh."""
    yield
    root = str(tmp_path)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(root):
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if not p.startswith(root)]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (Textual's loop), through anyio's pytest plugin."""
    return "asyncio"


AppFactory = Callable[..., PivotApp]


@pytest.fixture
def make_app() -> Iterator[AppFactory]:
    """Build apps for project roots; their engines (and worker pools) close at teardown."""
    engines: list[Engine] = []

    def factory(root: Path, *, jobs: int = 1, clock: Callable[[], float] | None = None) -> PivotApp:
        engine = Engine(Project(root), LocalExecutor(jobs))
        engines.append(engine)
        return PivotApp(root, engine=engine, clock=clock or (lambda: FROZEN_NOW))

    yield factory
    for engine in engines:
        engine.close()
