"""The Logs tab tells the truth: a real stage prints colours, writes to stderr and draws a
``\\r`` progress bar; the tab shows what a terminal would, the stderr lines marked.

Assertions read the strips the Logs tab draws (text and colour of each segment).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from rich.color import Color
from rich.segment import Segment
from textual.color import Color as TextualColor
from textual.pilot import Pilot
from textual.widgets._footer import FooterKey

from pivot.tui import PivotApp
from pivot.tui._log_view import STDERR_MARK, LogView
from pivot.tui._model import Phase
from tests.helpers import TempProject
from tests.tui.conftest import AppFactory

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

#: The stage waits for go-1, go-2 (files the test creates) between progress frames, so the
#: test sees the half-drawn bar without timing anything.
PROGRESS_PIPELINE = """
import os, sys, time
from typing import Annotated
import pivot
from pivot import loaders

def _wait(name):
    deadline = time.monotonic() + 60
    while not os.path.exists(name) and time.monotonic() < deadline:
        time.sleep(0.02)

def fit() -> Annotated[dict, pivot.Out("model.json", loaders.JSON())]:
    print("\\x1b[32mloaded 3 shards\\x1b[0m plain tail")
    for step in (1, 2, 3):
        if step > 1:
            _wait(f"go-{step - 1}")
        sys.stderr.write(f"\\rfitting {step}/3 |{'#' * step:<3}|")
        sys.stderr.flush()
    sys.stderr.write("\\n")
    print("warning: low memory", file=sys.stderr)
    print("done")
    return {"ok": True}

pivot.Pipeline("progress").register(fit)
"""

FINAL_LINES = ["loaded 3 shards plain tail", "fitting 3/3 |###|", "warning: low memory", "done"]


@pytest.fixture
def progress(project: TempProject) -> TempProject:
    project.write("pipeline.py", PROGRESS_PIPELINE)
    return project


async def wait_for(
    pilot: Pilot[object], condition: Callable[[], bool], timeout: float = 60
) -> None:
    waited = 0.0
    while not condition():
        if waited > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.05)
        waited += 0.05


def drawn(log: LogView) -> list[list[Segment]]:
    """The segments of each drawn row that holds a log line."""
    rows = []
    for y in range(min(log.size.height, log.line_count - int(log.scroll_offset.y))):
        rows.append([s for s in log.render_line(y) if s.text])
    return rows


def text_of(row: list[Segment]) -> str:
    return "".join(s.text for s in row).rstrip()


def colour(row: list[Segment], text: str) -> Color | None:
    """The foreground colour of the segment drawing ``text``."""
    for segment in row:
        if text in segment.text:
            assert segment.style is not None
            return segment.style.color
    raise AssertionError(f"{text!r} not drawn in {text_of(row)!r}")


def theme_colour(app: PivotApp, variable: str) -> Color:
    return TextualColor.parse(app.get_css_variables()[variable]).rich_color


async def test_progress_colours_stderr_and_times(
    progress: TempProject, make_app: AppFactory
) -> None:
    app = make_app(progress.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.planned)
        log = app.query_one(LogView)
        await pilot.press("r")
        await wait_for(pilot, lambda: "fitting 1/3 |#  |" in log.lines)

        # The half-drawn progress bar is the last line, updated in place.
        assert list(log.lines) == ["loaded 3 shards plain tail", "fitting 1/3 |#  |"]
        (progress.root / "go-1").touch()
        await wait_for(pilot, lambda: "fitting 2/3 |## |" in log.lines)
        assert list(log.lines) == ["loaded 3 shards plain tail", "fitting 2/3 |## |"]
        (progress.root / "go-2").touch()
        await wait_for(pilot, lambda: app.model.stages["fit"].phase is Phase.RAN)
        await wait_for(pilot, lambda: list(log.lines) == FINAL_LINES)

        rows = drawn(log)
        assert [text_of(row) for row in rows] == [
            " loaded 3 shards plain tail",
            f"{STDERR_MARK}fitting 3/3 |###|",
            f"{STDERR_MARK}warning: low memory",
            " done",
        ]
        # The stage's own colour is kept; uncoloured text has the normal text colour.
        assert colour(rows[0], "loaded 3 shards") == Color.parse("color(2)")  # ANSI green
        text_colour = colour(rows[0], "plain tail")
        assert text_colour == log.rich_style.color
        # stderr lines: a mark in the error colour, text in the error text colour.
        for row in rows[1:3]:
            assert row[0].text == STDERR_MARK
            assert colour(row, STDERR_MARK) == theme_colour(app, "error")
            assert colour(row, text_of(row)[1:8]) == theme_colour(app, "text-error")
        assert colour(rows[3], "done") == text_colour

        # t shows when each line arrived; t again hides it. The footer names the key.
        started = time.time()
        await pilot.click(LogView)
        assert app.focused is log
        assert "Times" in [key.description for key in app.query(FooterKey)]
        await pilot.press("t")
        timed = [text_of(row) for row in drawn(log)]
        stamp = re.compile(r"^(\d\d:\d\d:\d\d\.\d\d\d) (.*)$")
        assert [stamp.sub(r"\2", line) for line in timed] == [
            " loaded 3 shards plain tail",
            f"{STDERR_MARK}fitting 3/3 |###|",
            f"{STDERR_MARK}warning: low memory",
            " done",
        ]
        shown = [time.strptime(m.group(1)[:8], "%H:%M:%S") for m in map(stamp.match, timed) if m]
        assert len(shown) == 4
        assert all(abs(_seconds(s) - _seconds(time.localtime(started))) < 600 for s in shown)
        time_colour = colour(drawn(log)[0], timed[0][:12])
        assert time_colour == log.get_component_rich_style("log--time").color != text_colour
        await pilot.press("t")
        assert text_of(drawn(log)[0]) == " loaded 3 shards plain tail"


async def test_previous_run_log_shows_final_progress_and_marks(
    progress: TempProject, make_app: AppFactory
) -> None:
    (progress.root / "go-1").touch()
    (progress.root / "go-2").touch()
    progress.pivot("--no-tui", "run")
    app = make_app(progress.root)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.model.planned)
        log = app.query_one(LogView)
        await wait_for(pilot, lambda: log.line_count > 0)
        assert list(log.lines) == FINAL_LINES
        rows = drawn(log)
        assert [row[0].text for row in rows[1:3]] == [STDERR_MARK, STDERR_MARK]
        assert colour(rows[0], "loaded 3 shards") == Color.parse("color(2)")  # ANSI green


def _seconds(moment: time.struct_time) -> int:
    return moment.tm_hour * 3600 + moment.tm_min * 60 + moment.tm_sec
