"""The API examples of the seed README (the original Pivot's), run through the CLI.

Each code block is kept as printed there; where a block cannot run as printed, the test says
why and changes as little as it can. Blocks written for an API Pivot does not have (the old
``@stage(deps=..., outs=...)`` decorator, ``pivot.yaml`` with ``python:``/``deps:``/``outs:``)
are not here; the IncrementalOut test shows Pivot's equivalent of such a block instead.
"""

from __future__ import annotations

import json
import pickle
import sqlite3

import pandas as pd

from tests.helpers import TempProject

# --- "Python-First Pipeline Definition": a Pipeline object, pandas deps, PathOnly outs ------

PIPELINE_STYLE = """
# pipeline.py
import pathlib
from typing import Annotated, TypedDict

import pandas
import pivot


class PreprocessOutputs(TypedDict):
    clean: Annotated[pathlib.Path, pivot.Out("processed.parquet", pivot.loaders.PathOnly())]


def preprocess(
    raw: Annotated[pandas.DataFrame, pivot.Dep("data.csv", pivot.loaders.CSV())],
) -> PreprocessOutputs:
    df = raw.dropna()
    out_path = pathlib.Path("processed.parquet")
    df.to_parquet(out_path)
    return PreprocessOutputs(clean=out_path)


class TrainOutputs(TypedDict):
    model: Annotated[pathlib.Path, pivot.Out("model.pkl", pivot.loaders.PathOnly())]


def train(
    data: Annotated[pathlib.Path, pivot.Dep("processed.parquet", pivot.loaders.PathOnly())],
) -> TrainOutputs:
    df = pandas.read_parquet(data)
    model_path = pathlib.Path("model.pkl")
    # ... train model ...
    return TrainOutputs(model=model_path)


# Create pipeline and register stages
pipeline = pivot.Pipeline("my_pipeline")
pipeline.register(preprocess)
pipeline.register(train)
"""

SAMPLE = "name,value\nAlice,100\nBob,200\nCharlie,\n"


def test_pipeline_style_block_runs_and_its_placeholder_is_reported(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE_STYLE)
    project.write("data.csv", SAMPLE)
    # As printed, `train` leaves "# ... train model ..." undone: Pivot says the output is missing.
    proc = project.pivot("--no-tui", "repro", check=1)
    assert "the stage did not write its output 'model.pkl'" in proc.stdout
    frame = pd.read_parquet(project.root / "processed.parquet")
    assert frame["name"].tolist() == ["Alice", "Bob"]

    filled = PIPELINE_STYLE.replace(
        "    # ... train model ...\n",
        "    model_path.write_text(str(len(df)))  # the placeholder, done\n",
    )
    project.write("pipeline.py", filled)
    assert project.statuses() == {"preprocess": "skipped", "train": "ran"}
    assert project.read("model.pkl") == "2"
    # "pivot repro  # Instant - nothing changed"
    assert "Done: 2 skipped" in project.pivot("--no-tui", "repro").stdout


# --- REGISTRY style with StageParams and a Metric (the README's module-path form, in full as
# its "Defining Pipelines" reference page prints it) -------------------------------------------

REGISTRY_STYLE = '''
# pipeline.py
import pathlib
from typing import Annotated, TypedDict

import pandas
from pivot import loaders, outputs
from pivot.registry import REGISTRY
from pivot.stage_def import StageParams


class TrainParams(StageParams):
    learning_rate: float = 0.01
    epochs: int = 100


class PreprocessOutputs(TypedDict):
    clean: Annotated[pathlib.Path, outputs.Out("data/clean.csv", loaders.PathOnly())]


class TrainOutputs(TypedDict):
    model: Annotated[pathlib.Path, outputs.Out("models/model.pkl", loaders.PathOnly())]
    metrics: Annotated[dict, outputs.Metric("metrics/train.json")]


def preprocess(
    raw: Annotated[pandas.DataFrame, outputs.Dep("data/raw.csv", loaders.CSV())],
) -> PreprocessOutputs:
    """Load raw data, clean it, return path to output."""
    clean_df = raw.dropna()
    out_path = pathlib.Path("data/clean.csv")
    clean_df.to_csv(out_path, index=False)
    return PreprocessOutputs(clean=out_path)


def train(
    params: TrainParams,
    data: Annotated[pandas.DataFrame, outputs.Dep("data/clean.csv", loaders.CSV())],
) -> TrainOutputs:
    """Train model with injected data and params."""
    model_path = pathlib.Path("models/model.pkl")
    model_path.parent.mkdir(exist_ok=True)
    model_path.write_text(f"model_lr={params.learning_rate}")

    return TrainOutputs(
        model=model_path,
        metrics={"accuracy": 0.95, "loss": 0.05},
    )


# Register stages
REGISTRY.register(preprocess)
REGISTRY.register(train)
'''

# The README's params.yaml block, as printed.
PARAMS_YAML = """
train:
  learning_rate: 0.001
  epochs: 200
"""


def test_registry_style_block_with_stage_params_as_printed(project: TempProject) -> None:
    project.write("pipeline.py", REGISTRY_STYLE)
    project.write("data/raw.csv", SAMPLE)
    assert project.statuses() == {"preprocess": "ran", "train": "ran"}
    assert project.read("data/clean.csv") == "name,value\nAlice,100.0\nBob,200.0\n"
    assert project.read("models/model.pkl") == "model_lr=0.01"
    assert json.loads(project.read("metrics/train.json")) == {"accuracy": 0.95, "loss": 0.05}
    assert project.statuses() == {"preprocess": "skipped", "train": "skipped"}

    project.write("params.yaml", PARAMS_YAML)
    assert project.statuses() == {"preprocess": "skipped", "train": "ran"}
    assert project.read("models/model.pkl") == "model_lr=0.001"


# --- StageDef and a custom loader ------------------------------------------------------------

STAGEDEF_BLOCK = """
import pandas as pd
from pivot import loaders
from pivot.stage_def import StageDef, Dep, Out


class TrainParams(StageDef):
    # Deps - type-safe file loading
    train_data: Dep[pd.DataFrame] = Dep("data/train.csv", loaders.CSV())
    config: Dep[dict] = Dep("config.json", loaders.JSON())

    # Outs - type-safe file saving
    model: Out[dict] = Out("models/model.pkl", loaders.Pickle())
    metrics: Out[dict] = Out("metrics.json", loaders.JSON())

    # Regular params
    learning_rate: float = 0.01
    epochs: int = 100


def train(params: TrainParams) -> None:
    # Deps are auto-loaded before function runs
    df = params.train_data  # Returns pd.DataFrame
    config = params.config  # Returns dict

    # Train model...
    model = {"weights": df.shape, "lr": params.learning_rate}
    metrics = {"accuracy": 0.95}

    # Assign outputs - auto-saved after function returns
    params.model = model
    params.metrics = metrics
"""

CUSTOM_LOADER_BLOCK = """
import dataclasses
from pivot.loaders import Loader


@dataclasses.dataclass(frozen=True)
class Parquet(Loader[pd.DataFrame]):
    compression: str = "snappy"

    def load(self, path: pathlib.Path) -> pd.DataFrame:
        return pd.read_parquet(path)

    def save(self, data: pd.DataFrame, path: pathlib.Path) -> None:
        data.to_parquet(path, compression=self.compression)
"""

# Not in the README: it registers the StageDef stage with a pivot.yaml (`python: stages.train`,
# a schema Pivot does not read) and shows no stage using the custom loader.
STAGEDEF_PIPELINE = """
from typing import Annotated

import pandas as pd
from pivot import loaders
from pivot.registry import REGISTRY
from pivot.stage_def import Dep, Out

from stages import Parquet, train


def to_parquet(
    df: Annotated[pd.DataFrame, Dep("data/train.csv", loaders.CSV())],
) -> Annotated[pd.DataFrame, Out("data/train.parquet", Parquet())]:
    return df.dropna()


REGISTRY.register(train)
REGISTRY.register(to_parquet)
"""


def test_stagedef_block_and_custom_loader_block(project: TempProject) -> None:
    # The custom loader block uses `pathlib` without importing it (the README relies on an
    # import from elsewhere): without this one line it fails with NameError.
    stages = STAGEDEF_BLOCK + "\nimport pathlib\n" + CUSTOM_LOADER_BLOCK
    project.write("stages.py", stages)
    project.write("pipeline.py", STAGEDEF_PIPELINE)
    project.write("data/train.csv", "x,y\n1,2\n3,\n5,6\n")
    project.write("config.json", '{"layers": 2}')
    assert project.statuses() == {"train": "ran", "to_parquet": "ran"}
    model = pickle.loads((project.root / "models/model.pkl").read_bytes())
    assert model == {"weights": (3, 2), "lr": 0.01}
    assert json.loads(project.read("metrics.json")) == {"accuracy": 0.95}
    written = pd.read_parquet(project.root / "data/train.parquet")
    assert written["x"].tolist() == [1, 5]
    assert (project.root / "data/train.parquet").read_bytes()[:4] == b"PAR1"

    project.write("params.yaml", "train:\n  learning_rate: 0.001\n")
    assert project.statuses() == {"train": "ran", "to_parquet": "skipped"}
    model = pickle.loads((project.root / "models/model.pkl").read_bytes())
    assert model["lr"] == 0.001


# --- IncrementalOut ----------------------------------------------------------------------------

# The README's block is `@stage(deps=['new_data.csv'], outs=[IncrementalOut('database.db')])`
# around a function appending to a SQLite file: Pivot has no `stage` decorator. The same stage in
# Pivot's API, with its pandas dep typed:
INCREMENTAL = """
import pathlib
import sqlite3
from typing import Annotated

import pandas
import pivot
from pivot import loaders


def append_to_database(
    db: Annotated[pathlib.Path, pivot.IncrementalOut("database.db", loaders.PathOnly())],
    new: Annotated[pandas.DataFrame, pivot.Dep("new_data.csv", loaders.CSV())],
) -> None:
    # database.db is restored from cache before execution
    # Stage can append to it rather than recreating from scratch
    with sqlite3.connect(db) as conn:
        new.to_sql("records", conn, if_exists="append", index=False)
    conn.close()


pivot.Pipeline("db").register(append_to_database)
"""


def test_incremental_out_equivalent_appends_on_every_run(project: TempProject) -> None:
    project.write("pipeline.py", INCREMENTAL)
    for batch in (["a", "b"], ["c"]):
        project.write("new_data.csv", "name\n" + "".join(f"{n}\n" for n in batch))
        assert project.statuses() == {"append_to_database": "ran"}
    with sqlite3.connect(project.root / "database.db") as conn:
        rows = [r[0] for r in conn.execute("select name from records")]
    conn.close()
    assert rows == ["a", "b", "c"]
    assert project.statuses() == {"append_to_database": "skipped"}
