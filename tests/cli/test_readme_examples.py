"""The API examples of the seed README (the original Pivot's), run through the CLI.

Each code block is kept as printed there; where a block cannot run as printed, the test says
why and changes as little as it can. That covers both authoring forms the README shows: the
annotated one (Pivot loads and saves the files) and the declared one, where the function does
its own I/O and its paths are declared beside it (``@stage(deps=..., outs=...)``,
``Pipeline.add_stage``, ``pivot.yaml`` with ``python:``/``deps:``/``outs:``).
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

# The same stage as the README's IncrementalOut block (below, as printed), in the annotated
# form, with its pandas dep typed:
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


# --- The declared form: "Quick Start" -----------------------------------------------------------

QUICK_START = """
# pipeline.py
from pivot import stage

@stage(deps=['data.csv'], outs=['processed.parquet'])
def preprocess():
    import pandas
    df = pandas.read_csv('data.csv')
    df = df.dropna()
    df.to_parquet('processed.parquet')

@stage(deps=['processed.parquet'], outs=['model.pkl'])
def train():
    import pandas
    import pickle
    df = pandas.read_parquet('processed.parquet')
    model = {'rows': len(df), 'columns': len(df.columns)}
    with open('model.pkl', 'wb') as f:
        pickle.dump(model, f)
"""


def _model(project: TempProject) -> dict[str, object]:
    loaded: dict[str, object] = pickle.loads((project.root / "model.pkl").read_bytes())
    return loaded


def test_quick_start_decorator_as_printed(project: TempProject) -> None:
    project.write("pipeline.py", QUICK_START)
    project.write("data.csv", SAMPLE)
    assert project.statuses() == {"preprocess": "ran", "train": "ran"}
    frame = pd.read_parquet(project.root / "processed.parquet")
    assert frame["name"].tolist() == ["Alice", "Bob"]
    assert _model(project) == {"rows": 2, "columns": 2}
    lock = project.lock("train")
    assert "path: processed.parquet" in lock and "path: model.pkl" in lock

    assert project.statuses() == {"preprocess": "skipped", "train": "skipped"}

    # Editing preprocess's body re-runs it, and train, whose input it changed.
    project.write("pipeline.py", QUICK_START.replace("df.dropna()", "df.dropna().head(1)"))
    assert project.statuses() == {"preprocess": "ran", "train": "ran"}
    assert _model(project) == {"rows": 1, "columns": 2}

    # Editing train's body re-runs train alone.
    edited = QUICK_START.replace("df.dropna()", "df.dropna().head(1)").replace(
        "'columns': len(df.columns)}", "'columns': len(df.columns), 'v': 2}"
    )
    project.write("pipeline.py", edited)
    assert project.statuses() == {"preprocess": "skipped", "train": "ran"}
    assert _model(project) == {"rows": 1, "columns": 2, "v": 2}


QUICK_START_DEFAULTS = """
from pivot import stage

@stage(deps=['data.csv'], outs=['processed.parquet'])
def preprocess(input_file: str = 'data.csv'):
    import pandas
    df = pandas.read_csv(input_file)
    df = df.dropna()
    df.to_parquet('processed.parquet')

@stage(deps=['processed.parquet'], outs=['model.pkl'])
def train(data_file: str = 'processed.parquet', lr: float = 0.01):
    import pandas
    import pickle
    df = pandas.read_parquet(data_file)
    model = {'rows': len(df), 'lr': lr}
    with open('model.pkl', 'wb') as f:
        pickle.dump(model, f)
"""


def test_quick_start_with_defaulted_parameters_uses_the_defaults(project: TempProject) -> None:
    project.write("pipeline.py", QUICK_START_DEFAULTS)
    project.write("data.csv", SAMPLE)
    assert project.statuses() == {"preprocess": "ran", "train": "ran"}
    assert _model(project) == {"rows": 2, "lr": 0.01}
    assert project.statuses() == {"preprocess": "skipped", "train": "skipped"}


# --- The declared form with a pydantic params model ----------------------------------------------

PYDANTIC_PARAMS = """
from pydantic import BaseModel
from pivot import stage

class TrainParams(BaseModel):
    learning_rate: float = 0.01
    epochs: int = 100
    batch_size: int = 32

@stage(deps=['data.csv'], outs=['model.pkl'], params=TrainParams)
def train(params: TrainParams):
    print(f"Training with lr={params.learning_rate}")
"""


def test_pydantic_params_block_as_printed_and_filled_in(project: TempProject) -> None:
    project.write("pipeline.py", PYDANTIC_PARAMS)
    project.write("data.csv", SAMPLE)
    project.write("params.yaml", "train:\n  learning_rate: 0.001\n  epochs: 200\n")
    # As printed the stage writes no model.pkl: Pivot says so, on one line.
    proc = project.pivot("--no-tui", "run", check=1)
    assert "stage did not write its output 'model.pkl'" in proc.stdout
    log = "".join(p.read_text() for p in (project.root / ".pivot/logs").rglob("*train*"))
    assert "Training with lr=0.001" in log

    filled = PYDANTIC_PARAMS + (
        "    import pickle\n"
        "    with open('model.pkl', 'wb') as f:\n"
        "        pickle.dump(params.model_dump(), f)\n"
    )
    project.write("pipeline.py", filled)
    assert project.statuses() == {"train": "ran"}
    assert _model(project) == {"learning_rate": 0.001, "epochs": 200, "batch_size": 32}
    assert project.statuses() == {"train": "skipped"}
    project.write("params.yaml", "train:\n  learning_rate: 0.001\n  epochs: 300\n")
    assert project.statuses() == {"train": "ran"}
    assert _model(project)["epochs"] == 300


# --- The declared form with an IncrementalOut, as printed ----------------------------------------

INCREMENTAL_DECLARED = """
from pivot import stage, IncrementalOut

@stage(deps=['new_data.csv'], outs=[IncrementalOut('database.db')])
def append_to_database():
    # database.db is restored from cache before execution
    # Stage can append to it rather than recreating from scratch
    import sqlite3
    conn = sqlite3.connect('database.db')
    # ... append new records ...
"""

APPEND = """\
    import pandas
    pandas.read_csv('new_data.csv').to_sql('records', conn, if_exists='append', index=False)
    conn.close()
"""


def test_incremental_out_block_as_printed_then_filled_in(project: TempProject) -> None:
    project.write("pipeline.py", INCREMENTAL_DECLARED)
    project.write("new_data.csv", "name\na\n")
    # As printed: connecting creates the (empty) database, which is the output.
    assert project.statuses() == {"append_to_database": "ran"}
    assert (project.root / "database.db").is_file()

    project.write("pipeline.py", INCREMENTAL_DECLARED + APPEND)
    project.write("new_data.csv", "name\na\nb\n")
    assert project.statuses() == {"append_to_database": "ran"}
    # Gone from the workspace: the last version comes back from the cache, writable.
    (project.root / "database.db").unlink()
    project.write("new_data.csv", "name\nc\n")
    assert project.statuses() == {"append_to_database": "ran"}
    with sqlite3.connect(project.root / "database.db") as conn:
        rows = [r[0] for r in conn.execute("select name from records")]
    conn.close()
    assert rows == ["a", "b", "c"]
    assert project.statuses() == {"append_to_database": "skipped"}


# --- The Pipeline class ------------------------------------------------------------------------

PIPELINE_CLASS = """
# pipeline.py
from pivot import Pipeline

from stages import preprocess, train

pipeline = Pipeline()
pipeline.add_stage(preprocess, deps=['data.csv'], outs=['processed.parquet'])
pipeline.add_stage(train, deps=['processed.parquet'], outs=['model.pkl'])
"""

PLAIN_STAGES = """
import pickle

import pandas


def preprocess():
    df = pandas.read_csv('data.csv')
    df = df.dropna()
    df.to_parquet('processed.parquet')


def train():
    df = pandas.read_parquet('processed.parquet')
    model = {'rows': len(df), 'columns': len(df.columns)}
    with open('model.pkl', 'wb') as f:
        pickle.dump(model, f)
"""


def test_pipeline_class_add_stage_as_printed(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE_CLASS)
    project.write("stages.py", PLAIN_STAGES)
    project.write("data.csv", SAMPLE)
    assert project.statuses() == {"preprocess": "ran", "train": "ran"}
    assert _model(project) == {"rows": 2, "columns": 2}
    assert project.statuses() == {"preprocess": "skipped", "train": "skipped"}
    project.write("stages.py", PLAIN_STAGES.replace("len(df.columns)}", "len(df.columns) + 1}"))
    assert project.statuses() == {"preprocess": "skipped", "train": "ran"}
    assert _model(project) == {"rows": 2, "columns": 3}


# --- pivot.yaml --------------------------------------------------------------------------------

PIVOT_YAML = """
stages:
  preprocess:
    python: stages.preprocess
    deps:
      - data.csv
    outs:
      - processed.parquet
  train:
    python: stages.train
    deps:
      - processed.parquet
    outs:
      - model.pkl
    params:
      lr: 0.01
"""


def test_pivot_yaml_as_printed(project: TempProject) -> None:
    project.write("pivot.yaml", PIVOT_YAML)
    project.write("stages.py", PLAIN_STAGES)
    project.write("data.csv", SAMPLE)
    assert project.statuses() == {"preprocess": "ran", "train": "ran"}
    assert _model(project) == {"rows": 2, "columns": 2}
    assert "lr: 0.01" in project.lock("train")
    assert project.statuses() == {"preprocess": "skipped", "train": "skipped"}
    # Its params are the stage's: edited in pivot.yaml, or overridden in params.yaml.
    project.write("pivot.yaml", PIVOT_YAML.replace("lr: 0.01", "lr: 0.02"))
    assert project.statuses() == {"preprocess": "skipped", "train": "ran"}
    project.write("params.yaml", "train:\n  lr: 0.5\n")
    assert project.statuses() == {"preprocess": "skipped", "train": "ran"}
    assert "lr: 0.5" in project.lock("train")


PIVOT_YAML_MATRIX = """
stages:
  train:
    python: stages.train
    deps:
      - data/clean.csv
      - "configs/${model}.yaml"
    outs:
      - "models/${model}_${dataset}.pkl"
    matrix:
      model:
        bert:
          params:
            hidden_size: 768
        gpt:
          params:
            hidden_size: 1024
          deps+:
            - data/gpt_tokenizer.json
      dataset: [swe, human]
"""

# Not in the README: a function for it. Parameters named like the matrix dimensions and params
# receive each variant's values.
MATRIX_STAGES = """
import pickle


def train(model: str, dataset: str, hidden_size: int):
    with open(f'models/{model}_{dataset}.pkl', 'wb') as f:
        pickle.dump({'model': model, 'dataset': dataset, 'hidden_size': hidden_size}, f)
"""

VARIANTS = ["train@bert_swe", "train@bert_human", "train@gpt_swe", "train@gpt_human"]


def test_pivot_yaml_matrix_as_printed(project: TempProject) -> None:
    project.write("pivot.yaml", PIVOT_YAML_MATRIX)
    project.write("stages.py", MATRIX_STAGES)
    project.write("data/clean.csv", "x\n1\n")
    project.write("configs/bert.yaml", "layers: 12\n")
    project.write("configs/gpt.yaml", "layers: 24\n")
    project.write("data/gpt_tokenizer.json", "{}")
    assert project.statuses() == dict.fromkeys(VARIANTS, "ran")
    written = pickle.loads((project.root / "models/gpt_human.pkl").read_bytes())
    assert written == {"model": "gpt", "dataset": "human", "hidden_size": 1024}
    assert pickle.loads((project.root / "models/bert_swe.pkl").read_bytes())["hidden_size"] == 768
    assert project.statuses() == dict.fromkeys(VARIANTS, "skipped")
    # deps+ added the tokenizer to the gpt variants only; configs/${model}.yaml is per model.
    project.write("data/gpt_tokenizer.json", '{"v": 2}')
    assert project.statuses() == {
        "train@bert_swe": "skipped",
        "train@bert_human": "skipped",
        "train@gpt_swe": "ran",
        "train@gpt_human": "ran",
    }
    project.write("configs/bert.yaml", "layers: 6\n")
    assert project.statuses() == {
        "train@bert_swe": "ran",
        "train@bert_human": "ran",
        "train@gpt_swe": "skipped",
        "train@gpt_human": "skipped",
    }
