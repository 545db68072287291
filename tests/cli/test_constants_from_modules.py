"""A constant computed from another module (or star-imported from it): editing that module
re-runs the stage, also when the stage's fingerprint comes from the cache (issue 20)."""

from __future__ import annotations

import pytest

from tests.helpers import TempProject

STAGE = """
from typing import Annotated

import pivot
from pivot import loaders
{imports}


def limited() -> Annotated[str, pivot.Out("out.txt", loaders.Text())]:
    return str({expression})


pivot.Pipeline("consts").register(limited)
"""


@pytest.mark.parametrize(
    ("imports", "expression"),
    [("import consts\n\nLIMIT = consts.N * 10", "LIMIT"), ("from consts import *", "N")],
    ids=["computed-from-a-module", "star-import"],
)
def test_editing_the_source_module_reruns(
    project: TempProject, imports: str, expression: str
) -> None:
    project.write("consts.py", "N = 3\n")
    project.write("pipeline.py", STAGE.format(imports=imports, expression=expression))
    assert project.statuses() == {"limited": "ran"}
    assert project.statuses() == {"limited": "skipped"}

    project.write("consts.py", "N = 4\n")

    assert project.status_json()["limited"]["status"] == "stale"
    assert project.statuses() == {"limited": "ran"}
    assert project.read("out.txt") in ("40", "4")
