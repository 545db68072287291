"""SVG snapshots of the data-diff screen on a page of modified rows with their unchanged
columns shown (``u``), at the smallest supported terminal and a large one. They live in
``snapshots/test_datadiff_snapshots/`` (see conftest).
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from textual.pilot import Pilot

from pivot.core.reports.datadiff import compute_data_diff
from pivot.tui import DataDiffApp, DiffTarget
from pivot.tui._diffpages import TUI_MAX_ROWS
from tests.helpers import TempProject
from tests.tui.test_snapshots import settle

pytestmark = pytest.mark.timeout(90)

OLD = "id,name,price,stock,city\n" + "".join(
    f"{i},item {i},{i * 1.5},{i * 10},{['Oslo', 'Lima', 'Pune'][i % 3]}\n" for i in range(1, 41)
)


@pytest.fixture
def prices(demo_ran: TempProject) -> DataDiffApp:
    """40 items: every fourth one repriced, two restocked, one renamed; one added, one removed."""
    demo_ran.write("data/items.csv", OLD)
    demo_ran.commit_all("items")
    lines = OLD.splitlines(keepends=True)
    new = [lines[0]]
    for i, line in enumerate(lines[1:], start=1):
        id_, name, price, stock, city = line.strip().split(",")
        if i == 2:
            continue
        price = f"{float(price) + 0.25}" if i % 4 == 0 else price
        stock = "0" if i in (5, 9) else stock
        name = "item 13 (new)" if i == 13 else name
        new.append(f"{id_},{name},{price},{stock},{city}\n")
    new.append("41,item 41,61.5,410,Oslo\n")
    demo_ran.write("data/items.csv", "".join(new))
    compute = functools.partial(
        compute_data_diff, demo_ran.root, "data/items.csv", keys=("id",), max_rows=TUI_MAX_ROWS
    )
    return DataDiffApp([DiffTarget("data/items.csv (vs HEAD)", compute)])


async def modified_with_unchanged(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("m", "u")
    await settle(pilot)


def test_modified_rows_with_unchanged_columns_80x24(prices: DataDiffApp, snap_compare: Any) -> None:
    assert snap_compare(prices, terminal_size=(80, 24), run_before=modified_with_unchanged)


def test_modified_rows_with_unchanged_columns_200x50(
    prices: DataDiffApp, snap_compare: Any
) -> None:
    assert snap_compare(prices, terminal_size=(200, 50), run_before=modified_with_unchanged)
