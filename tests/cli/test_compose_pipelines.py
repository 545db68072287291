"""Several pipelines in one project: pipeline.py holding several blocks, sub-folders holding
their own pipeline.py, handles imported across them, names namespaced, selection by
`pipeline/`, `--all`, and `list` grouped by pipeline."""

from __future__ import annotations

import json

from tests.helpers import TempProject

PREP = """
import polars as pl
from pivot import Pipeline, stage


@stage
def clean(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.drop_nulls()


with Pipeline("prep") as pipeline:
    cleaned = clean(pipeline.input("data/raw.csv"))
"""

ANALYSIS = """
from typing import Annotated

import polars as pl

import pivot
from pivot import Pipeline, loaders, stage

from prep.pipeline import cleaned


@stage
def total(rows: pl.DataFrame) -> dict:
    return {"total": int(rows["v"].sum())}


def report(
    summary: Annotated[dict, pivot.Dep("data/analysis/total.json", loaders.JSON())],
) -> Annotated[str, pivot.Out("report.txt", loaders.Text())]:
    return f"total={summary['total']}\\n"


with Pipeline("analysis") as pipeline:
    total(cleaned)
    pipeline.register(report)
"""

ROOT = """
from typing import Annotated

import polars as pl

import pivot
from pivot import Pipeline, loaders, stage


def seed() -> Annotated[str, pivot.Out("seed.txt", loaders.Text())]:
    return "x"


pivot.Pipeline("root").register(seed)


@stage
def shout(text: str) -> str:
    return text.upper()


with Pipeline("a") as a:
    shout(a.input("seed.txt"))

with Pipeline("b") as b:
    shout(b.input("seed.txt"))
"""


def _several(project: TempProject) -> TempProject:
    project.write("pipeline.py", ROOT)
    project.write("prep/pipeline.py", PREP)
    project.write("analysis/pipeline.py", ANALYSIS)
    project.write("data/raw.csv", "v\n1\n\n3\n")
    return project


def test_pipelines_of_the_root_and_of_sub_folders_run_together(project: TempProject) -> None:
    _several(project)
    assert project.statuses() == {
        "seed": "ran",
        "a/shout": "ran",
        "b/shout": "ran",
        "prep/clean": "ran",
        "analysis/total": "ran",
        "analysis/report": "ran",
    }
    assert project.read("report.txt") == "total=4\n"
    assert project.read("data/a/shout.txt") == project.read("data/b/shout.txt") == "X"
    # a stage of the root pipeline.py keeps its plain name and lock path
    assert project.lock("seed").startswith("schema: 1\nstage: seed\n")
    assert project.lock("analysis/report").startswith("schema: 1\nstage: analysis/report\n")

    # an edit in one sub-folder's pipeline re-runs its stages and what reads them
    project.write("prep/pipeline.py", PREP.replace("raw.drop_nulls()", "raw.fill_null(10)"))
    statuses = project.statuses()
    assert {name for name, status in statuses.items() if status == "ran"} == {
        "prep/clean",
        "analysis/total",
        "analysis/report",
    }
    assert project.read("report.txt") == "total=14\n"


def test_a_pipeline_is_selected_by_its_name_and_a_slash(project: TempProject) -> None:
    _several(project)
    events = project.statuses("analysis/")
    assert events == {"prep/clean": "ran", "analysis/total": "ran", "analysis/report": "ran"}
    assert list(project.status_json("prep/")) == ["prep/clean"]
    assert set(project.statuses("--all")) == {
        "seed",
        "a/shout",
        "b/shout",
        "prep/clean",
        "analysis/total",
        "analysis/report",
    }
    proc = project.pivot("--no-tui", "run", "--all", "seed", check=2)
    assert "--all selects every stage: name stages or give --all, not both" in proc.stderr
    proc = project.pivot("--no-tui", "run", "nothing/", check=2)
    assert "unknown stage 'nothing/'" in proc.stderr


def test_list_groups_stages_by_pipeline(project: TempProject) -> None:
    _several(project)
    listed = project.pivot("list").stdout
    assert listed.startswith("── pipeline.py (1 stage)\nseed\n  outs  seed.txt\n")
    assert "── pipeline a (1 stage)\na/shout\n" in listed
    assert "── pipeline analysis (2 stages)\nanalysis/total\n" in listed
    assert listed.endswith("6 stages\n")
    rows = json.loads(project.pivot("list", "--json").stdout)["stages"]
    assert {row["name"]: row["pipeline"] for row in rows}["seed"] is None
    assert {row["name"]: row["pipeline"] for row in rows}["analysis/report"] == "analysis"
    dot = project.pivot("dag", "--dot").stdout
    assert '    "seed";\n' in dot
    assert (
        '    subgraph cluster_4 {\n        label="analysis";\n        "analysis/total";\n'
        '        "analysis/report";\n    }\n'
    ) in dot
    assert (
        'subgraph p2["a"]\n        s2["a/shout"]\n    end'
        in project.pivot("dag", "--mermaid").stdout
    )
    drawn = project.pivot("dag", "analysis/").stdout
    assert "prep/clean" in drawn and "analysis/report" in drawn and "seed" not in drawn
    headings = [line for line in project.pivot("dag").stdout.splitlines() if "── " in line]
    assert headings[0] == "── pipeline.py (1 stage)"
    assert "── pipeline analysis (2 stages)" in headings and len(headings) == len(set(headings))


def test_a_folder_that_is_a_project_of_its_own_is_not_loaded(project: TempProject) -> None:
    _several(project)
    project.write("other/pipeline.py", "raise SystemExit('not ours')\n")
    project.write("other/.pivot/.gitignore", "")
    assert "other" not in " ".join(project.statuses())


def test_a_sub_folder_pipeline_needs_a_module_name(project: TempProject) -> None:
    project.write("pipeline.py", ROOT)
    project.write("my-prep/pipeline.py", PREP)
    proc = project.pivot("--no-tui", "run", check=2)
    assert "my-prep/pipeline.py: a folder holding a pipeline.py must be named like a Python" in (
        proc.stderr
    )


def test_a_pipeline_added_to_a_sub_folder_later_is_found(project: TempProject) -> None:
    _several(project)
    project.statuses()
    assert set(project.statuses().values()) == {"skipped"}  # a no-op, answered from stats
    project.write(
        "data/pipeline.py",
        """
        from pivot import Pipeline, stage


        @stage
        def again(seed: str) -> str:
            return seed * 2


        with Pipeline("late") as pipeline:
            again(pipeline.input("seed.txt"))
        """,
    )
    assert project.statuses()["late/again"] == "ran"
    assert project.read("data/late/again.txt") == "xx"


def test_in_a_folder_with_its_own_pipeline_run_means_that_folders_stages(
    project: TempProject,
) -> None:
    _several(project)
    in_analysis = TempProject(project.root / "analysis")
    assert in_analysis.statuses() == {
        "prep/clean": "ran",
        "analysis/total": "ran",
        "analysis/report": "ran",
    }
    assert list(in_analysis.status_json()) == ["prep/clean", "analysis/total", "analysis/report"]
    assert set(in_analysis.statuses("--all")) == {
        "seed",
        "a/shout",
        "b/shout",
        "prep/clean",
        "analysis/total",
        "analysis/report",
    }
    # in a folder without a pipeline.py of its own, everything as before
    (project.root / "data" / "deep").mkdir(parents=True, exist_ok=True)
    assert len(TempProject(project.root / "data" / "deep").statuses()) == 6
