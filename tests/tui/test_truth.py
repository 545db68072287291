"""The app tells the truth: each test pins one thing a new user saw go wrong.

Every test drives the real app on a real temp project (real worker processes) and checks the
words and colours on screen after each step.
"""

from __future__ import annotations

import pytest
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from pivot.tui import PivotApp
from pivot.tui._model import Phase
from pivot.tui._state import AppPhase
from tests.helpers import TempProject
from tests.tui.conftest import AppFactory
from tests.tui.test_app import SLOW_PIPELINE, finished, plain, ready, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def slow(project: TempProject) -> TempProject:
    project.write("pipeline.py", SLOW_PIPELINE)
    return project


def topbar(app: PivotApp) -> str:
    return plain(app.query_one("#topbar", Static)).strip()


def explain_text(app: PivotApp) -> str:
    return plain(app.query_one("#explain-body", Static))


# -- 2: the selected row is highlighted ------------------------------------------------------


async def test_the_selected_row_has_the_cursor_background(
    demo: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("j")
        stages = app.stage_list
        cursor = stages.get_component_rich_style("stages--cursor").bgcolor
        assert cursor is not None
        selected = stages.render_line(1)  # "lengths", the second row
        assert "lengths" in selected.text
        # Every cell of the row, symbol and time included, sits on the cursor's background.
        assert {segment.style.bgcolor for segment in selected if segment.style} == {cursor}
        other = stages.render_line(0)
        assert cursor not in {segment.style.bgcolor for segment in other if segment.style}


# -- 1: keys typed at launch never go into a hidden filter ---------------------------------


async def test_the_hidden_filter_box_cannot_take_keys(
    demo: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        box = app.query_one("#filter")
        assert not box.can_focus  # hidden: Textual's auto-focus at compose cannot pick it
        await ready(pilot, app)
        assert app.focused is app.stage_list
        await pilot.press("x", "y")
        assert app.stage_list.filter_text == ""
        assert "no stage matches" not in app.stage_list.render_line(0).text
        await pilot.press("slash", "n", "t", "enter")
        # A kept filter is named in the pane's title, so a narrowed list explains itself.
        assert app.query_one("#stages-pane").border_title == "Stages · 1/4 match 'nt'"


# -- 3: stages added in watch mode appear -----------------------------------------------------


async def test_watch_mode_shows_a_stage_added_to_pipeline_py(
    demo: TempProject, make_app: AppFactory
) -> None:
    (demo.root / "data").mkdir()
    (demo.root / "models").mkdir()
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("w")
        await wait_for(pilot, lambda: app.state.watch_cycle >= 1 and not app.model.running, 60)
        await wait_for(pilot, lambda: app.model.stages["train"].run_status is Phase.RAN, 60)
        cycle = app.state.watch_cycle
        demo.write(
            "pipeline.py",
            demo.read("pipeline.py")
            + "\n\ndef shout(raw: Annotated[str, pivot.Dep('raw.txt', loaders.Text())])"
            " -> Annotated[str, pivot.Out('loud.txt', loaders.Text())]:\n"
            "    return raw.upper()\n\n\npipeline.register(shout)\n",
        )
        await wait_for(pilot, lambda: app.state.watch_cycle > cycle, 60)
        await wait_for(pilot, lambda: "shout" in app.stage_list.rows, 60)
        await wait_for(pilot, lambda: app.model.stages["shout"].run_status is Phase.RAN, 60)
        await wait_for(pilot, lambda: "5 stages" in topbar(app), 30)
        assert "watching" in topbar(app)
        await pilot.press("w")
        await finished(pilot, app)


# -- 4: Explain after runs -----------------------------------------------------------------


async def test_explain_after_a_forced_run_says_it_was_forced(
    demo_ran: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo_ran.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("G", "f")
        await finished(pilot, app)
        await pilot.press("2")
        await wait_for(pilot, lambda: "up to date" in explain_text(app))
        await app.workers.wait_for_complete()
        text = explain_text(app)
        assert "last ran in this session because: forced" in text
        assert "because: up to date" not in text


async def test_explain_in_watch_mode_between_cycles_has_the_helper_diff(
    demo: TempProject, make_app: AppFactory
) -> None:
    (demo.root / "data").mkdir()
    (demo.root / "models").mkdir()
    app = make_app(demo.root)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("w")
        await wait_for(pilot, lambda: app.model.stages["train"].run_status is Phase.RAN, 60)
        await wait_for(pilot, lambda: not app.model.running)
        app.select_stage("lengths")
        await pilot.press("2")
        await wait_for(pilot, lambda: "up to date" in explain_text(app), 30)
        assert "a run is in progress" not in explain_text(app)
        # A helper edit re-runs `lengths`; between cycles Explain says why, with the diff.
        cycle = app.state.watch_cycle
        demo.write("demo_helpers.py", demo.read("demo_helpers.py").replace("n * 2", "n * 3"))
        await wait_for(pilot, lambda: app.state.watch_cycle > cycle, 60)
        await wait_for(
            pilot, lambda: "demo_helpers" in (app.model.stages["lengths"].ran_reason or ""), 60
        )
        await wait_for(pilot, lambda: not app.model.running, 60)
        await wait_for(pilot, lambda: "Code that changed" in explain_text(app), 30)
        text = explain_text(app)
        assert "a run is in progress" not in text
        assert "because: code changed: func:demo_helpers.scale" in text
        assert "Code that changed for the last run (1)" in text
        assert "n * 3" in text  # the helper's diff
        await pilot.press("w")
        await finished(pilot, app)


# -- 5: the top bar during and after a run ---------------------------------------------------


async def test_top_bar_shows_progress_during_a_run_and_stale_after_cancel(
    slow: TempProject, make_app: AppFactory
) -> None:
    app = make_app(slow.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        assert "2 stale" in topbar(app)
        await pilot.press("R")
        await wait_for(pilot, lambda: app.model.stages["slow"].phase is Phase.RUNNING)
        await wait_for(pilot, lambda: "running 1/2" in topbar(app))
        assert "up to date" not in topbar(app)
        await pilot.press("c")
        await finished(pilot, app)
        await wait_for(pilot, lambda: "1 stale" in topbar(app))
        assert topbar(app).endswith("2 stages · 1 stale")


# -- 6: a broken pipeline.py -----------------------------------------------------------------


async def test_a_broken_pipeline_stays_in_the_top_bar_and_statuses_do_not_change(
    demo_ran: TempProject, make_app: AppFactory
) -> None:
    good = demo_ran.read("pipeline.py")
    app = make_app(demo_ran.root)
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot, app)
        assert "all up to date" in topbar(app)
        demo_ran.write("pipeline.py", good + "\nthis is not python(\n")
        await pilot.press("R")
        await wait_for(pilot, lambda: app.state.phase is AppPhase.BROKEN)
        await finished(pilot, app)
        await pilot.pause(1.0)
        bar = topbar(app)
        assert "✗ pipeline.py:" in bar and "syntax error" in bar, bar
        assert "all up to date" in bar  # the last good statuses, not "4 stale"
        assert {s.phase for s in app.model.stages.values()} == {Phase.FRESH}
        text = app.query_one("#topbar", Static).content
        assert isinstance(text, Text)
        error = Color.parse(app.palette().error)
        assert any(
            isinstance(span.style, Style)
            and span.style.color == error
            and text.plain[span.start : span.end].startswith("✗")
            for span in text.spans
        )
        demo_ran.write("pipeline.py", good)
        await pilot.press("s")
        await wait_for(pilot, lambda: app.state.phase is AppPhase.IDLE)
        assert "✗" not in topbar(app)
        assert "all up to date" in topbar(app)


# -- 7: smaller things -----------------------------------------------------------------------


async def test_too_small_names_the_current_size_and_focus_comes_back(
    demo: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.resize_terminal(50, 14)
        await pilot.pause()
        assert "this one is 50x14" in plain(app.query_one("#too-small", Static))
        await pilot.resize_terminal(40, 12)
        await pilot.pause()
        assert "this one is 40x12" in plain(app.query_one("#too-small", Static))
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.2)
        assert app.focused is app.stage_list
        await pilot.press("j")
        assert app.selected == "lengths"


PREFIX = "preprocess_feature_extraction_for_region_shard_"

LONG_NAMES = (
    "from typing import Annotated\nimport pivot\nfrom pivot import loaders\n"
    'pipeline = pivot.Pipeline("long")\n'
    + "".join(
        f"def {PREFIX}{i:02d}() -> Annotated[str, pivot.Out('out/{i:02d}.txt', loaders.Text())]:\n"
        f"    return '{i}'\n"
        f"pipeline.register({PREFIX}{i:02d})\n"
        for i in range(30)
    )
)


async def test_long_names_with_a_shared_prefix_stay_distinct_and_keep_the_time_unit(
    project: TempProject, make_app: AppFactory
) -> None:
    project.write("pipeline.py", LONG_NAMES)
    app = make_app(project.root)
    async with app.run_test(size=(90, 20)) as pilot:
        await ready(pilot, app)
        await pilot.press("R")
        await finished(pilot, app, timeout=90)
        rows = [app.stage_list.render_line(y).text for y in range(app.stage_list.size.height)]
        names = [row[3:].split()[0] for row in rows if row.strip()]
        assert len(set(names)) == len(names) > 5
        assert all(name.endswith(tuple(f"{i:02d}" for i in range(30))) for name in names)
        # 30 rows in a shorter pane: a scrollbar; every time still ends with its unit.
        assert all(row.rstrip().endswith("s") for row in rows if row.strip())


async def test_esc_after_a_filter_keeps_the_selection_in_view(
    project: TempProject, make_app: AppFactory
) -> None:
    project.write("pipeline.py", LONG_NAMES)
    app = make_app(project.root)
    async with app.run_test(size=(90, 20)) as pilot:
        await ready(pilot, app)
        await pilot.press("slash", *"shard_27", "enter")
        assert app.selected == f"{PREFIX}27"
        await pilot.press("escape")
        await pilot.pause(0.1)
        stages = app.stage_list
        first = stages.scroll_offset.y
        assert first <= stages.cursor < first + stages.size.height


FAILING = """
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("failing")

def broken() -> Annotated[str, pivot.Out("broken.txt", loaders.Text())]:
    print("starting")
    raise ValueError("the input has no rows")

def after(b: Annotated[str, pivot.Dep("broken.txt", loaders.Text())]) -> Annotated[str, pivot.Out("after.txt", loaders.Text())]:
    return b

pipeline.register(broken)
pipeline.register(after)
"""


async def test_a_failure_leaves_a_banner_and_e_jumps_to_the_error(
    project: TempProject, make_app: AppFactory
) -> None:
    project.write("pipeline.py", FAILING)
    app = make_app(project.root)
    async with app.run_test(size=(110, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("R")
        await finished(pilot, app)
        banner = app.query_one("#banner", Static)
        assert banner.display
        assert "1 failed: broken" in plain(banner)
        await pilot.pause(8)  # toasts fade; the banner stays
        assert banner.display
        app.select_stage("after")
        await pilot.press("2")
        await wait_for(pilot, lambda: "not run in the latest run" in explain_text(app))
        # Why it did not run comes first, then what the planner says now.
        assert explain_text(app).startswith("not run in the latest run: upstream")
        await pilot.press("e")
        assert app.selected == "broken" and app.active_tab == "logs"
        assert "first error at line" in plain(app.query_one("#log-status", Static))
        await pilot.press("2")
        await wait_for(pilot, lambda: "failed in the latest run" in explain_text(app))
        assert "the input has no rows" in explain_text(app)
        fixed = FAILING.replace('raise ValueError("the input has no rows")', 'return "ok"')
        project.write("pipeline.py", fixed)
        await pilot.press("R")
        await wait_for(pilot, lambda: not banner.display)


async def test_ctrl_c_cancels_a_run_then_quits(slow: TempProject, make_app: AppFactory) -> None:
    app = make_app(slow.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("R")
        await wait_for(pilot, lambda: app.model.stages["slow"].phase is Phase.RUNNING)
        await pilot.press("ctrl+c")
        await finished(pilot, app)
        assert app.model.stages["slow"].run_status is Phase.CANCELLED
        assert app.return_code is None  # still open
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0


# -- acceptance 4: statuses refresh by themselves ----------------------------------------------


async def test_statuses_refresh_when_data_or_code_changes_outside_watch_mode(
    demo_ran: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo_ran.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        assert "all up to date" in topbar(app)
        demo_ran.write("raw.txt", "brand new words\n")  # data: no key pressed
        await wait_for(pilot, lambda: app.model.stages["load"].phase is Phase.STALE, 30)
        assert "raw.txt" in app.model.stages["load"].reason
        assert "all up to date" not in topbar(app)
        # code: the helper only `lengths` calls; pipeline.py is imported again to see it.
        demo_ran.write("demo_helpers.py", demo_ran.read("demo_helpers.py").replace("2", "5"))
        await wait_for(pilot, lambda: "demo_helpers.scale" in app.model.stages["lengths"].reason)


async def test_f_follows_the_running_stages(demo: TempProject, make_app: AppFactory) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        assert app.selected == "load"
        await pilot.press("F", "R")
        await finished(pilot, app)
        # The selection went along with the run and rests on the last stage that started
        # (without F it stays on "load").
        assert app.selected == "train"
        assert "Following the run" in " ".join(str(n.message) for n in app._notifications)
