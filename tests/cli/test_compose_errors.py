"""A composed pipeline wired wrongly stops with one line naming the call's file and line, and
exit code 2."""

from __future__ import annotations

import pytest

from tests.helpers import TempProject

HEADER = """
from typing import TypedDict
import polars as pl
from pivot import Pipeline, stage


class Two(TypedDict):
    left: pl.DataFrame
    right: pl.DataFrame


@stage
def clean(records: pl.DataFrame) -> pl.DataFrame:
    return records


@stage
def split(records: pl.DataFrame) -> Two:
    return Two(left=records, right=records)


@stage(out="data/clean.xlsx")
def odd(records: pl.DataFrame) -> pl.DataFrame:
    return records


with Pipeline("demo") as pipeline:
    raw = pipeline.input("raw.csv")
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "    clean(5)\n",
            "pipeline.py:29: clean(): 'records' got int 5; inside a `with Pipeline` block pass "
            "a handle",
        ),
        (
            "    clean(split(raw))\n",
            "pipeline.py:29: clean(): 'records' got all the outputs of 'split'; pick one, such "
            "as result['left']",
        ),
        (
            "    split(raw)['middle']\n",
            "stage 'split' has no output 'middle' (outputs: left, right)",
        ),
        ("    clean()\n", "pipeline.py:29: stage 'demo/clean' needs 'records'; pass a handle"),
        ("    clean(raw, rows=raw)\n", "pipeline.py:29: clean(): got an unexpected keyword"),
        (
            "    clean(raw)\n    clean(raw)\n",
            "pipeline.py:30: a second stage named 'demo/clean@raw' (the first is at "
            "pipeline.py:29); give the call its own name: clean(..., name='...')",
        ),
        ("    odd(raw)\n", "pipeline.py:29: stage 'demo/odd': no format for the output"),
    ],
)
def test_a_miswired_call_is_one_line_with_its_location(
    project: TempProject, body: str, message: str
) -> None:
    project.write("pipeline.py", HEADER + body)
    proc = project.pivot("--no-tui", "run", check=2)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_handle_used_outside_its_block_has_no_path_yet(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        HEADER + "    cleaned = clean(raw)\n    cleaned_path = cleaned.path\n",
    )
    proc = project.pivot("--no-tui", "run", check=2)
    assert "has no path until its `with` block closes" in proc.stderr
