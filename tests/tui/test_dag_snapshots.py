"""SVG snapshots of the DAG pane on the demo project (``snapshots/test_dag_snapshots/``), at a
normal and a wide terminal. Nothing time-dependent is drawn (see ``test_snapshots.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from tests.helpers import TempProject
from tests.tui.conftest import AppFactory
from tests.tui.test_snapshots import settle

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def edited(demo_ran: TempProject) -> TempProject:
    """Ran and committed, then a helper edited: `lengths` and `train` are stale."""
    demo_ran.write("demo_helpers.py", "\ndef scale(n):\n    return n * 3\n")
    return demo_ran


async def _dag_on_lengths(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("d", "j")  # the DAG pane, centred on `lengths`
    await settle(pilot)


def test_dag_pane_100x30(edited: TempProject, make_app: AppFactory, snap_compare: Any) -> None:
    assert snap_compare(make_app(edited.root), terminal_size=(100, 30), run_before=_dag_on_lengths)


def test_dag_pane_200x50(edited: TempProject, make_app: AppFactory, snap_compare: Any) -> None:
    assert snap_compare(make_app(edited.root), terminal_size=(200, 50), run_before=_dag_on_lengths)


def test_dag_filter_200x50(edited: TempProject, make_app: AppFactory, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("d", "slash", "n")
        await settle(pilot)

    assert snap_compare(make_app(edited.root), terminal_size=(200, 50), run_before=run_before)
