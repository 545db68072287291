"""StageDef classes, params overrides, incremental outputs, matrix stages, commit and checkout."""

from __future__ import annotations

import json
import shutil

from tests.helpers import TempProject

STAGEDEF = """
from typing import Annotated
import polars as pl
import pivot
from pivot import loaders
from pivot.stage_def import StageDef, StageParams, Dep, Out

class Train(StageDef):
    data: Dep[pl.DataFrame] = Dep("data/clean.csv", loaders.CSV())
    model: Out[dict] = Out("models/model.json", loaders.JSON())
    epochs: int = 10

def train(p: Train) -> None:
    p.model = {"rows": p.data.height, "epochs": p.epochs}

class ScaleParams(StageParams):
    factor: float = 2.0

def scale(raw: Annotated[pl.DataFrame, pivot.Dep("data/clean.csv", loaders.CSV())], params: ScaleParams) -> Annotated[dict, pivot.Out("scaled.json", loaders.JSON())]:
    return {"sum": raw["x"].sum() * params.factor}

p = pivot.Pipeline("p")
p.register(train)
p.register(scale)
"""


def test_stagedef_loads_deps_saves_outs_and_takes_params(project: TempProject) -> None:
    project.write("pipeline.py", STAGEDEF)
    project.write("data/clean.csv", "x\n1\n2\n3\n")
    assert project.statuses() == {"train": "ran", "scale": "ran"}
    assert json.loads(project.read("models/model.json")) == {"rows": 3, "epochs": 10}
    assert "epochs: 10" in project.lock("train")
    project.write("params.yaml", "train:\n  epochs: 5\n")
    assert project.statuses() == {"train": "ran", "scale": "skipped"}
    assert json.loads(project.read("models/model.json")) == {"rows": 3, "epochs": 5}


def test_params_override_reruns_exactly_that_stage(project: TempProject) -> None:
    project.write("pipeline.py", STAGEDEF)
    project.write("data/clean.csv", "x\n1\n2\n3\n")
    project.pivot("run")
    project.write("params.yaml", "scale:\n  factor: 10\n")
    assert project.statuses() == {"train": "skipped", "scale": "ran"}
    assert json.loads(project.read("scaled.json")) == {"sum": 60.0}
    assert "factor: 10" in project.lock("scale")
    assert project.statuses() == {"train": "skipped", "scale": "skipped"}


def test_invalid_params_override_fails_the_stage_naming_the_field(project: TempProject) -> None:
    project.write("pipeline.py", STAGEDEF)
    project.write("data/clean.csv", "x\n1\n")
    project.write("params.yaml", "scale:\n  factor: not-a-number\n")
    proc = project.pivot("--no-tui", "run", "-k", check=1)
    assert "stage 'scale': invalid params: factor" in proc.stdout
    project.write("params.yaml", "scale:\n  bogus: 1\n")
    proc = project.pivot("--no-tui", "run", "-k", check=1)
    assert "bogus" in proc.stdout


GROW = """
import pathlib
from typing import Annotated
import pivot
from pivot import loaders

def grow(
    rows: Annotated[list, pivot.IncrementalOut("db.jsonl", loaders.JSONL())],
    new: Annotated[str, pivot.Dep("new.txt", loaders.Text())],
) -> Annotated[list, pivot.IncrementalOut("db.jsonl", loaders.JSONL())]:
    return rows + [{"i": len(rows), "new": new.strip()}]

def append(log: Annotated[pathlib.Path, pivot.IncrementalOut("log.txt", loaders.PathOnly())], new: Annotated[str, pivot.Dep("new.txt", loaders.Text())]) -> None:
    with log.open("a") as handle:
        handle.write(new)

p = pivot.Pipeline("p")
p.register(grow)
p.register(append)
"""


def test_incremental_output_grows_over_three_runs(project: TempProject) -> None:
    project.write("pipeline.py", GROW)
    for n, word in enumerate(["a", "b", "c"], start=1):
        project.write("new.txt", word + "\n")
        assert project.statuses() == {"grow": "ran", "append": "ran"}
        rows = [json.loads(line) for line in project.read("db.jsonl").splitlines()]
        assert [r["i"] for r in rows] == list(range(n))
        assert project.read("log.txt") == "".join(w + "\n" for w in ["a", "b", "c"][:n])
    assert project.statuses() == {"grow": "skipped", "append": "skipped"}


def test_incremental_restores_the_committed_version_before_running(project: TempProject) -> None:
    project.write("pipeline.py", GROW)
    project.write("new.txt", "a\n")
    project.pivot("run")
    project.write("log.txt", "garbage that was never committed\n")
    project.write("new.txt", "b\n")
    project.pivot("run")
    assert project.read("log.txt") == "a\nb\n"


def test_incremental_refuses_without_cached_previous_version(project: TempProject) -> None:
    project.write("pipeline.py", GROW)
    project.write("new.txt", "a\n")
    project.pivot("run")
    shutil.rmtree(project.root / ".pivot" / "cache")
    (project.root / "db.jsonl").unlink()
    project.write("new.txt", "b\n")
    dry = project.pivot("--no-tui", "run", "grow", "-n", check=2)
    assert dry.stdout.startswith("cannot run    grow ")
    assert "'db.jsonl' is not in the cache" in dry.stdout
    project.pivot("run", "grow", "-n", "--allow-uncached-incremental")
    proc = project.pivot("--no-tui", "run", "grow", check=1)
    assert "not in the cache" in proc.stdout and "--allow-uncached-incremental" in proc.stdout
    project.pivot("run", "grow", "--allow-uncached-incremental")
    assert [json.loads(line)["i"] for line in project.read("db.jsonl").splitlines()] == [0]


MATRIX = """
from typing import Annotated
import pivot
from pivot import loaders
from pivot.stage_def import StageParams

class FitParams(StageParams):
    model: str = "none"
    lr: float = 0.1

def fit(
    text: Annotated[str, pivot.Dep("data/{lang}.txt", loaders.Text())],
    params: FitParams,
) -> Annotated[dict, pivot.Out("models/{model}_{lang}.json", loaders.JSON())]:
    return {"model": params.model, "lr": params.lr, "text": text.strip()}

p = pivot.Pipeline("p")
p.register(fit, matrix={"model": ["bert", "gpt"], "lang": ["swe", "eng"]})
"""


def test_matrix_stages_expand_with_paths_params_and_locks(project: TempProject) -> None:
    project.write("pipeline.py", MATRIX)
    project.write("data/swe.txt", "hej\n")
    project.write("data/eng.txt", "hi\n")
    statuses = project.statuses()
    assert statuses == {
        name: "ran" for name in ["fit@bert_swe", "fit@bert_eng", "fit@gpt_swe", "fit@gpt_eng"]
    }
    assert json.loads(project.read("models/gpt_swe.json")) == {
        "model": "gpt",
        "lr": 0.1,
        "text": "hej",
    }
    assert (project.root / ".pivot/stages/fit@bert_eng.lock").exists()
    project.write("params.yaml", "fit@gpt_eng:\n  lr: 0.5\n")
    project.write("data/swe.txt", "tjena\n")
    statuses = project.statuses()
    assert statuses == {
        "fit@bert_swe": "ran",
        "fit@gpt_swe": "ran",
        "fit@bert_eng": "skipped",
        "fit@gpt_eng": "ran",
    }
    assert json.loads(project.read("models/gpt_eng.json"))["lr"] == 0.5


def test_matrix_from_pivot_yaml(project: TempProject) -> None:
    project.write("stages.py", MATRIX.split("p = pivot.Pipeline")[0])
    project.write(
        "pivot.yaml",
        """
        stages:
          fit:
            function: stages:fit
            matrix:
              model:
                small: {lr: 0.01}
                big: {lr: 1.0}
              lang: [swe]
        """,
    )
    project.write("data/swe.txt", "hej\n")
    assert project.statuses() == {"fit@small_swe": "ran", "fit@big_swe": "ran"}
    assert json.loads(project.read("models/big_swe.json")) == {
        "model": "none",
        "lr": 1.0,
        "text": "hej",
    }


def test_commit_records_outputs_without_running(project: TempProject) -> None:
    project.write("pipeline.py", STAGEDEF)
    project.write("data/clean.csv", "x\n1\n")
    project.write("models/model.json", '{"rows": "by hand"}\n')
    proc = project.pivot("commit", "train")
    assert "committed  train" in proc.stdout
    assert project.statuses() == {"train": "skipped", "scale": "ran"}
    assert json.loads(project.read("models/model.json")) == {"rows": "by hand"}
    assert "unchanged  train" in project.pivot("commit", "train").stdout


def test_checkout_restores_outputs(project: TempProject) -> None:
    project.write("pipeline.py", STAGEDEF)
    project.write("data/clean.csv", "x\n1\n")
    project.pivot("run")
    original = project.read("models/model.json")
    (project.root / "models" / "model.json").unlink()
    project.write("scaled.json", "edited")
    proc = project.pivot("checkout")
    assert "restored" in proc.stdout and "modified" in proc.stdout
    assert project.read("models/model.json") == original
    assert project.read("scaled.json") == "edited"
    project.pivot("checkout", "scaled.json", "--force")
    assert json.loads(project.read("scaled.json")) == {"sum": 2.0}
