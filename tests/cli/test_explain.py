"""`pivot explain`, `status --explain` and `run --explain`: the why, with diffs."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import TempProject

PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders
from pivot.stage_def import StageParams
from helpers import scale

class Params(StageParams):
    factor: int = 2

def train(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())], params: Params) -> Annotated[dict, pivot.Out("model.json", loaders.JSON())]:
    return {"score": scale(len(raw)) * params.factor}

def report(model: Annotated[dict, pivot.Dep("model.json", loaders.JSON())]) -> Annotated[str, pivot.Out("report.txt", loaders.Text())]:
    return str(model)

p = pivot.Pipeline("p")
p.register(train)
p.register(report)
"""

HELPERS = '''
THRESHOLD = 3


def scale(n):
    """Scale a count."""
    return n * THRESHOLD
'''


def _explain(project: TempProject, *args: str) -> dict[str, Any]:
    data = json.loads(project.pivot("explain", "--json", *args).stdout)
    return {stage["stage"]: stage for stage in data["stages"]}


def _setup(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE)
    project.write("helpers.py", HELPERS)
    project.write("raw.txt", "abc")
    project.pivot("run")


def test_helper_edit_shows_file_line_and_unified_diff(project: TempProject) -> None:
    _setup(project)
    project.write("helpers.py", HELPERS.replace("return n * THRESHOLD", "return n * THRESHOLD + 1"))
    stages = _explain(project)
    train = stages["train"]
    assert train["verdict"] == "WILL RUN"
    assert "func:helpers.scale" in train["reason"]
    (change,) = train["code"]
    assert change["key"] == "func:helpers.scale" and change["change"] == "changed"
    assert change["location"] == "helpers.py:5"
    assert "-    return n * THRESHOLD" in change["diff"]
    assert "+    return n * THRESHOLD + 1" in change["diff"]
    assert (
        stages["report"]["verdict"] == "WILL RUN" and "upstream train" in stages["report"]["reason"]
    )
    text = project.pivot("--no-tui", "explain", "train").stdout
    assert "WILL RUN" in text and "helpers.py:5" in text and "+    return n * THRESHOLD + 1" in text


def test_constant_params_and_dep_changes(project: TempProject) -> None:
    _setup(project)
    project.write("helpers.py", HELPERS.replace("THRESHOLD = 3", "THRESHOLD = 4"))
    project.write("params.yaml", "train:\n  factor: 5\n")
    project.write("raw.txt", "abcd")
    train = _explain(project, "train")["train"]
    code = {c["key"]: c for c in train["code"]}
    assert any(key.startswith("const:") and "THRESHOLD" in key for key in code)
    assert train["params"] == [{"key": "factor", "change": "changed", "old": 2, "new": 5}]
    (dep,) = train["deps"]
    assert dep["path"] == "raw.txt" and dep["old"] != dep["new"] and dep["change"] == "changed"


def test_added_and_removed_code_keys_are_marked(project: TempProject) -> None:
    _setup(project)
    project.write(
        "helpers.py",
        HELPERS.replace("return n * THRESHOLD", "return offset(n * THRESHOLD)")
        + "\n\ndef offset(v):\n    return v + 1\n",
    )
    changes = {c["key"]: c["change"] for c in _explain(project, "train")["train"]["code"]}
    assert changes.get("func:helpers.offset") == "added"
    project.pivot("run")
    project.write("helpers.py", HELPERS)
    changes = {c["key"]: c["change"] for c in _explain(project, "train")["train"]["code"]}
    assert changes.get("func:helpers.offset") == "removed"


def test_comment_and_docstring_edits_do_not_rerun(project: TempProject) -> None:
    _setup(project)
    project.write(
        "helpers.py",
        HELPERS.replace('"""Scale a count."""', '"""Scale it."""  # why not').replace(
            "THRESHOLD = 3", "THRESHOLD = 3  # tuned"
        ),
    )
    stages = _explain(project)
    assert stages["train"]["verdict"] == "SKIP" and stages["train"]["code"] == []


def test_status_and_run_explain(project: TempProject) -> None:
    _setup(project)
    project.write("helpers.py", HELPERS.replace("return n * THRESHOLD", "return n - THRESHOLD"))
    status = project.pivot("--no-tui", "status", "--explain").stdout
    assert "stale" in status and "+    return n - THRESHOLD" in status
    rows = project.status_json("--explain")
    assert rows["train"]["explain"]["code"][0]["key"] == "func:helpers.scale"
    run = project.pivot("--no-tui", "run", "--explain").stdout
    assert run.index("+    return n - THRESHOLD") < run.index("ran")


def test_unresolvable_dynamic_code_is_a_warning(project: TempProject) -> None:
    _setup(project)
    project.write(
        "helpers.py",
        HELPERS.replace(
            "return n * THRESHOLD",
            "name = 'THRE' + 'SHOLD'\n    return n * getattr(__import__('helpers'), name)",
        ),
    )
    rows = project.status_json("--explain")
    assert any("getattr" in w for w in rows["train"]["warnings"])
    assert "warning" in project.pivot("--no-tui", "status", "--explain").stdout
