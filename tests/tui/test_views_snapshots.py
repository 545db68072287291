"""SVG snapshots of the metrics screen (its diff against HEAD), the history screen and one
run's stages, at 100x30 (``snapshots/test_views_snapshots/``).

The run history is written with :func:`pivot.core.run.history.record_run` at fixed times and
durations (in UTC), so nothing time-dependent is drawn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from pivot.core.project import Project
from pivot.core.run.events import RunSummary, StageStatus
from pivot.core.run.history import record_run
from pivot.tui import PivotApp
from tests.helpers import TempProject
from tests.tui.conftest import FROZEN_NOW, AppFactory
from tests.tui.test_snapshots import settle
from tests.tui.test_views import views_project

pytestmark = pytest.mark.timeout(120)

SIZE = (100, 30)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def with_history(demo: TempProject, utc: None) -> TempProject:
    """The demo project with three recorded runs: all ran, one failure, one up to date."""
    project = Project(demo.root)
    runs = [
        (
            "20270115-080000-aaaa",
            {"load": "ran", "lengths": "ran", "counts": "ran", "train": "ran"},
            0,
        ),
        (
            "20270115-081500-bbbb",
            {"load": "skipped", "lengths": "ran", "counts": "skipped", "train": "failed"},
            1,
        ),
        (
            "20270115-083000-cccc",
            {"load": "skipped", "lengths": "skipped", "counts": "skipped", "train": "ran"},
            0,
        ),
    ]
    for i, (run_id, statuses, exit_code) in enumerate(runs):
        reasons = {
            name: "never ran" if i == 0 else ("code changed" if status != "skipped" else "")
            for name, status in statuses.items()
        }
        if statuses["train"] == "failed":
            reasons["train"] = "ValueError: the input has no rows"
        summary = RunSummary(
            run_id=run_id,
            statuses={name: StageStatus(s) for name, s in statuses.items()},
            reasons=reasons,
            duration=1.25 + i,
            exit_code=exit_code,
        )
        durations = {name: 0.5 if s != "skipped" else 0.0 for name, s in statuses.items()}
        record_run(project, summary, FROZEN_NOW + 900 * i, durations)
    return demo


async def _metrics_diff(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("m", "d")
    await settle(pilot)


async def _history(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("H")
    await settle(pilot)


async def _run_stages(pilot: Pilot[Any]) -> None:
    await _history(pilot)
    await pilot.press("down", "enter")  # the failed run
    await settle(pilot)


def _app(make_app: AppFactory, root: Path) -> PivotApp:
    return make_app(root)


def test_metrics_diff_100x30(tmp_path: Path, make_app: AppFactory, snap_compare: Any) -> None:
    project = views_project(tmp_path / "views")
    app = _app(make_app, project.root)
    assert snap_compare(app, terminal_size=SIZE, run_before=_metrics_diff)


def test_history_100x30(with_history: TempProject, make_app: AppFactory, snap_compare: Any) -> None:
    app = _app(make_app, with_history.root)
    assert snap_compare(app, terminal_size=SIZE, run_before=_history)


def test_run_stages_100x30(
    with_history: TempProject, make_app: AppFactory, snap_compare: Any
) -> None:
    app = _app(make_app, with_history.root)
    assert snap_compare(app, terminal_size=SIZE, run_before=_run_stages)
