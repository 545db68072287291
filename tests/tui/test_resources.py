"""A stage waiting for a resource, as the app draws it: its own word and colour."""

from __future__ import annotations

import pytest
from rich.color import Color
from textual.widgets import Static

from pivot.tui._model import Phase
from tests.helpers import TempProject
from tests.tui.conftest import AppFactory
from tests.tui.test_app import finished, plain, ready, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

#: ``hold`` keeps the only gpu until the test writes ``release``; ``after`` needs it too.
HOLD_GPU = """
import pathlib, time
from typing import Annotated
import pivot
from pivot import loaders

def hold() -> Annotated[str, pivot.Out("hold.txt", loaders.Text())]:
    deadline = time.time() + 60
    while not pathlib.Path("release").exists() and time.time() < deadline:
        time.sleep(0.02)
    return "held"

def after() -> Annotated[str, pivot.Out("after.txt", loaders.Text())]:
    return "after"

p = pivot.Pipeline("p")
p.register(hold, resources={"gpu": 1})
p.register(after, resources={"gpu": 1})
"""


async def test_a_stage_waiting_for_a_resource_shows_the_word_and_colour(
    project: TempProject, make_app: AppFactory
) -> None:
    project.write("pipeline.py", HOLD_GPU)
    project.pivot("config", "set", "resources.gpu", "1")
    app = make_app(project.root, jobs=2)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("R")
        await wait_for(pilot, lambda: app.model.stages["after"].phase is Phase.WAITING)
        await pilot.pause()
        assert app.model.stages["hold"].phase is Phase.RUNNING
        row = app.stage_list.rows.index("after")
        segments = list(app.stage_list.render_line(row))
        text = "".join(segment.text for segment in segments)
        assert text.split() == ["⧗", "after", "waiting", "for", "gpu"]
        primary = Color.parse(app.theme_variables["text-primary"])
        coloured = {s.text.strip() for s in segments if s.style and s.style.color == primary}
        assert coloured == {"⧗", "waiting for gpu"}
        # No other status is drawn in that colour.
        running = "".join(s.text for s in app.stage_list.render_line(0))
        assert "hold" in running and "waiting" not in running
        assert "1 waiting for resources" in plain(app.query_one("#topbar", Static))
        assert app.model.stages["after"].reason == "waiting for gpu (needs 1, 0 of 1 free)"
        (project.root / "release").write_text("")
        await finished(pilot, app)
        assert app.model.stages["after"].phase is Phase.RAN
        assert app.model.stages["hold"].phase is Phase.RAN
    assert project.read("after.txt") == "after"
