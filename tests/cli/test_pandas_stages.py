"""Stages typed with pandas get pandas frames; without pandas installed they say what to install.

"Not installed" is simulated for the whole process tree (CLI and workers) by a
``sitecustomize`` that puts ``None`` in ``sys.modules['pandas']``, which makes every
``import pandas`` fail as if the package were absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import REPO, TempProject, pivot_env

PANDAS_STAGES = """
from typing import Annotated, TypedDict

import pandas

import pivot
from pivot import loaders


class Cleaned(TypedDict):
    csv: Annotated[pandas.DataFrame, pivot.Out("data/clean.csv", loaders.CSV())]
    parquet: Annotated[pandas.DataFrame, pivot.Out("data/clean.parquet", loaders.Parquet())]


def clean(raw: Annotated[pandas.DataFrame, pivot.Dep("data/raw.csv", loaders.CSV())]) -> Cleaned:
    out = raw.dropna()
    return Cleaned(csv=out, parquet=out)


def count(
    table: Annotated[pandas.DataFrame, pivot.Dep("data/clean.parquet", loaders.Parquet())],
) -> Annotated[dict, pivot.Metric("rows.json")]:
    return {"rows": len(table), "library": type(table).__module__.split(".")[0]}


pipeline = pivot.Pipeline("frames")
pipeline.register(clean)
pipeline.register(count)
"""

RAW = "a,b\n1,2\n3,\n5,6\n"


def test_a_pandas_typed_stage_reads_drops_and_writes_csv_and_parquet(
    project: TempProject,
) -> None:
    project.write("pipeline.py", PANDAS_STAGES)
    project.write("data/raw.csv", RAW)
    assert project.statuses() == {"clean": "ran", "count": "ran"}
    # pandas semantics end to end: the missing value made column b float, and no index column.
    assert project.read("data/clean.csv") == "a,b\n1,2.0\n5,6.0\n"
    expected = pd.DataFrame({"a": [1, 5], "b": [2.0, 6.0]}, index=[0, 2])
    pd.testing.assert_frame_equal(pd.read_parquet(project.root / "data/clean.parquet"), expected)
    assert project.read("rows.json").split() == [
        "{",
        '"rows":',
        "2,",
        '"library":',
        '"pandas"',
        "}",
    ]
    assert project.statuses() == {"clean": "skipped", "count": "skipped"}


def test_retyping_a_dep_from_pandas_to_polars_reruns_the_stage(project: TempProject) -> None:
    project.write("pipeline.py", PANDAS_STAGES)
    project.write("data/raw.csv", RAW)
    project.statuses()
    polars_clean = (
        PANDAS_STAGES.replace("import pandas\n", "import pandas\nimport polars as pl\n")
        .replace(
            'raw: Annotated[pandas.DataFrame, pivot.Dep("data/raw.csv"',
            'raw: Annotated[pl.DataFrame, pivot.Dep("data/raw.csv"',
        )
        .replace("raw.dropna()", "raw.drop_nulls().to_pandas()")
    )
    project.write("pipeline.py", polars_clean)
    explained = project.pivot("explain", "clean").stdout
    assert "loader-config:CSV" in explained
    # count may run too: polars' to_pandas() gives the parquet a fresh index.
    assert project.statuses()["clean"] == "ran"


def _without_pandas(
    project: TempProject, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    blocker = tmp_path / "no_pandas"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['pandas'] = None\n")
    env = pivot_env()
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), str(REPO)])
    return subprocess.run(
        [sys.executable, "-m", "pivot", *args],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


INSTALL = "install it with: pip install 'pivot[pandas]'"


def test_a_pipeline_importing_missing_pandas_says_what_to_install(
    project: TempProject, tmp_path: Path
) -> None:
    project.write("pipeline.py", PANDAS_STAGES)
    project.write("data/raw.csv", RAW)
    proc = _without_pandas(project, tmp_path, "--no-tui", "run")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = [line for line in proc.stderr.splitlines() if INSTALL in line]
    assert len(message) == 1, proc.stderr
    assert message[0].startswith(
        "error: pipeline.py failed to load at pipeline.py:4: ModuleNotFoundError:"
    )
    assert message[0].endswith(f"; {INSTALL} (or uv add pandas pyarrow)")


@pytest.mark.parametrize("loader", ["CSV", "Parquet", "JSONL"])
def test_a_stage_asking_for_pandas_without_it_fails_with_one_clear_line(
    project: TempProject, tmp_path: Path, loader: str
) -> None:
    """No pandas import in pipeline.py: the loader is the first to need it, in the worker."""
    project.write(
        "pipeline.py",
        f"""
        from typing import Annotated, Any
        import pivot
        from pivot import loaders

        def peek(raw: Annotated[Any, pivot.Dep("data/raw", loaders.{loader}(frame="pandas"))]) -> None:
            print(type(raw))

        pivot.Pipeline("p").register(peek)
        """,
    )
    project.write("data/raw", '{"a": 1}\n')
    proc = _without_pandas(project, tmp_path, "--no-tui", "run")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    expected = (
        f"{loader}: raw as a pandas DataFrame needs pandas, which is not installed; {INSTALL}"
    )
    assert expected in output and "Traceback" not in output, output
