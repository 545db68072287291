"""The metrics screen (m), the history screen (H) and "open in $EDITOR" (o), driven with Pilot
on real temp projects that ran headlessly (``pivot --no-tui run``) and were committed to git.

Assertions read the screen as drawn (the compositor's lines and their colours).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.color import Color
from textual.pilot import Pilot

from pivot.core.pipeline.discovery import load_pipeline
from pivot.render.metrics import STATUS_COLORS
from pivot.tui import PivotApp
from pivot.tui._editor import NO_EDITOR, editor_command, stage_source
from pivot.tui._history_screen import HistoryScreen, RunScreen
from pivot.tui._metrics_screen import MetricsScreen
from tests.helpers import TempProject, make_project
from tests.tui.conftest import AppFactory
from tests.tui.test_snapshots import settle

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

#: One stage writing a metrics file; its loss depends on how many words raw.txt has.
PIPELINE = """
from typing import Annotated

import pivot
from pivot import loaders

pipeline = pivot.Pipeline("views")


def prepare(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[str, pivot.Out("words.txt", loaders.Text())]:
    return "\\n".join(raw.split()) + "\\n"


def train(
    words: Annotated[str, pivot.Dep("words.txt", loaders.Text())],
) -> Annotated[dict, pivot.Metric("metrics.json")]:
    n = len(words.split())
    return {"train": {"loss": round(1.0 / n, 4), "words": n}, "model": "tiny"}


pipeline.register(prepare)
pipeline.register(train)
"""


def views_project(root: Path) -> TempProject:
    """Ran once with 4 words and committed; then raw.txt grew to 5 words and ran again."""
    project = make_project(root)
    project.write("pipeline.py", PIPELINE)
    project.write("raw.txt", "one two three four\n")
    project.pivot("--no-tui", "run")
    project.commit_all("first run")
    project.write("raw.txt", "one two three four five\n")
    project.pivot("--no-tui", "run")
    return project


@pytest.fixture(scope="module")
def views_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return views_project(tmp_path_factory.mktemp("template") / "views").root


@pytest.fixture
def views(views_template: Path, tmp_path: Path) -> TempProject:
    """A copy of the project for one test (the state database and git included)."""
    shutil.copytree(views_template, tmp_path / "views", symlinks=True)
    return TempProject(tmp_path / "views")


def lines(app: PivotApp) -> list[str]:
    return [strip.text.rstrip() for strip in app.screen._compositor.render_strips()]


def text(app: PivotApp) -> str:
    return "\n".join(lines(app))


def line_with(app: PivotApp, *words: str) -> str:
    found = [line for line in lines(app) if all(w in line for w in words)]
    assert len(found) == 1, (words, text(app))
    return found[0]


def colours(app: PivotApp, word: str) -> set[str]:
    """Foreground colours of every piece of the screen that reads exactly ``word``."""
    found = set()
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            if segment.text.strip() == word and segment.style and segment.style.color:
                found.add(segment.style.color.get_truecolor(app.ansi_theme).hex)
    assert found, f"{word!r} not on screen:\n{text(app)}"
    return found


def colour_of(app: PivotApp, name: str) -> str:
    return Color.parse(name).get_truecolor(app.ansi_theme).hex


async def wait_screen(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    for screen in pilot.app.screen_stack:
        await screen.workers.wait_for_complete()
    await pilot.pause()


# -- metrics ----------------------------------------------------------------------------------


async def test_metrics_screen_lists_values_and_diffs_against_head(
    views: TempProject, make_app: AppFactory
) -> None:
    app = make_app(views.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await wait_screen(pilot)
        assert isinstance(app.screen, MetricsScreen)
        assert line_with(app, "train.loss").split() == ["metrics.json", "train.loss", "0.2"]
        assert line_with(app, "train.words").split() == ["train.words", "5"]
        assert line_with(app, "model").split() == ["model", "tiny"]

        await pilot.press("d")
        await wait_screen(pilot)
        assert "changes since HEAD" in text(app)
        # Old (HEAD, 4 words) → new (workspace, 5 words), the change coloured like the CLI's.
        assert line_with(app, "train.loss").split() == [
            "metrics.json",
            "train.loss",
            "0.25",
            "→",
            "0.2",
            "-0.05",
        ]
        assert line_with(app, "train.words").split() == ["train.words", "4", "→", "5", "+1"]
        modified = colour_of(app, STATUS_COLORS["modified"])
        assert colours(app, "+1") == {modified}
        assert colours(app, "5") == {modified}  # (row 1 holds the cursor, row 2 shows colours)
        assert "model" not in text(app)  # unchanged, as `pivot metrics diff` omits it

        await pilot.press("d")
        await wait_screen(pilot)
        assert line_with(app, "model").split() == ["model", "tiny"]

        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, MetricsScreen)
        assert "Stages" in text(app)


async def test_metrics_screen_shows_a_missing_file_and_no_change(
    views: TempProject, make_app: AppFactory
) -> None:
    views.commit_all("second run")
    app = make_app(views.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("m", "d")
        await wait_screen(pilot)
        assert "no metrics changed since HEAD" in text(app)
        (views.root / "metrics.json").unlink()
        await pilot.press("d")
        await wait_screen(pilot)
        assert "metrics.json: missing (run the stage that writes it)" in text(app)
        assert colours(app, "metrics.json") == {colour_of(app, "red")}
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, MetricsScreen)


async def test_metrics_screen_shows_a_load_error_on_one_line(
    tmp_path: Path, make_app: AppFactory
) -> None:
    project = make_project(tmp_path / "broken")
    project.write("pipeline.py", "raise RuntimeError('broken on purpose')\n")
    app = make_app(project.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("m")
        for screen in app.screen_stack:
            await screen.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MetricsScreen)
        error = line_with(app, "broken on purpose")
        assert colours(app, error.strip()) == {colour_of(app, "red")}


# -- history ----------------------------------------------------------------------------------


async def test_history_lists_runs_and_enter_shows_a_runs_stages(
    views: TempProject, make_app: AppFactory
) -> None:
    app = make_app(views.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("H")
        await wait_screen(pilot)
        assert isinstance(app.screen, HistoryScreen)
        runs = app.screen.runs
        assert len(runs) == 2
        newest = line_with(app, runs[0]["run_id"])
        assert "exit 0" in newest and "2 ran" in newest
        # Row 1 holds the cursor; row 2 shows the exit code's colour.
        assert colour_of(app, "green") in colours(app, "exit 0")

        await pilot.press("down", "enter")  # the first run
        await pilot.pause()
        assert isinstance(app.screen, RunScreen)
        assert f"run {runs[1]['run_id']}" in text(app)
        prepare = line_with(app, "prepare")
        assert prepare.split()[0] == "ran"
        assert "s" in prepare.split()[2]
        assert line_with(app, "train").split()[0] == "ran"
        assert colour_of(app, "green") in colours(app, "ran")

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HistoryScreen | RunScreen)


async def test_history_of_a_project_that_never_ran(demo: TempProject, make_app: AppFactory) -> None:
    app = make_app(demo.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("H")
        await wait_screen(pilot)
        assert "no runs yet" in text(app)


# -- open in $EDITOR --------------------------------------------------------------------------


def test_stage_source_is_the_functions_file_and_line(views: TempProject) -> None:
    pipeline = load_pipeline(views.root, fresh=True)
    path, line = stage_source(pipeline["train"])  # type: ignore[misc]
    assert path.resolve() == (views.root / "pipeline.py").resolve()
    assert path.read_text().splitlines()[line - 1].startswith("def train(")


def test_editor_command_forms() -> None:
    file = Path("/p/pipeline.py")
    assert editor_command(file, 7, {"EDITOR": "vim"}) == ["vim", "+7", "/p/pipeline.py"]
    assert editor_command(file, 7, {"VISUAL": "emacs -nw"}) == ["emacs", "-nw", "+7", str(file)]
    assert editor_command(file, 7, {"EDITOR": "code --wait"}) == [
        "code",
        "--wait",
        "--goto",
        "/p/pipeline.py:7",
    ]
    assert editor_command(file, 7, {"EDITOR": "/usr/bin/hx"}) == ["/usr/bin/hx", "/p/pipeline.py:7"]
    assert editor_command(file, 7, {"EDITOR": "nano", "VISUAL": "vim"})[0] == "nano"  # type: ignore[index]
    assert editor_command(file, 7, {"EDITOR": " "}) is None
    assert editor_command(file, 7, {}) is None


async def test_o_opens_the_selected_stage_in_the_editor(
    views: TempProject, make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "argv.json"
    editor = tmp_path / "fake-editor.py"
    editor.write_text(
        f"import json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    monkeypatch.delenv("VISUAL", raising=False)
    app = make_app(views.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.select_stage("train")
        await pilot.pause()
        await pilot.press("o")
        await wait_screen(pilot)
        await pilot.pause()
        args = json.loads(record.read_text())
        source = (views.root / "pipeline.py").resolve()
        line = (
            source.read_text()
            .splitlines()
            .index(next(x for x in source.read_text().splitlines() if x.startswith("def train(")))
        )
        assert args[0] == f"+{line + 1}"
        assert Path(args[1]).resolve() == source


async def test_o_without_an_editor_says_how_to_set_one(
    views: TempProject, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    app = make_app(views.root)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await wait_screen(pilot)
        await pilot.pause()
        assert [n.message for n in app._notifications] == [NO_EDITOR]
        await pilot.pause()  # the toast is drawn after the notification is posted
        assert "No editor set: set $EDITOR (or $VISUAL)" in " ".join(text(app).split())


async def test_main_screen_keys_do_not_fire_on_the_new_screens(
    views: TempProject, make_app: AppFactory
) -> None:
    app = make_app(views.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.palette_commands()]
        assert {"Show metrics", "Show run history", "Open stage source in $EDITOR"} <= set(titles)
        assert {"Metrics", "History"} <= {group for group, _ in app.help_groups()}
        await pilot.press("m")
        await wait_screen(pilot)
        assert not app.check_action("history", ())
        assert not app.check_action("open_editor", ())
        await pilot.press("H", "o")
        await pilot.pause()
        assert isinstance(app.screen, MetricsScreen)
        assert len(app.screen_stack) == 2
