"""Declared stages: the function does its own I/O, its paths are declared beside it.

``@stage(deps=..., outs=..., params=...)``, ``Pipeline.add_stage`` and ``pivot.yaml``'s
``python:`` entries compile to the same StageSpec as annotated stages; these tests pin what
is particular to them (the README's printed blocks are in test_readme_examples.py).
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import TempProject

# --- one-line definition errors -----------------------------------------------------------------

BAD_PIPELINES = {
    "not-a-path": (
        "from pivot import stage\n@stage(deps=[42], outs=['a.txt'])\ndef f():\n    pass\n",
        "stage 'f': dep 42 is not a path",
    ),
    "out-not-a-path": (
        "from pivot import stage\n@stage(outs=[{'a': 1}])\ndef f():\n    pass\n",
        "stage 'f': output {'a': 1} is not a path",
    ),
    "dep-marker-in-outs": (
        "import pivot\n@pivot.stage(outs=[pivot.Dep('a.txt')])\ndef f():\n    pass\n",
        "(a dep marker: put it in deps=)",
    ),
    "escaping": (
        "from pivot import stage\n"
        "@stage(deps=['../outside.csv'], outs=['a.txt'])\n"
        "def f():\n    pass\n",
        "stage 'f': path '../outside.csv' is outside the project",
    ),
    "absolute": (
        "from pivot import stage\n@stage(outs=['/tmp/elsewhere.txt'])\ndef f():\n    pass\n",
        "stage 'f': path '/tmp/elsewhere.txt' is outside the project",
    ),
    "two-ways": (
        "from typing import Annotated\n"
        "import pivot\n"
        "@pivot.stage(outs=['a.txt'])\n"
        "def f() -> Annotated[str, pivot.Out('b.txt', pivot.loaders.Text())]:\n"
        "    return 'b'\n",
        "stage 'f': outputs are given both in outs= and in the return annotation; declare "
        "outputs one way",
    ),
    "params-not-a-model": (
        "from pivot import stage\n@stage(outs=['a.txt'], params=int)\ndef f():\n    pass\n",
        "stage 'f': params= takes a pydantic model class or a mapping of values",
    ),
    "out-with-decl": (
        "from pivot import stage\n@stage(outs=['a.txt'], out='b.txt')\ndef f():\n    pass\n",
        "@stage: out= places a composed stage's output",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PIPELINES))
def test_declaration_errors_are_one_line(project: TempProject, case: str) -> None:
    text, message = BAD_PIPELINES[case]
    project.write("pipeline.py", text)
    proc = project.pivot("--no-tui", "run", check=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]


BAD_YAML = {
    "unknown-key": (
        "stages:\n  a:\n    python: stages.a\n    cmd: python a.py\n",
        "pivot.yaml: stage 'a' has unknown key 'cmd'",
    ),
    "cannot-import": (
        "stages:\n  a:\n    python: nosuch.a\n",
        "pivot.yaml: stage 'a': cannot import 'nosuch.a' (ModuleNotFoundError",
    ),
    "no-such-function": (
        "stages:\n  a:\n    python: stages.nope\n",
        "pivot.yaml: stage 'a': cannot import 'stages.nope' (module 'stages' has no 'nope')",
    ),
    "unknown-out-option": (
        "stages:\n  a:\n    python: stages.a\n    outs:\n      - a.txt: {persistent: true}\n",
        "pivot.yaml: stage 'a': 'outs' entry 'a.txt' has unknown option 'persistent'",
    ),
    "not-a-param-of-model": (
        "stages:\n  m:\n    python: stages.m\n    outs: [m.txt]\n    params: {depth: 3}\n",
        "stage 'm': params 'depth' is not a field of P",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_YAML))
def test_pivot_yaml_errors_are_one_line(project: TempProject, case: str) -> None:
    text, message = BAD_YAML[case]
    project.write("pivot.yaml", text)
    project.write(
        "stages.py",
        "from pydantic import BaseModel\n"
        "class P(BaseModel):\n    lr: float = 0.1\n"
        "def a():\n    pass\n"
        "def m(p: P):\n    pass\n",
    )
    proc = project.pivot("--no-tui", "run", check=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]


def test_both_stage_files_is_an_error(project: TempProject) -> None:
    project.write("stages.py", "def a():\n    open('a.txt', 'w').write('a')\n")
    project.write("pivot.yaml", "stages:\n  a:\n    python: stages.a\n    outs: [a.txt]\n")
    project.write("pivot.yml", "stages:\n  a:\n    python: stages.a\n    outs: [a.txt]\n")
    proc = project.pivot("--no-tui", "run", check=2)
    assert "both pivot.yaml and pivot.yml exist" in proc.stderr


# --- params --------------------------------------------------------------------------------------

PARAMS_YAML_STAGES = """
stages:
  fit:
    python: stages.fit
    deps: [data.txt]
    outs: [fit.json]
    params:
      lr: 0.01
      epochs: 3
  other:
    python: stages.other
    deps: [data.txt]
    outs: [other.json]
    params:
      depth: 2
"""

PARAMS_STAGES = """
import json


def fit(lr: float, epochs: int = 1):
    json.dump({'lr': lr, 'epochs': epochs}, open('fit.json', 'w'))


def other():
    json.dump({'ran': True}, open('other.json', 'w'))
"""


def test_pivot_yaml_params_edits_rerun_exactly_that_stage(project: TempProject) -> None:
    project.write("pivot.yml", PARAMS_YAML_STAGES)  # the .yml spelling is found too
    project.write("stages.py", PARAMS_STAGES)
    project.write("data.txt", "x")
    assert project.statuses() == {"fit": "ran", "other": "ran"}
    # Parameters named like the params receive them.
    assert json.loads(project.read("fit.json")) == {"lr": 0.01, "epochs": 3}
    assert project.statuses() == {"fit": "skipped", "other": "skipped"}

    project.write("pivot.yml", PARAMS_YAML_STAGES.replace("epochs: 3", "epochs: 5"))
    assert project.statuses() == {"fit": "ran", "other": "skipped"}
    assert json.loads(project.read("fit.json")) == {"lr": 0.01, "epochs": 5}
    explain = project.pivot("--no-tui", "status", "--explain").stdout
    assert "fit" in explain

    project.write("params.yaml", "other:\n  depth: 4\n")
    assert project.statuses() == {"fit": "skipped", "other": "ran"}
    lock = yaml.safe_load(project.lock("other"))
    assert lock["params"] == {"depth": 4}

    # A typo in params.yaml is refused, naming the key.
    project.write("params.yaml", "other:\n  dpeth: 4\n")
    proc = project.pivot("--no-tui", "run", check=1)
    assert "stage 'other': invalid params: dpeth" in proc.stdout


def test_pivot_yaml_params_override_a_model(project: TempProject) -> None:
    project.write(
        "stages.py",
        "import json\n"
        "from pivot import StageParams\n"
        "class P(StageParams):\n    lr: float = 0.1\n    epochs: int = 1\n"
        "def fit(p: P):\n"
        "    json.dump(p.model_dump(), open('fit.json', 'w'))\n",
    )
    project.write(
        "pivot.yaml",
        "stages:\n  fit:\n    python: stages.fit\n    outs: [fit.json]\n    params: {epochs: 7}\n",
    )
    assert project.statuses() == {"fit": "ran"}
    assert json.loads(project.read("fit.json")) == {"lr": 0.1, "epochs": 7}
    project.write("params.yaml", "fit:\n  lr: 0.3\n")
    assert project.statuses() == {"fit": "ran"}
    assert json.loads(project.read("fit.json")) == {"lr": 0.3, "epochs": 7}


# --- pivot.yaml shapes ---------------------------------------------------------------------------

SHAPES_YAML = """
stages:
  clean:
    python: stages.clean
    deps:
      data: data/raw.csv
    outs:
      clean: data/clean.csv
  grow:
    python: stages.grow
    deps:
      - data/clean.csv
    outs:
      - database.db: {incremental: true}
      - scratch.txt: {cache: false}
      - reports/
    metrics:
      - metrics.json
  train:
    python: stages.train
"""

SHAPES_STAGES = """
import json
import pathlib

from pivot import loaders
from pivot.stage_def import Dep, Out, StageDef


def clean(data: pathlib.Path):
    # a dep named like a parameter is passed as its path
    lines = [line for line in data.read_text().splitlines() if line.strip()]
    pathlib.Path('data/clean.csv').write_text('\\n'.join(lines) + '\\n')


def grow():
    rows = pathlib.Path('data/clean.csv').read_text().splitlines()
    db = pathlib.Path('database.db')
    previous = db.read_text() if db.exists() else ''
    db.write_text(previous + str(len(rows)) + '\\n')
    pathlib.Path('scratch.txt').write_text('tmp')
    pathlib.Path('reports/summary.txt').write_text(str(len(rows)))
    json.dump({'rows': len(rows)}, open('metrics.json', 'w'))


class Train(StageDef):
    data: Dep[str] = Dep('data/clean.csv', loaders.Text())
    model: Out[dict] = Out('model.json', loaders.JSON())


def train(p: Train) -> None:
    p.model = {'chars': len(p.data)}
"""


def test_pivot_yaml_mappings_options_and_stagedef(project: TempProject) -> None:
    project.write("pivot.yaml", SHAPES_YAML)
    project.write("stages.py", SHAPES_STAGES)
    project.write("data/raw.csv", "a\n\nb\n")
    assert project.statuses() == {"clean": "ran", "grow": "ran", "train": "ran"}
    assert project.read("data/clean.csv") == "a\nb\n"
    assert project.read("reports/summary.txt") == "2"
    assert json.loads(project.read("model.json")) == {"chars": 4}
    project.pivot("--no-tui", "metrics", "show")

    project.write("data/raw.csv", "a\nb\nc\n")
    assert project.statuses() == {"clean": "ran", "grow": "ran", "train": "ran"}
    assert project.read("database.db") == "2\n3\n"  # incremental: grown, not rewritten
    assert project.statuses() == {"clean": "skipped", "grow": "skipped", "train": "skipped"}

    listing = project.pivot("--no-tui", "list").stdout
    assert "reports" in listing and "metrics.json" in listing

    # The folder output and the uncached output are recorded as such.
    lock = yaml.safe_load(project.lock("grow"))
    outs = {out["path"]: out for out in lock["outs"]}
    assert set(outs) == {"database.db", "scratch.txt", "reports", "metrics.json"}


def test_decorator_markers_in_outs(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        import json
        import pathlib
        import pivot

        @pivot.stage(
            deps=[pivot.Dep('in.txt')],
            outs=[pivot.Metric('m.json'), pivot.Out('cache-free.txt', cache=False),
                  pivot.DirectoryOut('parts'), pivot.Plot('curve.csv', x='step', y='loss')],
            name='make',
        )
        def build():
            text = pathlib.Path('in.txt').read_text()
            json.dump({'chars': len(text)}, open('m.json', 'w'))
            pathlib.Path('cache-free.txt').write_text(text)
            pathlib.Path('parts/one.txt').write_text('1')
            pathlib.Path('curve.csv').write_text('step,loss\\n0,1.0\\n1,0.5\\n')
        """,
    )
    project.write("in.txt", "hello")
    assert project.statuses() == {"make": "ran"}
    assert json.loads(project.read("m.json")) == {"chars": 5}
    assert project.read("parts/one.txt") == "1"
    assert project.statuses() == {"make": "skipped"}
    assert '"chars": 5' in project.pivot("--no-tui", "metrics", "show", "--json").stdout


# --- DVC export ----------------------------------------------------------------------------------


def test_export_writes_declared_deps_and_outs(project: TempProject) -> None:
    project.write("pivot.yaml", SHAPES_YAML)
    project.write("stages.py", SHAPES_STAGES)
    project.write("data/raw.csv", "a\n")
    project.pivot("--no-tui", "export")
    stages = yaml.safe_load(project.read("dvc.yaml"))["stages"]
    assert stages["clean"]["deps"] == ["pivot.yaml", "stages.py", "data/raw.csv"]
    assert stages["clean"]["outs"] == ["data/clean.csv"]
    assert stages["grow"]["deps"] == ["pivot.yaml", "stages.py", "data/clean.csv"]
    assert stages["grow"]["outs"] == [
        {"database.db": {"persist": True}},
        {"scratch.txt": {"cache": False}},
        "reports",
    ]
    assert stages["grow"]["metrics"] == [{"metrics.json": {"cache": False}}]
    assert stages["train"]["outs"] == ["model.json"]


def test_export_of_decorated_stages_with_params(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        from pivot import stage

        @stage(deps=['data.csv'], outs=['model.pkl'], params={'lr': 0.01})
        def train(lr: float):
            open('model.pkl', 'w').write(str(lr))
        """,
    )
    project.write("data.csv", "x\n")
    project.pivot("--no-tui", "export")
    stage = yaml.safe_load(project.read("dvc.yaml"))["stages"]["train"]
    assert stage["deps"] == ["pipeline.py", "data.csv"]
    assert stage["outs"] == ["model.pkl"]
    assert stage["params"] == [{"dvc.params.yaml": ["train.lr"]}]
    assert yaml.safe_load(project.read("dvc.params.yaml")) == {"train": {"lr": 0.01}}
