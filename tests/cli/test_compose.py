"""Composed pipelines (`@stage` functions wired in a `with Pipeline` block) through the CLI:
run, skip, re-run exactly what an edit reaches, status, explain, locks, export, tracebacks."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
import yaml

from tests.helpers import REPO, TempProject, pivot_env

RECORDS = "name,value\nalice,100\nbob,20\ncarol,\ndave,70\n"

POLARS_DEMO = """
import polars as pl
from pivot import Pipeline, StageParams, stage

from helpers import total


class CleanParams(StageParams):
    min_value: int = 0


@stage
def clean(records: pl.DataFrame, params: CleanParams) -> pl.DataFrame:
    return records.drop_nulls().filter(pl.col("value") >= params.min_value)


@stage
def summarize(rows: pl.DataFrame) -> dict:
    return {"count": rows.height, "total": total(rows["value"].to_list())}


with Pipeline("demo") as pipeline:
    records = pipeline.input("data/raw/records.csv")
    cleaned = clean(records, params=CleanParams(min_value=50))
    summarize(cleaned)
"""

PANDAS_DEMO = """
import pandas as pd
from pivot import Pipeline, StageParams, stage


class CleanParams(StageParams):
    min_value: int = 0


@stage
def clean(records: pd.DataFrame, params: CleanParams) -> pd.DataFrame:
    kept = records.dropna()
    return kept[kept["value"] >= params.min_value]


@stage
def summarize(rows: pd.DataFrame) -> dict:
    return {"count": len(rows), "total": int(rows["value"].sum())}


with Pipeline("demo") as pipeline:
    records = pipeline.input("data/raw/records.csv")
    cleaned = clean(records, params=CleanParams(min_value=50))
    summarize(cleaned)
"""

HELPERS = "def total(values):\n    return int(sum(values))\n"


@pytest.fixture
def demo(project: TempProject) -> TempProject:
    project.write("pipeline.py", POLARS_DEMO)
    project.write("helpers.py", HELPERS)
    project.write("data/raw/records.csv", RECORDS)
    return project


def test_the_example_runs_skips_and_writes_its_default_paths(demo: TempProject) -> None:
    assert demo.statuses() == {"demo/clean": "ran", "demo/summarize": "ran"}
    assert pl.read_parquet(demo.root / "data/demo/clean.parquet")["name"].to_list() == [
        "alice",
        "dave",
    ]
    assert json.loads(demo.read("data/demo/summarize.json")) == {"count": 2, "total": 170}
    assert demo.statuses() == {"demo/clean": "skipped", "demo/summarize": "skipped"}
    lock = yaml.safe_load(demo.lock("demo/clean"))
    assert lock["stage"] == "demo/clean"
    assert lock["params"] == {"min_value": 50}
    assert [d["path"] for d in lock["deps"]] == ["data/raw/records.csv"]
    assert [o["path"] for o in lock["outs"]] == ["data/demo/clean.parquet"]
    listed = demo.pivot("list").stdout
    assert "demo/summarize\n  deps  data/demo/clean.parquet\n  outs  data/demo/summarize.json" in (
        listed
    )


def test_an_edit_re_runs_exactly_what_it_reaches(demo: TempProject) -> None:
    demo.statuses()
    demo.write("helpers.py", "def total(values):\n    return int(sum(values)) * 2\n")
    rows = demo.status_json()
    assert rows["demo/clean"]["status"] == "cached"
    assert rows["demo/summarize"]["status"] == "stale"
    assert demo.statuses() == {"demo/clean": "skipped", "demo/summarize": "ran"}
    assert json.loads(demo.read("data/demo/summarize.json"))["total"] == 340

    # the params instance in the block is the stage's params: changing it re-runs clean, and
    # summarize only because clean wrote other bytes
    demo.write("pipeline.py", POLARS_DEMO.replace("min_value=50", "min_value=90"))
    explained = demo.pivot("explain", "demo/clean").stdout
    assert "min_value: 50 -> 90" in explained
    assert demo.statuses() == {"demo/clean": "ran", "demo/summarize": "ran"}
    assert json.loads(demo.read("data/demo/summarize.json")) == {"count": 1, "total": 200}


def test_params_yaml_overrides_the_instance_per_stage(demo: TempProject) -> None:
    demo.statuses()
    assert "demo/clean   min_value   50      call" in demo.pivot("params", "show").stdout
    demo.write("params.yaml", "demo/clean:\n  min_value: 10\n")
    rows = demo.status_json()
    assert rows["demo/clean"]["status"] == "stale"
    assert demo.statuses() == {"demo/clean": "ran", "demo/summarize": "ran"}
    assert json.loads(demo.read("data/demo/summarize.json")) == {"count": 3, "total": 190}
    assert yaml.safe_load(demo.lock("demo/clean"))["params"] == {"min_value": 10}
    assert "min_value   10      params.yaml" in demo.pivot("params", "show").stdout


def test_the_pandas_example_runs_and_skips(project: TempProject) -> None:
    project.write("pipeline.py", PANDAS_DEMO)
    project.write("data/raw/records.csv", RECORDS)
    assert project.statuses() == {"demo/clean": "ran", "demo/summarize": "ran"}
    assert pd.read_parquet(project.root / "data/demo/clean.parquet")["name"].tolist() == [
        "alice",
        "dave",
    ]
    assert json.loads(project.read("data/demo/summarize.json")) == {"count": 2, "total": 170}
    assert project.statuses() == {"demo/clean": "skipped", "demo/summarize": "skipped"}


def test_a_stage_fails_with_a_traceback_into_the_users_file(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        from pivot import Pipeline, stage


        @stage
        def parse(text: str) -> dict:
            number = int(text)
            return {"n": number}


        with Pipeline("demo") as pipeline:
            parse(pipeline.input("data/in.txt"))
        """,
    )
    project.write("data/in.txt", "not a number")
    proc = project.pivot("--no-tui", "run", check=1)
    shown = proc.stdout + proc.stderr
    assert f'File "{project.root / "pipeline.py"}", line 7, in parse' in shown
    assert "ValueError: invalid literal for int()" in shown


def test_export_writes_a_dvc_yaml_whose_commands_run_the_composed_stages(
    demo: TempProject,
) -> None:
    demo.pivot("export")
    exported = yaml.safe_load(demo.read("dvc.yaml"))["stages"]
    assert list(exported) == ["demo_clean", "demo_summarize"]
    clean = exported["demo_clean"]
    assert clean["cmd"] == "pivot --no-tui run --single demo/clean"
    assert clean["deps"] == ["pipeline.py", "data/raw/records.csv"]
    assert clean["outs"] == ["data/demo/clean.parquet"]
    assert "helpers.py" in exported["demo_summarize"]["deps"]
    assert exported["demo_summarize"]["outs"] == ["data/demo/summarize.json"]
    for stage in exported.values():  # what `dvc repro` would run, in its order
        args = shlex.split(stage["cmd"])
        assert args[0] == "pivot"
        subprocess.run(
            [sys.executable, "-m", "pivot", *args[1:]],
            cwd=demo.root,
            env=pivot_env(),
            check=True,
            capture_output=True,
        )
    assert json.loads(demo.read("data/demo/summarize.json")) == {"count": 2, "total": 170}


def test_the_compose_example_cycle(tmp_path: Path) -> None:
    root = tmp_path / "compose"
    shutil.copytree(
        REPO / "examples" / "compose",
        root,
        ignore=shutil.ignore_patterns("compose", "stages", "cache", "state.lmdb", "logs"),
    )
    project = TempProject(root)
    project.git("init", "-q")
    assert project.statuses() == {"compose/preprocess": "ran", "compose/train": "ran"}
    assert json.loads(project.read("data/compose/train.json"))["mse"] < 0.1
    assert project.statuses() == {"compose/preprocess": "skipped", "compose/train": "skipped"}
    project.write("pipeline.py", project.read("pipeline.py").replace("epochs=300", "epochs=200"))
    assert project.statuses() == {"compose/preprocess": "skipped", "compose/train": "ran"}


def test_a_stage_calling_another_stage_function_tracks_its_code(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        from pivot import Pipeline, stage


        @stage
        def double(text: str) -> str:
            return str(int(text) * 2)


        @stage
        def quadruple(text: str) -> str:
            return double(double(text))  # outside a block: the plain function


        with Pipeline("h") as pipeline:
            number = pipeline.input("n.txt")
            double(number)
            quadruple(number)
        """,
    )
    project.write("n.txt", "3")
    project.statuses()
    assert project.read("data/h/quadruple.txt") == "12"
    project.write("pipeline.py", project.read("pipeline.py").replace("* 2", "* 3"))
    rows = project.status_json()
    assert rows["h/quadruple"]["reason"] == "code changed: func:pipeline.double"
    project.statuses()
    assert project.read("data/h/quadruple.txt") == "27"
