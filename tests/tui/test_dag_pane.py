"""The DAG pane driven with Pilot on the demo project: what the user reads on screen after each
key (words and colours), not the widget's internals."""

from __future__ import annotations

import pytest
from rich.color import Color as RichColor
from textual.color import Color
from textual.geometry import Region

from pivot.tui import PivotApp
from pivot.tui._dag_view import DagView
from tests.helpers import TempProject
from tests.tui.conftest import AppFactory
from tests.tui.test_app import finished, ready, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


def dag_screen(app: PivotApp) -> list[list[tuple[str, RichColor | None]]]:
    """The DAG pane as drawn on the screen: each line as (character, foreground colour)."""
    return pane_screen(app, app.query_one(DagView).content_region)


def pane_screen(app: PivotApp, region: Region) -> list[list[tuple[str, RichColor | None]]]:
    strips = app.screen._compositor.render_strips()
    lines = []
    for strip in strips[region.y : region.bottom]:
        cells: list[tuple[str, RichColor | None]] = []
        for segment in strip:
            color = segment.style.color if segment.style else None
            cells += [(char, color) for char in segment.text]
        lines.append(cells[region.x : region.right])
    return lines


def dag_text(app: PivotApp) -> list[str]:
    return ["".join(char for char, _ in line).rstrip() for line in dag_screen(app)]


def symbol_colour(app: PivotApp, stage: str) -> tuple[str, RichColor | None]:
    """The status symbol drawn in front of ``stage``'s node, and its colour."""
    for line in dag_screen(app):
        text = "".join(char for char, _ in line)
        at = text.find(f" {stage}]")
        if at > 0:
            return line[at - 1]
    raise AssertionError(f"{stage} is not drawn in the DAG pane:\n" + "\n".join(dag_text(app)))


def theme_colour(app: PivotApp, variable: str) -> RichColor:
    return Color.parse(app.theme_variables[variable]).rich_color


def stage_pane_colour(app: PivotApp, stage: str) -> tuple[str, RichColor | None]:
    """The status symbol the stage pane draws for ``stage`` (same palette as the DAG pane)."""
    for line in pane_screen(app, app.stage_list.content_region):
        text = "".join(char for char, _ in line)
        if text.split()[1:2] == [stage]:
            return line[text.index(stage) - 2]
    raise AssertionError(f"{stage} is not in the stage pane")


async def test_d_opens_the_pane_and_keys_walk_the_graph(
    demo: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        dag = app.query_one(DagView)
        await pilot.press("d")
        assert app.focused is dag
        text = dag_text(app)
        middle = len(text) // 2
        assert "[○ load]" in text[middle]  # the selection on the middle line
        assert any("[○ lengths]  [○ counts]" in line for line in text[middle:])
        assert any("┌" in line and "┴" in line for line in text[middle:])

        await pilot.press("j")  # to a child: the stage list follows
        assert app.selected == "lengths" and app.stage_list.selected == "lengths"
        text = dag_text(app)
        assert "[○ lengths]  [○ counts]" in text[middle].strip()
        assert "[○ load]" in "".join(text[:middle]) and "[○ train]" in "".join(text[middle:])

        await pilot.press("l")  # to the sibling
        assert app.selected == "counts"
        await pilot.press("j", "k")  # down to train, then back up the way it came
        assert app.selected == "counts"
        await pilot.press("k")
        assert app.selected == "load"
        assert "[○ load]" in dag_text(app)[middle]

        await pilot.press("d")  # from the pane, d hides it
        assert not dag.display or not app.query_one("#dag-pane").display
        assert app.focused is app.stage_list
        await pilot.press("d")
        assert app.query_one("#dag-pane").display and app.focused is dag


async def test_slash_filters_enter_selects_esc_keeps_the_selection(
    demo: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("d", "slash", "t", "r")
        text = dag_text(app)
        assert text[0].startswith("/tr▏  1 of 4 stages")
        assert "[○ train]" in text[1]
        assert "load" not in "\n".join(text)
        assert app.selected == "load"  # typing alone moves nothing; q, j, k are typed too
        await pilot.press("backspace", "backspace", "e", "n", "enter")
        assert app.selected == "lengths" and app.stage_list.selected == "lengths"
        middle = len(dag_text(app)) // 2
        assert "[○ lengths]" in dag_text(app)[middle]

        await pilot.press("slash", "q", "j", "escape")
        assert app.is_running and app.selected == "lengths"
        assert "[○ lengths]" in dag_text(app)[middle]


async def test_statuses_are_coloured_from_the_palette(
    demo_ran: TempProject, make_app: AppFactory
) -> None:
    # counts' output is gone (restored from the cache on the next run); lengths will fail.
    (demo_ran.root / "data" / "counts.csv").unlink()
    demo_ran.write("demo_helpers.py", "def scale(n):\n    raise ValueError('broken')\n")
    app = make_app(demo_ran.root)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("d", "j")  # lengths: load above, counts beside, train below
        assert app.selected == "lengths"
        assert symbol_colour(app, "lengths") == ("○", theme_colour(app, "text-warning"))
        assert symbol_colour(app, "load") == stage_pane_colour(app, "load")
        assert symbol_colour(app, "load")[1] != symbol_colour(app, "lengths")[1]

        await pilot.press("R")
        await wait_for(pilot, lambda: app.model.last_run is not None, 60)
        await finished(pilot, app)
        await pilot.pause()
        assert symbol_colour(app, "lengths") == ("✗", theme_colour(app, "text-error"))
        assert symbol_colour(app, "counts") == ("↺", theme_colour(app, "text-success"))
        assert symbol_colour(app, "train") == ("-", theme_colour(app, "text-warning"))
        for stage in ("load", "lengths", "counts", "train"):
            assert symbol_colour(app, stage) == stage_pane_colour(app, stage)


async def test_click_selects_a_node(demo: TempProject, make_app: AppFactory) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        text = dag_text(app)
        y = next(i for i, line in enumerate(text) if "counts" in line)
        await pilot.click(DagView, offset=(text[y].index("counts"), y))
        assert app.selected == "counts" and app.stage_list.selected == "counts"
