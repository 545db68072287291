"""Code Pivot cannot follow is reported, never silent (issue 20): a ``globals()`` lookup with a
computed key (the whole module is hashed instead), and code reached through ``sys.path`` from
outside the project that no installed package provides."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.helpers import REPO, TempProject

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


OUTSIDE_PIPELINE = """
from typing import Annotated

import extlib
import pivot
from pivot import loaders


def shout() -> Annotated[str, pivot.Out("out.txt", loaders.Text())]:
    return extlib.shout("hi")


pivot.Pipeline("outside").register(shout)
"""


def test_code_outside_the_project_is_reported(project: TempProject, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "extlib.py").write_text("def shout(x):\n    return x.upper()\n")
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), str(shared)])}
    project.write("pipeline.py", OUTSIDE_PIPELINE)
    project.pivot("--no-tui", "run", extra_env=env)

    status = json.loads(project.pivot("status", "--json", extra_env=env).stdout)
    (row,) = status["stages"]
    assert row["warnings"] == [
        f"shout: module extlib ({shared / 'extlib.py'}) is outside the project and not an "
        "installed package: edits to it are not detected (move it into the project, or "
        "pip install -e it)"
    ]
