"""A stage that looks a function up in ``globals()`` with a computed key: the lookup cannot be
followed, so Pivot says so (status, explain) and hashes the whole module instead (issue 20)."""

from __future__ import annotations

from tests.helpers import TempProject

PIPELINE = """
from typing import Annotated

import pivot
from pivot import loaders

OPERATION = "dou" + "ble"


def double(x):
    return x * 2


def triple(x):
    return x * 3


def apply() -> Annotated[str, pivot.Out("out.txt", loaders.Text())]:
    return str(globals()[OPERATION](21))


pivot.Pipeline("dyn").register(apply)
"""


def test_a_computed_globals_lookup_is_reported_and_covered(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE)
    assert project.statuses() == {"apply": "ran"}
    assert project.read("out.txt") == "42"

    row = project.status_json()["apply"]
    assert row["warnings"] == ["apply: globals() lookup with computed key at pipeline.py:19"]
    assert "globals() lookup with computed key" in project.pivot("explain", "apply").stdout

    # the lookup could reach any function of the module: editing one re-runs the stage
    project.write("pipeline.py", PIPELINE.replace("x * 3", "x * 4"))
    assert project.statuses() == {"apply": "ran"}
