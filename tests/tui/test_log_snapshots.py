"""SVG snapshot of the Logs tab: a previous run's log with the stage's colours, a finished
``\\r`` progress bar on one line and stderr lines marked. In ``snapshots/test_log_snapshots/``;
``pytest tests/tui/test_log_snapshots.py --snapshot-update`` regenerates it.

The log is the previous run's (read back from ``.pivot/logs/``), so no time or duration is
drawn; the project folder is named ``demo`` and the clock is frozen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from pivot.tui._log_view import LogView
from tests.helpers import make_project
from tests.tui.conftest import AppFactory
from tests.tui.test_snapshots import settle

pytestmark = pytest.mark.timeout(90)

PIPELINE = """
import logging, sys
from typing import Annotated
import pivot
from pivot import loaders

def train() -> Annotated[dict, pivot.Out("model.json", loaders.JSON())]:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    print("\\x1b[1mtraining\\x1b[0m 3 epochs on \\x1b[36m12,000\\x1b[0m rows")
    for epoch in (1, 2, 3):
        for step in range(0, 101, 5):
            bar = "█" * (step // 10)
            sys.stderr.write(f"\\repoch {epoch}: {step:3d}%|{bar:<10}| {step}/100")
        sys.stderr.write("\\n")
        print(f"epoch {epoch}: loss \\x1b[32m{0.9 / epoch:.3f}\\x1b[0m")
    logging.getLogger("train").warning("learning rate \\x1b[33m0.1\\x1b[0m is high")
    print("\\x1b[2K\\x1b[1A\\x1b[31mno cursor tricks leak\\x1b[0m")
    print("saved models/model.json")
    return {"ok": True}

pivot.Pipeline("demo").register(train)
"""


def test_logs_tab_colours_progress_and_stderr(
    tmp_path: Path, make_app: AppFactory, snap_compare: Any
) -> None:
    project = make_project(tmp_path / "demo")
    project.write("pipeline.py", PIPELINE)
    project.pivot("--no-tui", "run")

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.click(LogView)
        await settle(pilot)

    assert snap_compare(make_app(project.root), terminal_size=(100, 30), run_before=run_before)
