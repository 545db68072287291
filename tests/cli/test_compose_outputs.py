"""Where composed stages put their outputs, in which format, and how handles wire them: default
paths and formats by return type, explicit placement, TypedDict handles, output kinds, one
function called twice, and both authoring styles reading each other's files."""

from __future__ import annotations

import json
import pickle

import pandas as pd
import polars as pl
import yaml

from tests.helpers import TempProject

FORMATS = """
from typing import Annotated, TypedDict

import pandas as pd
import polars as pl

import pivot
from pivot import Pipeline, loaders, stage


class Split(TypedDict):
    rows: pl.DataFrame
    stats: Annotated[dict, pivot.Metric]
    chart: Annotated[pl.DataFrame, pivot.Plot]


@stage
def split(records: pl.DataFrame) -> Split:
    rows = records.drop_nulls()
    return Split(rows=rows, stats={"rows": rows.height}, chart=rows.select("value"))


@stage
def names(rows: pd.DataFrame) -> list:
    return rows["name"].tolist()  # a pandas frame read from what polars wrote


@stage
def title(names: list) -> str:
    return " & ".join(names)


@stage
def blob(names: list) -> bytes:
    return ",".join(names).encode()


@stage(out="data/shout.csv")
def shout(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns(pl.col("name").str.to_uppercase())


@stage
def placed(rows: pl.DataFrame) -> Annotated[dict, pivot.Out("reports/placed.yaml", loaders.YAML())]:
    return {"first": rows["name"][0]}


with Pipeline("demo") as pipeline:
    parts = split(pipeline.input("data/raw.csv"))
    listed = names(parts["rows"])
    title(listed)
    blob(listed)
    shout(parts["rows"])
    placed(parts["rows"])
"""


def test_default_paths_and_formats_follow_the_return_type(project: TempProject) -> None:
    project.write("pipeline.py", FORMATS)
    project.write("data/raw.csv", "name,value\nann,1\nbo,\ncy,3\n")
    assert set(project.statuses().values()) == {"ran"}
    assert pl.read_parquet(project.root / "data/demo/split/rows.parquet").height == 2
    assert json.loads(project.read("data/demo/split/stats.json")) == {"rows": 2}
    assert project.read("data/demo/split/chart.csv") == "value\n1\n3\n"
    assert json.loads(project.read("data/demo/names.json")) == ["ann", "cy"]
    assert project.read("data/demo/title.txt") == "ann & cy"
    assert pickle.loads((project.root / "data/demo/blob.pkl").read_bytes()) == b"ann,cy"
    assert project.read("data/shout.csv") == "name,value\nANN,1\nCY,3\n"
    assert yaml.safe_load(project.read("reports/placed.yaml")) == {"first": "ann"}
    listed = project.pivot("list").stdout
    assert "data/demo/split/stats.json (metric)" in listed
    assert "data/demo/split/chart.csv (plot)" in listed
    assert "stats.json   rows     2" in project.pivot("metrics", "show").stdout
    # one handle feeds several stages: editing the input re-runs all of them
    project.write("data/raw.csv", "name,value\nann,1\ndee,4\n")
    assert set(project.statuses().values()) == {"ran"}
    assert project.read("data/demo/title.txt") == "ann & dee"


def test_table_format_csv_makes_dataframes_csv(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        import polars as pl
        from pivot import Pipeline, stage


        @stage
        def clean(raw: pl.DataFrame) -> pl.DataFrame:
            return raw.drop_nulls()


        with Pipeline("tables", table_format="csv") as pipeline:
            clean(pipeline.input("raw.csv"))
        """,
    )
    project.write("raw.csv", "a\n1\n\n2\n")
    assert project.statuses() == {"tables/clean": "ran"}
    assert project.read("data/tables/clean.csv") == "a\n1\n2\n"


TWICE = """
import polars as pl
from pivot import Pipeline, StageParams, stage


class Keep(StageParams):
    at_least: int = 0


@stage
def clean(records: pl.DataFrame, params: Keep) -> pl.DataFrame:
    return records.filter(pl.col("value") >= params.at_least)


@stage
def count(rows: pl.DataFrame) -> dict:
    return {"rows": rows.height}


with Pipeline("demo") as pipeline:
    a = clean(pipeline.input("data/a.csv"))
    b = clean(pipeline.input("data/b.csv"))
    strict = clean(pipeline.input("data/a.csv"), params=Keep(at_least=5), name="strict")
    count(a)
    count(strict, name="count_strict")
"""


def test_a_function_called_twice_makes_two_stages(project: TempProject) -> None:
    project.write("pipeline.py", TWICE)
    project.write("data/a.csv", "value\n1\n5\n9\n")
    project.write("data/b.csv", "value\n7\n")
    assert project.statuses() == {
        "demo/clean@a": "ran",
        "demo/clean@b": "ran",
        "demo/strict": "ran",
        "demo/count": "ran",
        "demo/count_strict": "ran",
    }
    assert pl.read_parquet(project.root / "data/demo/clean@b.parquet")["value"].to_list() == [7]
    assert json.loads(project.read("data/demo/count.json")) == {"rows": 3}
    assert json.loads(project.read("data/demo/count_strict.json")) == {"rows": 2}
    project.write("data/b.csv", "value\n8\n")
    statuses = project.statuses()
    assert statuses["demo/clean@b"] == "ran"
    assert {s for name, s in statuses.items() if name != "demo/clean@b"} == {"skipped"}


KINDS = """
import os
from typing import Annotated

import polars as pl

import pivot
from pivot import Pipeline, stage


@stage
def history(line: str, previous: Annotated[list, pivot.IncrementalOut]) -> Annotated[
    list, pivot.IncrementalOut
]:
    return [*previous, line.strip()]


@stage
def shards(line: str) -> Annotated[dict[str, pl.DataFrame], pivot.DirectoryOut]:
    return {f"{word}.parquet": pl.DataFrame({"word": [word]}) for word in line.split()}


@stage
def inventory(folder) -> list:
    return sorted(os.listdir(folder))


with Pipeline("demo") as pipeline:
    line = pipeline.input("data/line.txt")
    history(line)
    inventory(shards(line))
"""


def test_incremental_and_directory_outputs_by_tag(project: TempProject) -> None:
    project.write("pipeline.py", KINDS)
    project.write("data/line.txt", "red green\n")
    project.statuses()
    assert json.loads(project.read("data/demo/history.json")) == ["red green"]
    assert json.loads(project.read("data/demo/inventory.json")) == [
        "green.parquet",
        "red.parquet",
    ]
    project.write("data/line.txt", "blue\n")
    project.statuses()
    assert json.loads(project.read("data/demo/history.json")) == ["red green", "blue"]
    assert json.loads(project.read("data/demo/inventory.json")) == ["blue.parquet"]


MIXED = """
from typing import Annotated

import polars as pl

import pivot
from pivot import Pipeline, loaders, stage


def seed() -> Annotated[pl.DataFrame, pivot.Out("data/seed.csv", loaders.CSV())]:
    return pl.DataFrame({"x": [1, 2, 3]})


def report(
    doubled: Annotated[pl.DataFrame, pivot.Dep("data/mix/double.parquet", loaders.Parquet())],
) -> Annotated[dict, pivot.Metric("report.json")]:
    return {"sum": int(doubled["x"].sum())}


@stage
def double(seed: pl.DataFrame) -> pl.DataFrame:
    return seed.with_columns(pl.col("x") * 2)


legacy = pivot.Pipeline("legacy")
legacy.register(seed)
legacy.register(report)

with Pipeline("mix") as pipeline:
    double(pipeline.input("data/seed.csv"))
"""


def test_annotated_and_composed_stages_read_each_others_files(project: TempProject) -> None:
    project.write("pipeline.py", MIXED)
    assert project.statuses() == {"seed": "ran", "mix/double": "ran", "report": "ran"}
    assert json.loads(project.read("report.json")) == {"sum": 12}
    assert project.lock("seed").startswith("schema: 1\nstage: seed\n")
    assert project.lock("mix/double").startswith("schema: 1\nstage: mix/double\n")
    assert pd.read_parquet(project.root / "data/mix/double.parquet")["x"].tolist() == [2, 4, 6]
    project.write("pipeline.py", MIXED.replace('"x": [1, 2, 3]', '"x": [1, 2, 4]'))
    assert project.statuses() == {"seed": "ran", "mix/double": "ran", "report": "ran"}
    assert json.loads(project.read("report.json")) == {"sum": 14}
