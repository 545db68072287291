"""SVG snapshots of the main screen, the Explain tab with a code diff, the help screen and the
data-diff screen. They live in ``snapshots/test_snapshots/`` at the top of the repository (see
conftest); ``pytest tests/tui --snapshot-update`` regenerates them and prunes stale ones.

Nothing time-, pid- or path-dependent is drawn: the project folder is always named ``demo``,
the clock is frozen, and no stage runs inside these apps (so no durations or spinners).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from pivot.tui import DataDiffApp, DiffTarget
from pivot.tui._app import PivotApp
from pivot.tui._detail_pane import data_diff_target
from tests.helpers import TempProject
from tests.tui.conftest import AppFactory

pytestmark = pytest.mark.timeout(90)


async def settle(pilot: Pilot[Any]) -> None:
    app = pilot.app
    if isinstance(app, PivotApp):
        while not app.model.planned:
            await pilot.pause(0.05)
    for _ in range(3):
        await app.workers.wait_for_complete()
        for screen in app.screen_stack:
            await screen.workers.wait_for_complete()
        await pilot.pause()


@pytest.fixture
def edited(demo_ran: TempProject) -> TempProject:
    """Ran and committed, then a helper edited: `lengths` and `train` are stale."""
    demo_ran.write("demo_helpers.py", "\ndef scale(n):\n    return n * 3\n")
    return demo_ran


def test_main_screen(edited: TempProject, make_app: AppFactory, snap_compare: Any) -> None:
    assert snap_compare(make_app(edited.root), terminal_size=(100, 30), run_before=settle)


def test_main_screen_80x24(edited: TempProject, make_app: AppFactory, snap_compare: Any) -> None:
    assert snap_compare(make_app(edited.root), terminal_size=(80, 24), run_before=settle)


@pytest.mark.parametrize(
    ("theme", "size"),
    [("textual-light", (80, 24)), ("textual-light", (200, 50)), ("textual-dark", (200, 50))],
    ids=["light-80x24", "light-200x50", "dark-200x50"],
)
def test_main_screen_in_both_themes_small_and_wide(
    edited: TempProject, make_app: AppFactory, snap_compare: Any, theme: str, size: tuple[int, int]
) -> None:
    app = make_app(edited.root)
    app.theme = theme
    assert snap_compare(app, terminal_size=size, run_before=settle)


def test_explain_tab_light_wide(
    edited: TempProject, make_app: AppFactory, snap_compare: Any
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("j", "2")
        await settle(pilot)

    app = make_app(edited.root)
    app.theme = "textual-light"
    assert snap_compare(app, terminal_size=(200, 50), run_before=run_before)


def test_explain_tab_with_code_diff(
    edited: TempProject, make_app: AppFactory, snap_compare: Any
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("j", "2")
        await settle(pilot)

    assert snap_compare(make_app(edited.root), terminal_size=(100, 30), run_before=run_before)


def test_help_screen(demo: TempProject, make_app: AppFactory, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(make_app(demo.root), terminal_size=(100, 40), run_before=run_before)


def test_data_diff_screen(demo_ran: TempProject, snap_compare: Any) -> None:
    demo_ran.write("data/counts.csv", "word,count\nbrown,2\nfox,1\nquick,1\nzebra,4\n")
    targets: list[DiffTarget] = [
        data_diff_target(Path(demo_ran.root), "data/counts.csv", keys=("word",))
    ]
    assert snap_compare(DataDiffApp(targets), terminal_size=(80, 24), run_before=settle)


def test_too_small_terminal(demo: TempProject, make_app: AppFactory, snap_compare: Any) -> None:
    assert snap_compare(make_app(demo.root), terminal_size=(50, 14), run_before=settle)


def test_two_pipelines_under_headings(
    two_pipelines: TempProject, make_app: AppFactory, snap_compare: Any
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("j", "j", "j")  # past the `model` heading, onto model/fit
        await settle(pilot)

    assert snap_compare(
        make_app(two_pipelines.root), terminal_size=(100, 30), run_before=run_before
    )
