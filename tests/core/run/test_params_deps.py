"""ParamsDep: keys of a params file as inputs of a stage, tracked by value.

A stage whose code reads params.yaml itself (a script run as a subprocess, an imported DVC
stage) lists the keys it reads; their values are part of its params, so the lock records
them, editing one re-runs exactly the stages that list it, and the decision names it.
"""

from __future__ import annotations

import json

import pytest

from pivot.core.run.planner import Action, Change
from pivot.core.store.lock import parse_lock
from tests.core.conftest import InProcessProject

PIPELINE = """
import json
from pathlib import Path
from typing import Annotated, Any

import pivot
from pivot import loaders
from pivot.stage_def import StageParams

pipeline = pivot.Pipeline("tracked")


def _dump(path: str, value: Any) -> Path:
    Path(path).write_text(json.dumps(value, sort_keys=True))
    return Path(path)


def prepare(
    params: Annotated[dict[str, Any], pivot.ParamsDep("prepare.split", "base.seed")],
) -> Annotated[Path, pivot.Out("prepared.json")]:
    return _dump("prepared.json", params)


def train(
    p: Annotated[dict[str, Any], pivot.ParamsDep("train", "lr")],
    extra: Annotated[dict[str, Any], pivot.ParamsDep("layers", file="conf/model.json")],
) -> Annotated[Path, pivot.Out("model.json")]:
    return _dump("model.json", {"p": p, "extra": extra})


def everything(
    p: Annotated[dict[str, Any], pivot.ParamsDep(file="conf/extra.toml")],
) -> Annotated[Path, pivot.Out("extra.json")]:
    return _dump("extra.json", p)


class EvalParams(StageParams):
    split: str = "val"
    top: int = 3


def evaluate(
    params: EvalParams,
    tracked: Annotated[dict[str, Any], pivot.ParamsDep("evaluate.{split}.threshold")],
) -> Annotated[Path, pivot.Out("eval/{split}.json")]:
    return _dump(f"eval/{params.split}.json", {"top": params.top, **tracked})


pipeline.register(prepare)
pipeline.register(train)
pipeline.register(everything)
pipeline.register(evaluate, matrix={"split": ["val", "test"]})
"""

PARAMS = """\
lr: 0.1
base:
  seed: 7
prepare:
  split: 0.2
  unused: true
train:
  epochs: 3
  batch: 32
evaluate:
  val: {threshold: 0.5}
  test: {threshold: 0.6}
"""


@pytest.fixture
def tracked(proj: InProcessProject) -> InProcessProject:
    proj.write("pipeline.py", PIPELINE)
    proj.write("params.yaml", PARAMS)
    proj.write("conf/model.json", json.dumps({"layers": [8, 4], "name": "mlp"}))
    proj.write("conf/extra.toml", 'mode = "fast"\n[limits]\nrows = 10\n')
    proj.run()
    return proj


def _stale(project: InProcessProject) -> dict[str, str]:
    return {
        name: decision.reason
        for name, decision in project.status().items()
        if decision.action is not Action.SKIP
    }


def test_the_arguments_receive_the_values_of_their_keys(tracked: InProcessProject) -> None:
    assert json.loads(tracked.read("prepared.json")) == {"base.seed": 7, "prepare.split": 0.2}
    assert json.loads(tracked.read("model.json")) == {
        "p": {"lr": 0.1, "train": {"batch": 32, "epochs": 3}},
        "extra": {"layers": [8, 4]},
    }
    assert json.loads(tracked.read("extra.json")) == {"limits": {"rows": 10}, "mode": "fast"}
    assert json.loads(tracked.read("eval/test.json")) == {
        "top": 3,
        "evaluate.test.threshold": 0.6,
    }


def test_the_lock_records_each_key_by_file_and_name(tracked: InProcessProject) -> None:
    lock = parse_lock(tracked.read(".pivot/stages/train.lock"))
    assert lock.params == {
        "conf/model.json:layers": [8, 4],
        "params.yaml:lr": 0.1,
        "params.yaml:train": {"batch": 32, "epochs": 3},
    }
    evaluate = parse_lock(tracked.read(".pivot/stages/evaluate@val.lock"))
    assert evaluate.params == {
        "params.yaml:evaluate.val.threshold": 0.5,
        "split": "val",
        "top": 3,
    }


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("seed: 7", "seed: 8", {"prepare": "params changed: params.yaml:base.seed"}),
        ("lr: 0.1", "lr: 0.2", {"train": "params changed: params.yaml:lr"}),
        ("batch: 32", "batch: 64", {"train": "params changed: params.yaml:train.batch"}),
        (
            "test: {threshold: 0.6}",
            "test: {threshold: 0.7}",
            {"evaluate@test": "params changed: params.yaml:evaluate.test.threshold"},
        ),
        ("unused: true", "unused: false", {}),  # listed by no stage
    ],
)
def test_editing_a_key_re_runs_exactly_the_stages_that_list_it(
    tracked: InProcessProject, old: str, new: str, expected: dict[str, str]
) -> None:
    tracked.edit("params.yaml", old, new)
    assert _stale(tracked) == expected


def test_other_files_and_whole_files_are_tracked_too(tracked: InProcessProject) -> None:
    tracked.write("conf/model.json", json.dumps({"layers": [8, 2], "name": "other"}))
    tracked.edit("conf/extra.toml", "rows = 10", "rows = 11")
    assert _stale(tracked) == {
        "train": "params changed: conf/model.json:layers",
        "everything": "params changed: conf/extra.toml:limits.rows",
    }
    decision = tracked.decide("everything")
    assert decision.changes == (Change("params", "conf/extra.toml:limits.rows", 10, 11),)
    tracked.run()
    assert json.loads(tracked.read("extra.json"))["limits"] == {"rows": 11}
    assert _stale(tracked) == {}


def test_a_missing_key_is_one_line_naming_the_stage_and_the_key(
    tracked: InProcessProject,
) -> None:
    tracked.edit("params.yaml", "  seed: 7\n", "")
    decision = tracked.status()["prepare"]
    assert decision.action is Action.ERROR
    assert decision.reason == (
        "stage 'prepare': params key 'base.seed' is not in params.yaml; add it there or drop "
        "it from the stage's ParamsDep"
    )
    assert tracked.status()["train"].action is Action.SKIP  # the others are unaffected


def test_a_missing_or_broken_params_file_fails_only_the_stages_that_read_it(
    tracked: InProcessProject,
) -> None:
    tracked.path("conf/model.json").unlink()
    reason = tracked.status()["train"].reason
    assert reason.startswith("stage 'train': params file conf/model.json does not exist")
    tracked.write("conf/model.json", "[1, 2]")
    assert "conf/model.json is not a mapping" in tracked.status()["train"].reason
    tracked.write("conf/extra.toml", "mode = \n")
    assert "conf/extra.toml cannot be parsed" in tracked.status()["everything"].reason
    assert tracked.status()["prepare"].action is Action.SKIP


def test_a_stage_with_a_model_still_refuses_unknown_fields_in_its_section(
    proj: InProcessProject,
) -> None:
    proj.write("pipeline.py", PIPELINE)
    proj.write("params.yaml", PARAMS + "evaluate@val:\n  bogus: 1\n")
    proj.write("conf/model.json", json.dumps({"layers": [1]}))
    proj.write("conf/extra.toml", "")
    reason = proj.status()["evaluate@val"].reason
    assert reason == "stage 'evaluate@val': invalid params: bogus: Extra inputs are not permitted"
