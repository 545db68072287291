"""In the TUI, params and data edits re-run their stage on a warm worker (issue 19: each
hyperparameter tweak must not pay the library imports again); a code edit runs the new code
(the worker re-imports the project's modules, as its code token changed)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers import TempProject
from tests.tui.conftest import AppFactory
from tests.tui.test_app import finished, ready

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

PIPELINE = """
import os
from typing import Annotated

import pivot
from pivot import loaders
from pivot.stage_def import StageParams


class ScaleParams(StageParams):
    factor: int = 1


def scaled(
    raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())], params: ScaleParams
) -> Annotated[dict, pivot.Out("scaled.json", loaders.JSON())]:
    return {"n": len(raw) * params.factor, "pid": os.getpid()}


pivot.Pipeline("p").register(scaled)
"""


def _children() -> set[int]:
    """Pids of every process below this one (the app's worker pool runs under the test)."""
    found: set[int] = set()
    todo = [os.getpid()]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(pid) for pid in (task / "children").read_text().split()]
            except OSError:
                continue
            new = [pid for pid in children if pid not in found]
            found.update(new)
            todo.extend(new)
    return found


async def test_a_params_edit_reruns_on_a_warm_worker(
    project: TempProject, make_app: AppFactory
) -> None:
    project.write("pipeline.py", PIPELINE)
    project.write("raw.txt", "hello")
    app = make_app(project.root)

    def result() -> dict[str, int]:
        return dict(json.loads(project.read("scaled.json")))

    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await pilot.press("r")
        await finished(pilot, app)
        first = result()
        pool = _children()
        assert first["pid"] in pool

        project.write("params.yaml", "scaled:\n  factor: 3\n")
        await pilot.press("r")
        await finished(pilot, app)
        assert result()["n"] == 15
        assert result()["pid"] in pool  # a worker that was already warm

        project.write("raw.txt", "hello!")  # a data edit keeps the pool too
        await pilot.press("r")
        await finished(pilot, app)
        after_data_edit = result()
        assert after_data_edit["n"] == 18 and after_data_edit["pid"] in pool

        project.write("pipeline.py", PIPELINE.replace('"pid": os.getpid()', '"pid": -1'))
        await pilot.press("r")
        await finished(pilot, app)
        assert result() == {"n": 18, "pid": -1}  # the edited code ran
