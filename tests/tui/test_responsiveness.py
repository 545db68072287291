"""The UI stays interactive while stages flood it with output (issue 6.3)."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest

from pivot.core.project import Project
from pivot.core.run.engine import Engine
from pivot.core.run.executors import LocalExecutor
from pivot.tui import PivotApp
from pivot.tui._log_view import LogView
from pivot.tui._messages import EngineEvents
from pivot.tui._model import Phase
from tests.helpers import TempProject
from tests.tui.conftest import FROZEN_NOW
from tests.tui.test_app import finished, ready, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

LINES = 10_000

FLOOD = f"""
import asyncio
import gc
import time
from typing import Annotated
import pivot
from pivot import loaders

pipeline = pivot.Pipeline("flood")

def make(i):
    def flood() -> Annotated[dict, pivot.Out(f"out/{{i}}.json", loaders.JSON())]:
        for chunk in range(100):
            for j in range(chunk * {LINES // 100}, (chunk + 1) * {LINES // 100}):
                print(f"stage {{i}} line {{j}} " + "x" * 40)
            time.sleep(0.03)
        return {{"i": i}}
    flood.__name__ = flood.__qualname__ = f"flood_{{i}}"
    return flood

for i in range(4):
    pipeline.register(make(i), name=f"flood_{{i}}")
"""


class CountingApp(PivotApp):
    batches = 0

    def on_engine_events(self, message: EngineEvents) -> None:
        # Textual also calls PivotApp's own handler (handlers run along the class's MRO).
        self.batches += 1


async def test_four_stages_printing_10000_lines_each(project: TempProject) -> None:
    project.write("pipeline.py", FLOOD)
    engine = Engine(Project(project.root), LocalExecutor(4))
    app = CountingApp(project.root, engine=engine, clock=lambda: FROZEN_NOW)
    gc.freeze()  # as `pivot` does before opening the app (see pivot/cli/_tui.py)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await ready(pilot, app)
            assert app.stage_list.rows == [f"flood_{i}" for i in range(4)]
            await pilot.press("R")
            await wait_for(pilot, lambda: len(app.model.stages["flood_0"].log) > 500)
            # While the logs stream in, the event loop never stalls and keys take effect.
            # (Pilot's own press() waits for the *process* to go idle, which it is not while
            # four stages stream output, so responsiveness is measured as event-loop lag.)
            lags: list[float] = []
            moves = 0
            previous = app.selected
            while app.model.running:
                started = time.perf_counter()
                await asyncio.sleep(0.03)  # about a held key's repeat rate
                lags.append(time.perf_counter() - started - 0.03)
                moves += app.selected != previous
                previous = app.selected
                app.simulate_key("j" if len(lags) % 2 else "k")
            assert len(lags) >= 20, "the run ended before the UI could be exercised"
            # Keys took effect while the logs streamed. (How long the loop stalls is measured
            # by benchmarks/tui_startup.py, not asserted here: timings belong in benchmarks.)
            assert moves >= 5
            await finished(pilot, app)
            for i in range(4):
                state = app.model.stages[f"flood_{i}"]
                assert state.run_status is Phase.RAN
                assert len(state.log) == LINES
                assert state.log.lines[-1].text.startswith(f"stage {i} line {LINES - 1} ")
            # Batched: far fewer UI messages than the 40,000 log events.
            assert app.batches < 1000, app.batches
            await pilot.pause(0.1)  # let a deferred detail load land
            log = app.query_one(LogView)
            assert len(log.lines) == LINES
            assert log.lines[0].startswith(f"stage {app.selected[-1]} line 0 ")  # type: ignore[index]
    finally:
        gc.unfreeze()
        app.wait_for_engine()
        engine.close()
