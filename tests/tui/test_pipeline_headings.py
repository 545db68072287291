"""The stage pane groups a project's pipelines under headings: driven with Pilot on real
projects with several pipelines, reading the words and colours drawn on screen."""

from __future__ import annotations

import pytest
from rich.style import Style

from pivot.tui import PivotApp
from pivot.tui._stage_list import StageList
from tests.helpers import TempProject
from tests.tui.conftest import AppFactory
from tests.tui.test_app import ready
from tests.tui.test_dag_pane import theme_colour

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

#: The pane with nothing filtered: `prep` and `model`, each under its heading.
BOTH = [
    " prep · 3 stages",
    "  ○ clean",
    "  ○ words",
    "  ○ report",
    " model · 2 stages",
    "  ○ fit",
    "  ○ score",
]

#: An annotated stage in the root pipeline.py, then two composed pipelines reading its output.
ROOT_AND_TWO = """
from typing import Annotated

import pivot
from pivot import loaders, stage


def seed() -> Annotated[str, pivot.Out("seed.txt", loaders.Text())]:
    return "x"


pivot.Pipeline("root").register(seed)


@stage
def shout(text: str) -> str:
    return text.upper()


@stage
def whisper(text: str) -> str:
    return text.lower()


with pivot.Pipeline("a") as a:
    shout(a.input("seed.txt"))

with pivot.Pipeline("b") as b:
    shout(b.input("seed.txt"))
    whisper(b.input("seed.txt"))
"""


def pane_cells(app: PivotApp) -> list[list[tuple[str, Style]]]:
    """The stage pane as drawn on the screen: each line as (character, style)."""
    region = app.stage_list.content_region
    lines = []
    for strip in app.screen._compositor.render_strips()[region.y : region.bottom]:
        cells = [(char, segment.style or Style()) for segment in strip for char in segment.text]
        lines.append(cells[region.x : region.right])
    return lines


def pane_text(app: PivotApp) -> list[str]:
    """The stage pane's lines as read on screen, blank lines at the end left out."""
    lines = ["".join(char for char, _ in line).rstrip() for line in pane_cells(app)]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def cursor_line(app: PivotApp) -> str:
    """The one line drawn on the cursor's background."""
    cursor = app.stage_list.get_component_rich_style("stages--cursor").bgcolor
    found = [
        "".join(char for char, _ in line).strip()
        for line in pane_cells(app)
        if line and all(style.bgcolor == cursor for _, style in line)
    ]
    assert len(found) == 1, found
    return found[0]


async def test_each_pipeline_has_a_bold_heading_in_no_status_colour(
    two_pipelines: TempProject, make_app: AppFactory
) -> None:
    """Headings are bold text in the pane's foreground: never the colour of a status symbol
    (orange would read as stale or running)."""
    app = make_app(two_pipelines.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        assert pane_text(app) == BOTH
        assert app.stage_list.rows == [
            "prep/clean",
            "prep/words",
            "prep/report",
            "model/fit",
            "model/score",
        ]
        foreground = theme_colour(app, "foreground")
        tones = {
            theme_colour(app, f"text-{tone}") for tone in ("warning", "accent", "success", "error")
        }
        for line in (0, 4):
            styles = {style for char, style in pane_cells(app)[line] if char.strip()}
            assert {style.color for style in styles} == {foreground}
            assert foreground not in tones
            assert all(style.bold for style in styles)
        # A stage's name is not bold: only headings (and the cursor's row) are.
        assert not any(style.bold for char, style in pane_cells(app)[5][4:7])
        assert app.selected == "prep/clean" and cursor_line(app) == "○ clean"


async def test_the_cursor_never_lands_on_a_heading(
    two_pipelines: TempProject, make_app: AppFactory
) -> None:
    app = make_app(two_pipelines.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("j", "j", "j")  # past the `model` heading
        assert app.selected == "model/fit" and cursor_line(app) == "○ fit"
        await pilot.press("k")
        assert app.selected == "prep/report" and cursor_line(app) == "○ report"
        await pilot.press("down", "down")
        assert app.selected == "model/score"
        await pilot.press("j")  # the last stage stays selected
        assert app.selected == "model/score"
        await pilot.press("g")
        assert app.selected == "prep/clean" and cursor_line(app) == "○ clean"
        await pilot.press("up")
        assert app.selected == "prep/clean"
        await pilot.press("G")
        assert app.selected == "model/score"
        await pilot.press("home")
        assert app.selected == "prep/clean"
        await pilot.press("end")
        assert app.selected == "model/score"
        await pilot.press("pageup")
        assert app.selected == "prep/clean"
        await pilot.press("pagedown")
        assert app.selected == "model/score"
        # A click on a heading selects the first stage under it; on a stage, that stage.
        await pilot.click(StageList, offset=(3, 4))
        assert app.selected == "model/fit" and cursor_line(app) == "○ fit"
        await pilot.click(StageList, offset=(3, 0))
        assert app.selected == "prep/clean"
        await pilot.click(StageList, offset=(5, 3))
        assert app.selected == "prep/report"
        app.stage_list.select("model/score")
        await pilot.pause()
        assert app.selected == "model/score" and cursor_line(app) == "○ score"
        assert pane_text(app) == BOTH


async def test_a_filter_keeps_the_headings_of_pipelines_with_matches(
    two_pipelines: TempProject, make_app: AppFactory
) -> None:
    app = make_app(two_pipelines.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("slash", "o")
        assert pane_text(app) == [
            " prep · 2 of 3 stages",
            "  ○ words",
            "  ○ report",
            " model · 2 stages",
            "  ○ fit",
            "  ○ score",
        ]
        assert app.selected == "prep/words"
        # One pipeline left: no heading, and the name keeps its `model/`, as with one pipeline.
        await pilot.press("backspace", *"sco")
        assert pane_text(app) == [" ○ model/score"]
        assert app.selected == "model/score"
        await pilot.press("escape")
        assert pane_text(app) == BOTH
        assert app.selected == "model/score" and cursor_line(app) == "○ score"


async def test_stages_of_the_root_pipeline_py_have_a_heading_too(
    project: TempProject, make_app: AppFactory
) -> None:
    project.write("pipeline.py", ROOT_AND_TWO)
    app = make_app(project.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        assert pane_text(app) == [
            " pipeline.py · 1 stage",
            "  ○ seed",
            " a · 1 stage",
            "  ○ shout",
            " b · 2 stages",
            "  ○ shout",
            "  ○ whisper",
        ]
        await pilot.press("slash", *"shout")
        # `seed` and `whisper` do not match: the pipeline.py heading goes, b's counts one of two.
        assert pane_text(app) == [
            " a · 1 stage",
            "  ○ shout",
            " b · 1 of 2 stages",
            "  ○ shout",
        ]
        await pilot.press("enter", "j")
        assert app.selected == "b/shout" and cursor_line(app) == "○ shout"
