"""Project-level commands: list, dag, export (without DVC), import-dvc, doctor (issue 10)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from pivot.core.reports.dag_view import DagView, layers
from pivot.render.dag import render_dot, render_mermaid, render_text
from tests.helpers import TempProject, make_project

# Four stages using every output kind: prepare fans out to train and log; report reads from
# prepare and train, so prepare -> report is an edge that skips a layer.
DEMO = """
from typing import Annotated, TypedDict
import pivot
from pivot import loaders
from pivot.outputs import IncrementalOut, Metric, Plot
from pivot.stage_def import StageParams
from helpers import double

class TrainParams(StageParams):
    lr: float = 0.1
    epochs: int = 3

pipeline = pivot.Pipeline("demo")

def prepare(raw: Annotated[str, pivot.Dep("data/raw.txt", loaders.Text())]) -> Annotated[dict, pivot.Out("data/clean.json", loaders.JSON())]:
    \"\"\"Split the raw text into words.\"\"\"
    return {"words": raw.split()}

class TrainOut(TypedDict):
    model: Annotated[dict, pivot.Out("models/model.json", loaders.JSON())]
    metrics: Annotated[dict, Metric("metrics.json")]
    loss: Annotated[list, Plot("plots/loss.json", loaders.JSON(), x="step", y="loss")]

def train(clean: Annotated[dict, pivot.Dep("data/clean.json", loaders.JSON())], p: TrainParams) -> TrainOut:
    n = double(len(clean["words"]))
    return TrainOut(
        model={"n": n, "lr": p.lr},
        metrics={"acc": round(0.5 + p.lr, 3)},
        loss=[{"step": i, "loss": round(1 / (i + 1), 3)} for i in range(p.epochs)],
    )

def log(
    clean: Annotated[dict, pivot.Dep("data/clean.json", loaders.JSON())],
    history: Annotated[list, IncrementalOut("history.json", loaders.JSON())],
) -> Annotated[list, IncrementalOut("history.json", loaders.JSON())]:
    return [*history, len(clean["words"])]

def report(
    model: Annotated[dict, pivot.Dep("models/model.json", loaders.JSON())],
    clean: Annotated[dict, pivot.Dep("data/clean.json", loaders.JSON())],
) -> Annotated[str, pivot.Out("report.txt", loaders.Text())]:
    return f"{model['n']} {len(clean['words'])}\\n"

pipeline.register(prepare)
pipeline.register(train)
pipeline.register(log)
pipeline.register(report)
"""

HELPERS = "def double(x):\n    return 2 * x\n"

#: Every output the demo pipeline writes.
DEMO_OUTPUTS = (
    "data/clean.json",
    "models/model.json",
    "metrics.json",
    "plots/loss.json",
    "history.json",
    "report.txt",
)


def write_demo(project: TempProject, *, params: str | None = "train:\n  lr: 0.2\n") -> None:
    project.write("pipeline.py", DEMO)
    project.write("helpers.py", HELPERS)
    project.write("data/raw.txt", "a b c\n")
    if params is not None:
        project.write("params.yaml", params)


@pytest.fixture
def demo(project: TempProject) -> TempProject:
    write_demo(project)
    return project


# -- DAG rendering (pure functions) -----------------------------------------------------------


def view(*edges: tuple[str, str], extra: tuple[str, ...] = ()) -> DagView:
    import graphlib

    names: list[str] = []
    for edge in edges:
        names.extend(n for n in edge if n not in names)
    names.extend(n for n in extra if n not in names)
    sorter = graphlib.TopologicalSorter({n: [a for a, b in edges if b == n] for n in names})
    return DagView(tuple(sorter.static_order()), tuple(edges))


def test_layers_follow_the_longest_path() -> None:
    dag = view(("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), extra=("lone",))
    assert layers(dag) == [["a", "lone"], ["b"], ["c"], ["d"]]


def test_text_prints_each_stage_once_with_two_parents() -> None:
    dag = view(("left", "join"), ("right", "join"), ("join", "end"), ("left", "end"))
    text = render_text(dag)
    for name in ("left", "right", "join", "end"):
        assert sum(line.split().count(name) for line in text.splitlines()) == 1, text
    assert text.count("▼") == 2, text  # one arrow into each stage that has parents


def test_text_layout_of_a_fan_out_and_join() -> None:
    dag = view(("prepare", "train"), ("prepare", "log"), ("train", "report"))
    assert render_text(dag) == "\n".join(
        [
            "prepare",
            "   │",
            "   ├──────┐",
            "   ▼      ▼",
            " train   log",
            "   │",
            "   ▼",
            " report",
        ]
    )
    two_parents = render_text(view(("a", "c"), ("b", "c")))
    assert two_parents.splitlines()[0] == "a   b"
    assert two_parents.splitlines()[-1].strip() == "c"
    assert "┬" in two_parents or "┴" in two_parents or "┘" in two_parents


def test_text_edges_reach_every_child_and_crossings_are_not_junctions() -> None:
    # a -> y and b -> x cross; each child must still get one arrow per parent.
    dag = view(("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "x"))
    text = render_text(dag)
    lines = text.splitlines()
    bottom = lines[-1]
    arrows = lines[-2]
    for child in ("x", "y"):
        column = bottom.index(child)
        assert arrows[column] == "▼", text
    assert "┼" not in text, text  # crossings keep the vertical unbroken
    assert render_text(dag, ascii_only=True).isascii()


def test_long_edges_pass_through_intermediate_layers() -> None:
    dag = view(("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"))
    text = render_text(dag)
    b_line = next(line for line in text.splitlines() if "b" in line.split())
    assert "│" in b_line.replace("b", ""), text  # the a -> d edge runs beside b


def test_text_draws_each_pipeline_under_its_heading() -> None:
    """Several pipelines: one drawing each; a stage of another pipeline that one reads is drawn
    above it in parentheses, so every edge is still drawn exactly once."""
    dag = view(
        ("prep/clean", "prep/words"),
        ("prep/words", "model/fit"),
        ("model/fit", "model/score"),
        ("prep/words", "model/score"),
        ("train", "prep/clean"),
    )
    text = render_text(dag)
    parts = text.split("\n\n")
    assert [part.splitlines()[0] for part in parts] == [
        "── pipeline.py (1 stage)",
        "── pipeline prep (2 stages)",
        "── pipeline model (2 stages)",
    ]
    prep, model = parts[1].splitlines()[1:], parts[2].splitlines()[1:]
    assert prep[0].strip() == "(train)" and "prep/clean" in prep[3]
    assert model[0].strip() == "(prep/words)"
    assert model[-1].strip() == "model/score"
    assert text.count("▼") == 4  # one arrow into each stage with parents, in its own drawing
    assert all(text.count(name) == 1 for name in ("model/fit", "model/score", "prep/clean"))
    assert render_text(dag, ascii_only=True).splitlines()[0] == "-- pipeline.py (1 stage)"
    one_pipeline = view(("prep/a", "prep/b"))
    assert "pipeline" not in render_text(one_pipeline)  # one pipeline: no heading


def test_mermaid_dot_and_json() -> None:
    dag = view(("prep", "train"), ("train", 'say "hi"'))
    mermaid = render_mermaid(dag)
    assert mermaid.startswith("flowchart TD")
    assert 's0["prep"]' in mermaid and "s0 --> s1" in mermaid and "#quot;" in mermaid
    dot = render_dot(dag)
    assert dot.startswith("digraph pivot {") and '"prep" -> "train";' in dot
    assert '"say \\"hi\\""' in dot
    data = dag.to_dict()
    assert data["edges"] == [["prep", "train"], ["train", 'say "hi"']]
    assert [s["layer"] for s in data["stages"]] == [0, 1, 2]
    assert render_text(DagView((), ())) == "(no stages)"


# -- list and dag through the CLI -------------------------------------------------------------


def test_list_shows_deps_outs_and_kinds(demo: TempProject) -> None:
    out = demo.pivot("list").stdout
    assert "train  [params: TrainParams]" in out
    assert "deps  data/clean.json" in out
    assert "metrics.json (metric)" in out and "history.json (incremental)" in out
    assert out.strip().endswith("4 stages")
    data = json.loads(demo.pivot("list", "--json").stdout)
    by_name = {row["name"]: row for row in data["stages"]}
    assert list(by_name) == ["prepare", "train", "log", "report"]
    assert by_name["report"]["upstream"] == ["prepare", "train"]
    assert {"path": "metrics.json", "kind": "metric", "cached": False} in by_name["train"]["outs"]
    assert [
        r["name"] for r in json.loads(demo.pivot("list", "train", "--json").stdout)["stages"]
    ] == [
        "prepare",
        "train",
    ]


def test_list_and_dag_reject_unknown_stages(demo: TempProject) -> None:
    proc = demo.pivot("dag", "nope", check=2)
    assert "unknown stage 'nope'" in proc.stderr and "Traceback" not in proc.stderr
    demo.pivot("list", "nope", check=2)


def test_dag_formats(demo: TempProject) -> None:
    text = demo.pivot("dag").stdout
    assert text.splitlines()[0].strip() == "prepare"
    for name in ("prepare", "train", "log", "report"):
        assert sum(line.split().count(name) for line in text.splitlines()) == 1
    assert "▼" in text
    assert demo.pivot("dag", "--ascii").stdout.isascii()
    assert "s0 --> s1" in demo.pivot("dag", "--mermaid").stdout
    assert '"train" -> "report";' in demo.pivot("dag", "--dot").stdout
    data = json.loads(demo.pivot("dag", "--json").stdout)
    assert ["train", "report"] in data["edges"] and ["prepare", "log"] in data["edges"]
    assert {s["name"]: s["layer"] for s in data["stages"]} == {
        "prepare": 0,
        "train": 1,
        "log": 1,
        "report": 2,
    }
    only = json.loads(demo.pivot("dag", "train", "--json").stdout)
    assert [s["name"] for s in only["stages"]] == ["prepare", "train"]


# -- export without DVC -----------------------------------------------------------------------


def test_export_writes_one_dvc_stage_per_pivot_stage(demo: TempProject) -> None:
    params_before = (demo.root / "params.yaml").read_bytes()
    proc = demo.pivot("export")
    assert "wrote dvc.yaml (4 stages)" in proc.stdout
    assert (demo.root / "params.yaml").read_bytes() == params_before  # never touched
    assert demo.read("dvc.yaml").startswith("# Generated by `pivot export`")
    stages = yaml.safe_load(demo.read("dvc.yaml"))["stages"]
    assert list(stages) == ["prepare", "train", "log", "report"]
    assert stages["prepare"]["cmd"] == "pivot --no-tui run --single prepare"
    assert stages["prepare"]["desc"] == "Split the raw text into words."
    assert stages["prepare"]["deps"] == ["pipeline.py", "data/raw.txt"]
    assert stages["prepare"]["outs"] == ["data/clean.json"]
    train = stages["train"]
    assert train["deps"] == ["pipeline.py", "helpers.py", "data/clean.json"]  # code it reaches
    assert train["params"] == [
        {"params.yaml": ["train.lr"]},
        {"dvc.params.yaml": ["train.epochs"]},
    ]
    assert train["outs"] == ["models/model.json"]
    assert train["metrics"] == [{"metrics.json": {"cache": False}}]
    assert train["plots"] == [{"plots/loss.json": {"x": "step", "y": "loss"}}]
    assert stages["log"]["outs"] == [{"history.json": {"persist": True}}]
    defaults = yaml.safe_load(demo.read("dvc.params.yaml"))
    assert defaults == {"train": {"epochs": 3}}


def test_export_without_params_yaml_uses_the_defaults_file_only(project: TempProject) -> None:
    write_demo(project, params=None)
    project.pivot("export", "train", "-o", "pipelines/dvc.yaml")
    assert not (project.root / "params.yaml").exists()
    stages = yaml.safe_load(project.read("pipelines/dvc.yaml"))["stages"]
    assert list(stages) == ["prepare", "train"]  # train and its upstream
    train = stages["train"]
    assert train["params"] == [{"dvc.params.yaml": ["train.lr", "train.epochs"]}]
    assert train["deps"][0] == "../pipeline.py" and train["outs"] == ["../models/model.json"]
    assert yaml.safe_load(project.read("pipelines/dvc.params.yaml")) == {
        "train": {"lr": 0.1, "epochs": 3}
    }


def test_export_removes_a_stale_defaults_file_and_refuses_foreign_files(
    demo: TempProject,
) -> None:
    demo.pivot("export")
    assert (demo.root / "dvc.params.yaml").exists()
    demo.write("params.yaml", "train:\n  lr: 0.2\n  epochs: 4\n")
    proc = demo.pivot("export")
    assert "removed dvc.params.yaml" in proc.stdout
    assert not (demo.root / "dvc.params.yaml").exists()

    demo.write("dvc.yaml", "stages: {}\n")  # a hand-written file
    proc = demo.pivot("export", check=2)
    assert "was not written by `pivot export`" in proc.stderr
    assert demo.read("dvc.yaml") == "stages: {}\n"
    demo.pivot("export", "--force")
    assert "pivot --no-tui run" in demo.read("dvc.yaml")


def test_export_renames_matrix_variants_for_dvc(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        """
        from typing import Annotated
        import pivot
        from pivot import loaders
        from pivot.stage_def import StageParams

        class P(StageParams):
            model: str = "a"

        def fit(p: P) -> Annotated[str, pivot.Out("out/{model}.txt", loaders.Text())]:
            return p.model

        pivot.Pipeline("m").register(fit, matrix={"model": ["small", "large"]})
        """,
    )
    proc = project.pivot("export")
    assert "stage 'fit@small' is 'fit_small' in DVC" in proc.stdout
    stages = yaml.safe_load(project.read("dvc.yaml"))["stages"]
    assert stages["fit_small"]["cmd"] == "pivot --no-tui run --single fit@small"
    assert stages["fit_large"]["outs"] == ["out/large.txt"]
    # The matrix value names the variant (its cmd fixes it): not a param DVC tracks.
    assert "params" not in stages["fit_small"]
    assert not (project.root / "dvc.params.yaml").exists()


def test_export_validate_without_dvc_fails_clearly(
    demo: TempProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PIVOT_DVC", str(tmp_path / "no-such-dvc"))
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    proc = demo.pivot("export", "--validate", check=1)
    assert "DVC is not installed" in proc.stderr
    assert (demo.root / "dvc.yaml").exists()  # the export itself was written


def test_exported_command_runs_one_stage_only(demo: TempProject) -> None:
    demo.pivot("run")
    (demo.root / "report.txt").unlink()
    (demo.root / "history.json").unlink()
    demo.pivot("export")
    command = yaml.safe_load(demo.read("dvc.yaml"))["stages"]["report"]["cmd"].split()
    assert command[:4] == ["pivot", "--no-tui", "run", "--single"]
    demo.pivot(*command[1:])
    assert demo.read("report.txt") == "6 3\n"
    assert not (demo.root / "history.json").exists()  # log did not run


# -- import-dvc -------------------------------------------------------------------------------

DVC_YAML = """\
vars:
  - seed: 7
stages:
  prepare:
    desc: Upper-case the raw text
    cmd: python src/prepare.py data/raw.txt data/prepared
    deps:
      - data/raw.txt
      - src/prepare.py
    params:
      - prepare.split
    outs:
      - data/prepared
  train:
    cmd: python src/train.py --seed ${seed}
    deps:
      - data/prepared
      - src/train.py
    params:
      - train.epochs
    outs:
      - model.txt
      - history.txt:
          persist: true
    metrics:
      - metrics.json:
          cache: false
    plots:
      - loss.csv:
          x: step
          y: loss
  count:
    foreach: [a, b]
    do:
      cmd: python src/count.py ${item} counts/${item}.txt
      deps:
        - src/count.py
        - model.txt
      outs:
        - counts/${item}.txt
  region:
    foreach:
      us: {n: 1}
      eu: {n: 2}
    do:
      cmd: echo ${key} ${item.n} > regions/${key}.txt
      outs:
        - regions/${key}.txt
  copy:
    wdir: data
    cmd: cp raw.txt raw_copy.txt
    deps:
      - raw.txt
    outs:
      - raw_copy.txt
"""

SCRIPTS = {
    "src/prepare.py": (
        "import pathlib, sys\n"
        "out = pathlib.Path(sys.argv[2])\n"
        "out.mkdir(exist_ok=True)\n"
        "(out / 'a.txt').write_text(pathlib.Path(sys.argv[1]).read_text().upper())\n"
    ),
    "src/train.py": (
        "import json, pathlib, sys\n"
        "text = ''.join(p.read_text() for p in sorted(pathlib.Path('data/prepared').iterdir()))\n"
        "pathlib.Path('model.txt').write_text(f'{len(text)} seed={sys.argv[2]}')\n"
        "h = pathlib.Path('history.txt')\n"
        "h.write_text((h.read_text() if h.exists() else '') + 'run\\n')\n"
        "pathlib.Path('metrics.json').write_text(json.dumps({'n': len(text)}))\n"
        "pathlib.Path('loss.csv').write_text('step,loss\\n0,1\\n1,0.5\\n')\n"
    ),
    "src/count.py": (
        "import pathlib, sys\n"
        "p = pathlib.Path(sys.argv[2])\n"
        "p.parent.mkdir(exist_ok=True)\n"
        "p.write_text(sys.argv[1] + pathlib.Path('model.txt').read_text())\n"
    ),
}


@pytest.fixture
def dvc_project(tmp_path: Path) -> TempProject:
    project = make_project(tmp_path / "dvcproj")
    project.write("dvc.yaml", DVC_YAML)
    project.write("params.yaml", "prepare:\n  split: 0.2\ntrain:\n  epochs: 3\n")
    project.write("data/raw.txt", "hello\n")
    for path, text in SCRIPTS.items():
        project.write(path, text)
    return project


def test_import_dvc_prints_a_skeleton_with_todos(dvc_project: TempProject) -> None:
    source = dvc_project.pivot("import-dvc").stdout
    compile(source, "pipeline.py", "exec")
    assert not (dvc_project.root / "pipeline.py").exists()
    assert "def prepare(" in source and "def train(" in source
    assert 'Dep("data/raw.txt", loaders.PathOnly())' in source
    assert 'DirectoryOut("data/prepared", loaders.PathOnly())' in source
    assert 'IncrementalOut("history.txt", loaders.PathOnly())' in source
    assert 'Metric("metrics.json", loaders.PathOnly())' in source
    assert 'Plot("loss.csv", loaders.PathOnly(), x="step", y="loss")' in source
    assert "python src/prepare.py data/raw.txt data/prepared" in source  # the original cmd
    assert "TODO: port src/prepare.py into this function" in source
    assert "TODO: `echo` is not a Python command" in source
    assert "TODO: wdir 'data'" in source
    assert 'params_yaml: Annotated[dict[str, Any], ParamsDep("train.epochs")],' in source
    assert '_run("python src/train.py --seed 7")' in source  # ${seed} resolved from vars
    assert 'pipeline.register(count, matrix={"item": ["a", "b"]})' in source
    assert 'pipeline.register(region_us, name="region@us")' in source
    assert "TODO: one variant of a DVC foreach/matrix" in source


def test_imported_skeleton_runs_with_pivot(dvc_project: TempProject) -> None:
    proc = dvc_project.pivot("import-dvc", "-o", "pipeline.py")
    assert "wrote pipeline.py: 7 stages" in proc.stdout
    statuses = dvc_project.statuses()
    assert statuses == dict.fromkeys(
        ["prepare", "train", "count@a", "count@b", "region@us", "region@eu", "copy"], "ran"
    )
    assert dvc_project.read("data/prepared/a.txt") == "HELLO\n"
    assert dvc_project.read("counts/b.txt") == "b6 seed=7"
    assert dvc_project.read("regions/eu.txt") == "eu 2\n"
    assert dvc_project.read("data/raw_copy.txt") == "hello\n"
    assert set(dvc_project.statuses().values()) == {"skipped"}


def test_import_dvc_names_the_data_dvc_add_tracks(dvc_project: TempProject) -> None:
    dvc_project.write(
        "data/raw.txt.dvc", "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: raw.txt\n"
    )
    dvc_project.write("models/base.dvc", "outs:\n- md5: abc.dir\n  path: base\n")
    proc = dvc_project.pivot("import-dvc", "-o", "pipeline.py")
    assert "DVC tracks 2 paths with `dvc add`" in proc.stdout
    assert "  pivot track data/raw.txt models/base\n" in proc.stdout
    assert "tracked   data/raw.txt" in dvc_project.pivot("track", "data/raw.txt").stdout


def test_import_dvc_never_overwrites_without_force(dvc_project: TempProject) -> None:
    dvc_project.write("pipeline.py", "# mine\n")
    proc = dvc_project.pivot("import-dvc", "-o", "pipeline.py", check=2)
    assert "pass --force" in proc.stderr
    assert dvc_project.read("pipeline.py") == "# mine\n"
    dvc_project.pivot("import-dvc", "-o", "pipeline.py", "--force")
    assert "pivot import-dvc" in dvc_project.read("pipeline.py")


def test_import_dvc_reports_bad_input(project: TempProject) -> None:
    assert "does not exist" in project.pivot("import-dvc", check=2).stderr
    project.write("dvc.yaml", "stages: [oops\n")
    assert "cannot be read as YAML" in project.pivot("import-dvc", check=2).stderr
    project.write("dvc.yaml", "foo: 1\n")
    assert "no `stages:` mapping" in project.pivot("import-dvc", check=2).stderr


def test_import_dvc_tracks_top_level_params_and_flags_unresolved_references(
    project: TempProject,
) -> None:
    project.write(
        "dvc.yaml",
        """\
        stages:
          fit:
            cmd: python fit.py ${missing.value}
            params:
              - lr
            frozen: true
            outs:
              - out.bin
        """,
    )
    project.write("params.yaml", "lr: 0.5\n")
    source = project.pivot("import-dvc").stdout
    compile(source, "pipeline.py", "exec")
    assert "`${missing.value}` could not be resolved" in source
    assert 'ParamsDep("lr")' in source and "TODO: param" not in source
    assert "frozen in DVC" in source


# -- doctor -----------------------------------------------------------------------------------


def test_doctor_all_good(demo: TempProject) -> None:
    proc = demo.pivot("doctor")
    lines = proc.stdout.splitlines()
    for check in ("python", "project", "pipeline", "cache", "git", "git repository", "local state"):
        assert any(line.startswith(f"✓ {check}:") for line in lines), proc.stdout
    assert "pipeline.py loads: 4 stages" in proc.stdout
    assert "- remote: none configured" in proc.stdout
    assert lines[-1] == "all checks passed"
    data = json.loads(demo.pivot("doctor", "--json").stdout)
    assert data["ok"] is True and {c["name"] for c in data["checks"]} >= {"python", "pipeline"}


def test_doctor_reports_failures_and_exits_1(tmp_path: Path) -> None:
    outside = TempProject(tmp_path / "nowhere")
    outside.root.mkdir()
    proc = outside.pivot("doctor", check=1)
    assert "✗ project: no Pivot project" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "1 check failed"

    broken = make_project(tmp_path / "broken")
    broken.write("pipeline.py", "import nonexistent_module_xyz\n")
    proc = broken.pivot("doctor", check=1)
    assert "✗ pipeline:" in proc.stdout and "nonexistent_module_xyz" in proc.stdout
    assert "✓ cache:" in proc.stdout  # the other checks still ran

    nogit = TempProject(tmp_path / "nogit")
    nogit.root.mkdir()
    nogit.pivot("init")
    nogit.write("pipeline.py", "")
    proc = nogit.pivot("doctor", check=1)
    assert "✗ git repository:" in proc.stdout


def test_doctor_checks_a_configured_remote(
    demo: TempProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    demo.write(
        ".pivot/config.yaml",
        "remotes:\n  origin:\n    url: s3://bucket/prefix\n    endpoint_url: http://127.0.0.1:9\n",
    )
    proc = demo.pivot("doctor", check=1)
    assert "✗ remote origin:" in proc.stdout, proc.stdout
