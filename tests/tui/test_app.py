"""The app driven with Pilot on real temp projects, with real worker processes.

Each action must leave the project exactly as the headless CLI would: the tests check the
lock files and ask `pivot --no-tui` afterwards.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from pivot.tui import PivotApp
from pivot.tui._dag_view import DagView
from pivot.tui._inputs import EscInput
from pivot.tui._log_view import LogView
from pivot.tui._model import Phase
from pivot.tui._screens import ConfirmQuit, HelpScreen
from pivot.tui._stage_list import StageList
from pivot.tui._tab_bar import TabBar
from tests.helpers import TempProject
from tests.tui.conftest import AppFactory

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


async def wait_for(
    pilot: Pilot[object], condition: Callable[[], bool], timeout: float = 30
) -> None:
    loop_time = 0.0
    while not condition():
        if loop_time > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.05)
        loop_time += 0.05


async def ready(pilot: Pilot[object], app: PivotApp) -> None:
    """Wait until the pipeline is loaded and planned and the detail tab is filled."""
    await wait_for(pilot, lambda: app.model.planned)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def finished(pilot: Pilot[object], app: PivotApp, timeout: float = 60) -> None:
    await wait_for(pilot, lambda: not app.busy, timeout)
    await app.workers.wait_for_complete()
    await pilot.pause()


def phases(app: PivotApp) -> dict[str, Phase]:
    return {name: state.phase for name, state in app.model.stages.items()}


def plain(widget: Static) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(widget.content)
    return out.getvalue()


SLOW_PIPELINE = """
import time
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("slow")

def quick() -> Annotated[dict, pivot.Out("quick.json", loaders.JSON())]:
    return {"ok": True}

def slow(q: Annotated[dict, pivot.Dep("quick.json", loaders.JSON())]) -> Annotated[dict, pivot.Out("slow.json", loaders.JSON())]:
    print("slow started", flush=True)
    time.sleep(60)
    return {"done": True}

pipeline.register(quick)
pipeline.register(slow)
"""


@pytest.fixture
def slow(project: TempProject) -> TempProject:
    project.write("pipeline.py", SLOW_PIPELINE)
    return project


async def test_opens_on_the_project_with_planned_statuses(
    demo: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        assert app.stage_list.rows == ["load", "lengths", "counts", "train"]
        assert set(phases(app).values()) == {Phase.STALE}
        assert app.selected == "load"
        assert "4 stages · 4 stale" in plain(app.query_one("#topbar", Static))


async def test_r_runs_the_selected_stage_with_its_upstream(
    demo: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("j")  # lengths
        assert app.selected == "lengths"
        await pilot.press("r")
        assert app.busy
        await finished(pilot, app)
        assert phases(app) == {
            "load": Phase.RAN,
            "lengths": Phase.RAN,
            "counts": Phase.STALE,
            "train": Phase.STALE,
        }
    assert sorted(p.stem for p in (demo.root / ".pivot" / "stages").glob("*.lock")) == [
        "lengths",
        "load",
    ]
    headless = demo.status_json()
    assert {name: row["status"] for name, row in headless.items()} == {
        "load": "cached",
        "lengths": "cached",
        "counts": "stale",
        "train": "stale",
    }


async def test_R_runs_everything_stale_like_pivot_run(
    demo: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("R")
        await finished(pilot, app)
        assert set(phases(app).values()) == {Phase.RAN}
        assert "all up to date" in plain(app.query_one("#topbar", Static))
        # The selected stage's log arrived live.
        assert list(app.query_one(LogView).lines) == ["loading 11 words"]
    assert demo.statuses() == dict.fromkeys(["load", "lengths", "counts", "train"], "skipped")
    assert '"total": 410' in demo.read("models/model.json")


async def test_f_forces_the_selected_stage_only(
    demo_ran: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo_ran.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("G")
        assert app.selected == "train"
        await pilot.press("f")
        await finished(pilot, app)
        statuses = {name: s.run_status for name, s in app.model.stages.items()}
        assert statuses == {
            "load": Phase.SKIPPED,
            "lengths": Phase.SKIPPED,
            "counts": Phase.SKIPPED,
            "train": Phase.RAN,
        }


async def test_c_cancels_the_run_and_nothing_is_committed(
    slow: TempProject, make_app: AppFactory
) -> None:
    app = make_app(slow.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("R")
        await wait_for(pilot, lambda: app.model.stages["slow"].phase is Phase.RUNNING)
        await wait_for(pilot, lambda: len(app.model.stages["slow"].log) > 0)
        await pilot.press("c")
        await finished(pilot, app)
        assert app.model.stages["slow"].run_status is Phase.CANCELLED
        assert app.model.stages["quick"].run_status is Phase.RAN
        assert app.model.stages["slow"].phase is Phase.CANCELLED
    assert not (slow.root / ".pivot" / "stages" / "slow.lock").exists()
    assert not (slow.root / "slow.json").exists()
    assert slow.status_json()["slow"]["status"] == "stale"
    assert slow.status_json()["quick"]["status"] == "cached"


async def test_q_during_a_run_asks_and_cancels(slow: TempProject, make_app: AppFactory) -> None:
    app = make_app(slow.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("R")
        await wait_for(pilot, lambda: app.model.stages["slow"].phase is Phase.RUNNING)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmQuit)
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmQuit)
        assert app.busy
        await pilot.press("q")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 130
    assert app.wait_for_engine(timeout=30)
    assert not (slow.root / ".pivot" / "stages" / "slow.lock").exists()
    assert slow.status_json()["slow"]["status"] == "stale"


async def test_q_when_idle_quits_at_once(demo: TempProject, make_app: AppFactory) -> None:
    app = make_app(demo.root)
    async with app.run_test() as pilot:
        await ready(pilot, app)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0


async def test_filter_with_slash(demo: TempProject, make_app: AppFactory) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("slash")
        box = app.query_one("#filter", EscInput)
        assert box.has_focus
        await pilot.press("n", "t")  # q/j/k would be typed, not acted on, while typing
        await pilot.pause()  # the list's Highlighted message reaches the app
        assert app.stage_list.rows == ["counts"]
        assert app.selected == "counts"
        await pilot.press("enter")
        assert app.stage_list.has_focus and app.stage_list.rows == ["counts"]
        await pilot.press("escape")  # on the list: clears the filter
        assert app.stage_list.rows == ["load", "lengths", "counts", "train"]
        assert app.selected == "counts"
        await pilot.press("slash", "x", "y", "z")
        assert app.stage_list.rows == []
        await pilot.press("escape")  # in the box: clears and closes it
        assert app.stage_list.rows == ["load", "lengths", "counts", "train"]
        assert not box.display


async def test_tabs_show_explain_params_and_outputs(
    demo_ran: TempProject, make_app: AppFactory
) -> None:
    demo_ran.write("demo_helpers.py", "\ndef scale(n):\n    return n * 3\n")
    app = make_app(demo_ran.root)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        assert phases(app)["lengths"] is Phase.STALE
        await pilot.press("j", "2")
        assert app.active_tab == "explain"
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = plain(app.query_one("#explain-body", Static))
        assert "will run: code changed: func:demo_helpers.scale" in text
        assert "-     return n * 2" in text and "+     return n * 3" in text

        await pilot.press("G", "3")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = plain(app.query_one("#params-body", Static))
        assert "* epochs" in text and "params.yaml" in text
        assert "rate" in text and "default" in text

        bar = app.query_one(TabBar)
        await pilot.click(TabBar, offset=(bar.offset_of("outputs") + 2, 0))
        assert app.active_tab == "outputs"
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.query_one("#outputs-table", DataTable)
        assert [str(c) for c in table.get_row_at(0)][:2] == ["models/model.json", "out"]

        await pilot.press("1")
        assert app.active_tab == "logs"
        await wait_for(pilot, lambda: len(app.query_one(LogView).lines) > 0)
        assert list(app.query_one(LogView).lines) == ["training baseline for 5 epochs"]


async def test_outputs_enter_opens_the_data_diff(
    demo_ran: TempProject, make_app: AppFactory
) -> None:
    from pivot.tui._datadiff_screen import DataDiffScreen

    demo_ran.write("data/counts.csv", "word,count\nbrown,2\nfox,1\n")
    app = make_app(demo_ran.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("j", "j", "4")
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.query_one("#outputs-table", DataTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, DataDiffScreen)
        await app.screen.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.active_kind == "removed"
        diff, _ = app.screen.results[0]
        assert diff is not None and diff.counts.removed == 7
        assert app.screen.query_one("#table-removed", DataTable).row_count == 7
        await pilot.press("r")  # run keys do not apply on this screen
        assert not app.busy
        await pilot.press("escape")
        assert not isinstance(app.screen, DataDiffScreen)


async def test_help_lists_every_binding_and_the_same_key_closes_it(
    demo: TempProject, make_app: AppFactory
) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = plain(app.screen.query_one("#help-table", Static))
        for group, rows in app.help_groups():
            assert group in text
            for keys, description in rows:
                assert keys in text and description in text
        for binding in (*PivotApp.BINDINGS, *StageList.BINDINGS, *LogView.BINDINGS):
            assert binding.description in text  # type: ignore[union-attr]
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)


async def test_footer_shows_keys_that_apply_now(slow: TempProject, make_app: AppFactory) -> None:
    app = make_app(slow.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)

        def shown() -> set[str]:
            return {b.binding.action for b in app.active_bindings.values() if b.enabled}

        assert {"run_selected", "run_stale", "force_run"} <= shown()
        assert "cancel_run" not in shown()
        await pilot.press("R")
        await pilot.pause()
        assert "cancel_run" in shown()
        assert not {"run_selected", "run_stale", "force_run"} & shown()
        await pilot.press("c")
        await finished(pilot, app)
        assert "cancel_run" not in shown()


async def test_command_palette_runs_actions(demo: TempProject, make_app: AppFactory) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        titles = [c.title for c in app.palette_commands()]
        assert "Run all stale stages" in titles and "Cancel the run" not in titles
        await pilot.press("ctrl+p")
        await pilot.press(*"run all stale")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.busy or app.model.last_run is not None)
        await finished(pilot, app)
        assert set(phases(app).values()) == {Phase.RAN}


async def test_mouse_selects_stages_in_both_panes(demo: TempProject, make_app: AppFactory) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        await pilot.click(StageList, offset=(4, 2))
        assert app.selected == "counts"
        dag = app.query_one(DagView)
        x, y = dag.drawing.centre_of("lengths") or (0, 0)
        await pilot.click(DagView, offset=(x, y))
        assert app.selected == "lengths"
        assert app.stage_list.selected == "lengths"
        # Keyboard in the DAG pane moves the same selection.
        dag.focus()
        await pilot.press("l")  # the sibling
        assert app.selected == "counts" and dag.selected == "counts"
        await pilot.press("j")  # its child
        assert app.selected == "train"


async def test_log_follows_and_is_searchable(project: TempProject, make_app: AppFactory) -> None:
    project.write(
        "pipeline.py",
        """
        from typing import Annotated
        import pivot
        from pivot import loaders
        pipeline = pivot.Pipeline("chatty")
        def chatty() -> Annotated[dict, pivot.Out("out.json", loaders.JSON())]:
            for i in range(500):
                print(f"\\x1b[32mline {i}\\x1b[0m")
            return {}
        pipeline.register(chatty)
        """,
    )
    app = make_app(project.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("R")
        await finished(pilot, app)
        log = app.query_one(LogView)
        assert len(log.lines) == 500 and log.lines[7] == "line 7"
        assert log.is_vertical_scroll_end
        log.focus()
        await pilot.press("slash", *"line 25", "enter")
        assert log.match_line == 25
        await pilot.press("n")
        assert log.match_line == 250
        await pilot.press("N")
        assert log.match_line == 25
        assert "at line 26" in plain(app.query_one("#log-status", Static))


async def test_too_small_terminal_shows_a_message(demo: TempProject, make_app: AppFactory) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(50, 14)) as pilot:
        await ready(pilot, app)
        assert app.query_one("#too-small").display
        assert not app.query_one("#main").display
        assert "at least 60x16" in plain(app.query_one("#too-small", Static))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.query_one("#too-small").display
        assert app.query_one("#main").display


async def test_light_theme(demo: TempProject, make_app: AppFactory) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        dark = app.export_screenshot()
        app.theme = "textual-light"
        await pilot.pause()
        light = app.export_screenshot()
        assert not app.current_theme.dark and dark != light


async def test_w_toggles_watch_mode(demo: TempProject, make_app: AppFactory) -> None:
    # Output folders exist up front: watch mode reacts to a new folder appearing.
    (demo.root / "data").mkdir()
    (demo.root / "models").mkdir()
    locks = demo.root / ".pivot" / "stages"
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("w")
        assert app.watching
        assert "watching" in plain(app.query_one("#topbar", Static))
        # The first cycle runs everything stale.
        await wait_for(pilot, lambda: len(list(locks.glob("*.lock"))) == 4)
        await wait_for(pilot, lambda: not app.model.running)
        cycle = app.state.watch_cycle
        demo.write("raw.txt", "a changed input\n")
        await wait_for(pilot, lambda: app.state.watch_cycle > cycle and not app.model.running)
        await wait_for(pilot, lambda: "changed" in demo.read("data/words.json"))
        assert app.model.stages["load"].run_status is Phase.RAN
        await pilot.press("w")
        await finished(pilot, app)
        assert not app.watching and not app.busy
    assert demo.statuses() == dict.fromkeys(["load", "lengths", "counts", "train"], "skipped")


def test_open_data_diff_tui_builds_the_screen_targets(
    demo_ran: TempProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry point `pivot data diff` calls: one target per file, computed before the app
    opens (so that errors surface as in headless mode)."""
    from pivot.cli._tui import open_data_diff_tui
    from pivot.tui import DataDiffApp

    opened: list[DataDiffApp] = []
    monkeypatch.setattr(DataDiffApp, "run", lambda self, *a, **k: opened.append(self))
    demo_ran.write("data/counts.csv", "word,count\nbrown,2\n")
    open_data_diff_tui(demo_ran.root, ["data/counts.csv"], keys=["word"])
    (app,) = opened
    (target,) = app.targets
    assert target.label == "data/counts.csv (vs HEAD)"
    diff = target.compute()
    assert diff.keys == ("word",) and diff.counts.removed == 8 and diff.counts.modified == 1
