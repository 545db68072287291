"""The data-diff screen, driven with Pilot on real git projects: tints, modified rows with and
without their unchanged columns, search across pages and tabs, and the no-key hint.

Assertions read the screen as drawn (the compositor's lines and their colours), not widgets.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import pytest
from rich.color import Color
from textual.pilot import Pilot
from textual.widgets import DataTable

from pivot.core.reports.datadiff import compute_data_diff
from pivot.render.datadiff import TONE_STYLES
from pivot.tui import DataDiffApp, DiffTarget
from pivot.tui._datadiff_screen import DataDiffScreen
from pivot.tui._diffpages import PAGE_SIZE, TUI_MAX_ROWS
from tests.helpers import TempProject

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

HEADER = "id,name,score,city\n"
OLD = HEADER + "1,apple,10,Oslo\n2,pear,20,Lima\n3,plum,30,Pune\n5,kiwi,50,Rome\n7,lime,70,Bonn\n"
NEW = HEADER + "1,apple,11,Oslo\n2,pear,20,Lima\n3,prune,30,Pune\n4,fig,40,Kyiv\n6,date,60,Bern\n"


def fruit(project: TempProject, keys: Sequence[str] = ("id",)) -> DataDiffApp:
    """``fruit.csv`` committed as OLD, NEW in the workspace; the app that compares them."""
    project.write("fruit.csv", OLD)
    project.commit_all("fruit")
    project.write("fruit.csv", NEW)
    return app_for(project, "fruit.csv", keys)


def app_for(project: TempProject, path: str, keys: Sequence[str]) -> DataDiffApp:
    compute = functools.partial(
        compute_data_diff, project.root, path, keys=tuple(keys), max_rows=TUI_MAX_ROWS
    )
    return DataDiffApp([DiffTarget(f"{path} (vs HEAD)", compute)])


async def settle(pilot: Pilot[Any]) -> None:
    for _ in range(2):
        for screen in pilot.app.screen_stack:
            await screen.workers.wait_for_complete()
        await pilot.pause()


def screen_of(app: DataDiffApp) -> DataDiffScreen:
    screen = app.screen
    assert isinstance(screen, DataDiffScreen)
    return screen


def lines(app: DataDiffApp) -> list[str]:
    """The screen as text, a line per row of the terminal."""
    return [strip.text.rstrip() for strip in app.screen._compositor.render_strips()]


def text(app: DataDiffApp) -> str:
    return "\n".join(lines(app))


def line_with(app: DataDiffApp, *words: str) -> str:
    found = [line for line in lines(app) if all(w in line for w in words)]
    assert len(found) == 1, (words, text(app))
    return found[0]


def colours(app: DataDiffApp, word: str) -> set[str]:
    """Foreground colours of every piece of the screen that reads exactly ``word``."""
    found = set()
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            if segment.text.strip() == word and segment.style and segment.style.color:
                found.add(segment.style.color.get_truecolor(app.ansi_theme).hex)
    assert found, f"{word!r} not on screen:\n{text(app)}"
    return found


def background(app: DataDiffApp, line: str) -> set[str]:
    """Background colours of the screen line that reads ``line``."""
    for strip in app.screen._compositor.render_strips():
        if strip.text.rstrip() == line:
            return {s.style.bgcolor.name for s in strip if s.style and s.style.bgcolor}
    raise AssertionError(f"{line!r} not on screen:\n{text(app)}")


def cli_colour(app: DataDiffApp, tone: str) -> str:
    """The colour ``pivot data diff`` gives a tone, as this app draws it."""
    return Color.parse(TONE_STYLES[tone]).get_truecolor(app.ansi_theme).hex  # type: ignore[index]


async def test_added_and_removed_rows_are_tinted_as_in_the_cli(project: TempProject) -> None:
    app = fruit(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "Added (2)  Removed (2)  Modified (2)" in text(app)
        # The cursor sits on the first row; the second shows the tint.
        assert line_with(app, "date", "Bern").split() == ["5", "6", "date", "60", "Bern"]
        assert colours(app, "date") == colours(app, "Bern") == {cli_colour(app, "added")}

        await pilot.press("x")
        await pilot.pause()
        assert line_with(app, "lime").split() == ["5", "7", "lime", "70", "Bonn"]
        assert colours(app, "lime") == colours(app, "Bonn") == {cli_colour(app, "removed")}
        assert cli_colour(app, "added") != cli_colour(app, "removed")


async def test_modified_rows_show_the_key_and_changes_and_u_shows_unchanged_columns(
    project: TempProject,
) -> None:
    app = fruit(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await pilot.pause()
        assert line_with(app, "id", "name", "score").split() == ["id", "name", "score"]
        assert "city" not in text(app)
        # Row 1 holds the cursor; row 3 shows old in the removed colour, new in the added one.
        assert line_with(app, "plum").split() == ["3", "plum", "→", "prune", "·"]
        assert colours(app, "plum") == {cli_colour(app, "removed")}
        assert colours(app, "prune") == {cli_colour(app, "added")}
        assert "u shows unchanged columns" in text(app)

        await pilot.press("u")
        await pilot.pause()
        assert line_with(app, "id", "name", "score").split() == ["id", "name", "score", "city"]
        assert line_with(app, "plum").split() == ["3", "plum", "→", "prune", "30", "Pune"]
        assert line_with(app, "Oslo").split() == ["1", "apple", "10", "→", "11", "Oslo"]
        assert "u hides unchanged columns" in text(app)

        await pilot.press("u")
        await pilot.pause()
        assert "city" not in text(app) and "Pune" not in text(app)


def big_project(project: TempProject) -> DataDiffApp:
    """400 rows; 5 removed, 10 added, 395 modified (4 pages); "zebra" once in each kind."""

    def row(i: int, score: int, name: str | None = None) -> str:
        return f"{i},{name or f'n{i}'},{score},c{i % 4}\n"

    old = HEADER + "".join(row(i, i, "zebra" if i == 3 else None) for i in range(1, 401))
    new = HEADER + "".join(row(i, i + 1, "zebra" if i == 300 else None) for i in range(6, 401))
    new += "".join(row(i, i, "zebra" if i == 405 else None) for i in range(401, 411))
    project.write("big.csv", old)
    project.commit_all("big")
    project.write("big.csv", new)
    return app_for(project, "big.csv", ("id",))


async def test_slash_goes_to_a_key_on_a_later_page(project: TempProject) -> None:
    app = big_project(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        assert screen.active_kind == "added"
        await pilot.press("slash")
        await pilot.press(*"275", "enter")
        await settle(pilot)
        assert screen.active_kind == "modified"
        assert "rows 201-300 of 395 · page 3/4" in text(app)
        assert "key '275': modified, page 3 row 70 · match 1 of 1" in text(app)
        table = screen.query_one("#table-modified", DataTable)
        assert table.row_count == PAGE_SIZE  # still one page in the table
        # The row is on screen (its name did not change: `·`), under the cursor.
        row = line_with(app, "275 → 276")
        assert row.split() == ["275", "·", "275", "→", "276"]
        # Highlighted by the cursor (row 273 has the same zebra stripe as row 275)
        assert background(app, row) != background(app, line_with(app, "273 → 274"))
        assert table.cursor_row == 69
        assert str(table.get_row_at(table.cursor_row)[0]) == "275"


async def test_search_by_text_n_and_N_cycle_through_tabs(project: TempProject) -> None:
    app = big_project(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        await pilot.press("slash", *"ZEBRA", "enter")
        await settle(pilot)
        assert "text 'ZEBRA': added, page 1 row 5 · match 1 of 3 · n/N next/previous" in text(app)
        assert screen.active_kind == "added"

        await pilot.press("n")
        await pilot.pause()
        assert screen.active_kind == "removed"
        assert "text 'ZEBRA': removed, page 1 row 3 · match 2 of 3" in text(app)

        await pilot.press("n")
        await pilot.pause()
        assert screen.active_kind == "modified"
        assert "modified, page 3 row 95 · match 3 of 3" in text(app)
        assert "zebra" in line_with(app, "300", "zebra")

        await pilot.press("n")  # wraps to the first
        await pilot.pause()
        assert "match 1 of 3" in text(app) and screen.active_kind == "added"
        await pilot.press("N")
        await pilot.pause()
        assert "match 3 of 3" in text(app) and screen.active_kind == "modified"


async def test_search_without_a_match_says_so(project: TempProject) -> None:
    app = fruit(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"99", "enter")
        await settle(pilot)
        message = "no row with key '99', and no cell contains it"
        assert message in text(app)
        assert colours(app, message) == {app.theme_variables["text-warning"].lower()}
        assert screen_of(app).active_kind == "added"  # nothing moved


async def test_esc_closes_the_search_box_not_the_screen(project: TempProject) -> None:
    app = fruit(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", "q")  # q is typed into the box, it does not quit
        assert "q" in text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DataDiffScreen)
        assert "key or text" not in text(app)


async def test_a_diff_without_key_shows_how_to_pass_one(project: TempProject) -> None:
    app = fruit(project, keys=())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "compared by position" in text(app)
        hint = line_with(app, "hint:")
        assert hint.strip().startswith("hint: pass --key COL to pair rows by a key column")
        await pilot.press("m")
        await pilot.pause()
        assert line_with(app, "row", "name", "score").split() == [
            "row",
            "id",
            "name",
            "score",
            "city",
        ]
        # Searching a value still works by text; a miss says there is no key to go to.
        await pilot.press("slash", *"Nowhere", "enter")
        await settle(pilot)
        assert "no row with 'Nowhere' in any cell (no --key: no key to go to)" in text(app)

    keyed = app_for(project, "fruit.csv", ("id",))
    async with keyed.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "hint:" not in text(keyed)
