"""A worker process that moves between projects (or shipped copies of one) never runs the
previous project's helper modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pivot.core.run.worker import StageTask, execute_stage
from tests.helpers import make_project

PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders
import helpers

def answer() -> Annotated[dict, pivot.Out("answer.json", loaders.JSON())]:
    return {"value": helpers.VALUE}

pivot.Pipeline("p").register(answer)
"""


def test_same_named_helper_of_another_project_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.chdir(tmp_path)
    for name in ("pipeline", "helpers"):  # left by other in-process tests
        monkeypatch.delitem(sys.modules, name, raising=False)
    results = []
    for value in (1, 2):
        project = make_project(tmp_path / f"p{value}")
        project.write("pipeline.py", PIPELINE)
        project.write("helpers.py", f"VALUE = {value}\n")
        task = StageTask(str(project.root), "answer", str(tmp_path / f"{value}.log"), "t", {})
        outcome = execute_stage(task)
        assert outcome.ok, outcome.error
        results.append(project.read("answer.json"))
    for name in ("pipeline", "helpers"):
        sys.modules.pop(name, None)
    assert [json.loads(r) for r in results] == [{"value": 1}, {"value": 2}]
    # Only the current project's folder stays importable.
    assert str(tmp_path / "p1") not in sys.path
