"""`pivot import-dvc` keeps params live (issue 18): whatever a DVC stage's `params:` lists
becomes a tracked input of the imported stage, so editing it in params.yaml re-runs exactly the
stages that list it while their scripts keep reading params.yaml, and `pivot export` writes the
same `params:` back.

Two real-shaped DVC projects, each with small scripts that read params.yaml themselves:
one params section per stage, and a shared `base` section with foreach stages, a top-level key
and other params files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import TempProject, make_project

# -- project 1: one params section per stage ---------------------------------------------------

SECTIONS_DVC = """\
stages:
  prepare:
    cmd: python src/prepare.py data/raw.txt data/prepared.json
    deps:
      - src/prepare.py
      - data/raw.txt
    params:
      - prepare.split
      - prepare.seed
    outs:
      - data/prepared.json
  featurize:
    cmd: python src/featurize.py data/prepared.json data/features.json
    deps:
      - src/featurize.py
      - data/prepared.json
    params:
      - featurize
    outs:
      - data/features.json
  train:
    cmd: python src/train.py data/features.json model.json
    deps:
      - src/train.py
      - data/features.json
    params:
      - train.lr
      - train.epochs
    outs:
      - model.json
  evaluate:
    cmd: python src/evaluate.py model.json metrics.json
    deps:
      - src/evaluate.py
      - model.json
    params:
      - evaluate.threshold
    metrics:
      - metrics.json:
          cache: false
"""

SECTIONS_PARAMS = """\
prepare:
  split: 0.25
  seed: 20170428
featurize:
  max_features: 100
  ngrams: 2
train:
  lr: 0.1
  epochs: 3
  batch_size: 32
evaluate:
  threshold: 0.5
"""

# Each script reads its own section of params.yaml, as DVC scripts do.
SECTIONS_SCRIPTS = {
    "src/prepare.py": """\
        import json, sys, yaml
        p = yaml.safe_load(open("params.yaml"))["prepare"]
        rows = open(sys.argv[1]).read().split()
        cut = int(len(rows) * (1 - p["split"]))
        json.dump({"train": rows[:cut], "test": rows[cut:], "seed": p["seed"]}, open(sys.argv[2], "w"))
        """,
    "src/featurize.py": """\
        import json, sys, yaml
        p = yaml.safe_load(open("params.yaml"))["featurize"]
        data = json.load(open(sys.argv[1]))
        features = [w[: p["ngrams"]] for w in data["train"]][: p["max_features"]]
        json.dump({"features": features}, open(sys.argv[2], "w"))
        """,
    "src/train.py": """\
        import json, sys, yaml
        p = yaml.safe_load(open("params.yaml"))["train"]
        features = json.load(open(sys.argv[1]))["features"]
        json.dump({"lr": p["lr"], "epochs": p["epochs"], "n": len(features)}, open(sys.argv[2], "w"))
        """,
    "src/evaluate.py": """\
        import json, sys, yaml
        p = yaml.safe_load(open("params.yaml"))["evaluate"]
        model = json.load(open(sys.argv[1]))
        score = model["lr"] * model["epochs"] * model["n"]
        json.dump({"score": score, "passed": score > p["threshold"]}, open(sys.argv[2], "w"))
        """,
}

# -- project 2: a shared base section, foreach stages, other params files ----------------------

BASE_DVC = """\
stages:
  prepare:
    cmd: python src/prepare.py
    deps:
      - src/prepare.py
      - data/raw.txt
    params:
      - base.seed
      - prepare.split
    outs:
      - data/prepared.json
  train:
    foreach: ${models}
    do:
      cmd: python src/train.py ${key}
      deps:
        - src/train.py
        - data/prepared.json
      params:
        - base.seed
        - models.${key}
        - lr
        - conf/train.json:
            - optimizer.momentum
      outs:
        - models/${key}.json
  evaluate:
    foreach: [small, large]
    do:
      cmd: python src/evaluate.py ${item}
      deps:
        - src/evaluate.py
        - models/${item}.json
      params:
        - base
        - evaluate.${item}.threshold
      metrics:
        - metrics/${item}.json:
            cache: false
  report:
    cmd: python src/report.py
    deps:
      - src/report.py
      - metrics/small.json
      - metrics/large.json
    params:
      - conf/report.yaml:
    outs:
      - report.md
"""

BASE_PARAMS = """\
lr: 0.05
base:
  seed: 42
  scale: 10
prepare:
  split: 0.5
models:
  small:
    hidden: 4
  large:
    hidden: 16
evaluate:
  small:
    threshold: 0.5
  large:
    threshold: 0.7
"""

BASE_SCRIPTS = {
    "src/prepare.py": """\
        import json, yaml
        p = yaml.safe_load(open("params.yaml"))
        rows = open("data/raw.txt").read().split()
        cut = int(len(rows) * p["prepare"]["split"])
        json.dump({"rows": rows[:cut], "seed": p["base"]["seed"]}, open("data/prepared.json", "w"))
        """,
    "src/train.py": """\
        import json, pathlib, sys, yaml
        name = sys.argv[1]
        p = yaml.safe_load(open("params.yaml"))
        momentum = json.load(open("conf/train.json"))["optimizer"]["momentum"]
        rows = json.load(open("data/prepared.json"))["rows"]
        model = {"hidden": p["models"][name]["hidden"], "lr": p["lr"], "momentum": momentum,
                 "seed": p["base"]["seed"], "n": len(rows)}
        pathlib.Path("models").mkdir(exist_ok=True)
        json.dump(model, open(f"models/{name}.json", "w"))
        """,
    "src/evaluate.py": """\
        import json, pathlib, sys, yaml
        name = sys.argv[1]
        p = yaml.safe_load(open("params.yaml"))
        model = json.load(open(f"models/{name}.json"))
        score = model["hidden"] * model["n"] / p["base"]["scale"]
        passed = score > p["evaluate"][name]["threshold"]
        pathlib.Path("metrics").mkdir(exist_ok=True)
        json.dump({"score": score, "passed": passed}, open(f"metrics/{name}.json", "w"))
        """,
    "src/report.py": """\
        import json, yaml
        conf = yaml.safe_load(open("conf/report.yaml"))
        lines = [f"# {conf['title']}"]
        for name in ("small", "large"):
            score = json.load(open(f"metrics/{name}.json"))["score"]
            lines.append(f"{name}: {score:.{conf['precision']}f}")
        open("report.md", "w").write("\\n".join(lines) + "\\n")
        """,
}


def _dvc_project(root: Path, dvc_yaml: str, params: str, scripts: dict[str, str]) -> TempProject:
    project = make_project(root)
    project.write("dvc.yaml", dvc_yaml)
    project.write("params.yaml", params)
    project.write("data/raw.txt", "alpha beta gamma delta epsilon zeta eta theta\n")
    for path, text in scripts.items():
        project.write(path, text)
    return project


@pytest.fixture
def sections(tmp_path: Path) -> TempProject:
    """Project 1, imported and run once."""
    project = _dvc_project(tmp_path / "sections", SECTIONS_DVC, SECTIONS_PARAMS, SECTIONS_SCRIPTS)
    project.pivot("import-dvc", "-o", "pipeline.py")
    assert project.statuses() == dict.fromkeys(["prepare", "featurize", "train", "evaluate"], "ran")
    return project


@pytest.fixture
def shared(tmp_path: Path) -> TempProject:
    """Project 2, imported and run once."""
    project = _dvc_project(tmp_path / "shared", BASE_DVC, BASE_PARAMS, BASE_SCRIPTS)
    project.write("conf/train.json", '{"optimizer": {"momentum": 0.9, "nesterov": true}}\n')
    project.write("conf/report.yaml", "title: Results\nprecision: 2\n")
    project.pivot("import-dvc", "-o", "pipeline.py")
    assert project.statuses() == dict.fromkeys(
        [
            "prepare",
            "train@small",
            "train@large",
            "evaluate@small",
            "evaluate@large",
            "report",
        ],
        "ran",
    )
    return project


def _edit(project: TempProject, rel: str, old: str, new: str) -> None:
    text = project.read(rel)
    assert text.count(old) == 1, (old, text)
    (project.root / rel).write_text(text.replace(old, new))


def stale_by_params(project: TempProject) -> dict[str, str]:
    """``{stage: changed keys}`` of the stages `pivot status` finds stale because of their
    params; every other stage must be cached or stale only because an upstream one runs."""
    rows = project.status_json()
    other = {
        name: row["reason"]
        for name, row in rows.items()
        if row["status"] != "cached"
        and not row["reason"].startswith(("upstream ", "params changed: "))
    }
    assert other == {}, other
    return {
        name: row["reason"].removeprefix("params changed: ")
        for name, row in rows.items()
        if row["reason"].startswith("params changed: ")
    }


def assert_edits(project: TempProject, edits: list[tuple[str, str, str, dict[str, str]]]) -> None:
    """Each edit, alone, makes stale by params exactly the expected stages (edit undone
    after each, so one imported project serves every case)."""
    for rel, old, new, expected in edits:
        _edit(project, rel, old, new)
        assert stale_by_params(project) == expected, (rel, old, new)
        _edit(project, rel, new, old)
    assert stale_by_params(project) == {}


def exported_params(project: TempProject) -> dict[str, Any]:
    """``{dvc stage: params}`` of `pivot export`, written next to the original dvc.yaml."""
    project.pivot("export", "-o", "exported.yaml")
    stages = yaml.safe_load(project.read("exported.yaml"))["stages"]
    assert not (project.root / "exported.params.yaml").exists()  # no model defaults to add
    return {name: stage.get("params") for name, stage in stages.items()}


# -- project 1 -------------------------------------------------------------------------------


def test_sections_project_imports_without_models_and_runs_clean(sections: TempProject) -> None:
    source = sections.read("pipeline.py")
    assert "StageParams" not in source  # nothing frozen into pipeline.py
    assert 'ParamsDep("prepare.split", "prepare.seed")' in source
    assert 'ParamsDep("featurize")' in source
    assert "  keys  params.yaml: prepare.split, prepare.seed\n" in sections.pivot("list").stdout
    assert set(sections.statuses().values()) == {"skipped"}
    lock = yaml.safe_load(sections.lock("featurize"))
    assert lock["params"] == {"params.yaml:featurize": {"max_features": 100, "ngrams": 2}}


SECTIONS_EDITS = [
    ("params.yaml", "seed: 20170428", "seed: 1", {"prepare": "params.yaml:prepare.seed"}),
    ("params.yaml", "ngrams: 2", "ngrams: 3", {"featurize": "params.yaml:featurize.ngrams"}),
    ("params.yaml", "lr: 0.1", "lr: 0.2", {"train": "params.yaml:train.lr"}),
    (
        "params.yaml",
        "threshold: 0.5",
        "threshold: 0.9",
        {"evaluate": "params.yaml:evaluate.threshold"},
    ),
    ("params.yaml", "batch_size: 32", "batch_size: 64", {}),  # in train's section, unlisted
]


def test_sections_project_an_edit_makes_stale_exactly_the_stages_listing_it(
    sections: TempProject,
) -> None:
    assert_edits(sections, SECTIONS_EDITS)


def test_sections_project_re_runs_with_the_new_value_and_explains_it(
    sections: TempProject,
) -> None:
    sections.commit_all("first run")
    _edit(sections, "params.yaml", "lr: 0.1", "lr: 0.2")
    explained = json.loads(sections.pivot("explain", "--json", "train").stdout)["stages"]
    train = next(e for e in explained if e["stage"] == "train")
    assert [(p["key"], p["old"], p["new"]) for p in train["params"]] == [
        ("params.yaml:train.lr", 0.1, 0.2)
    ]
    diff = json.loads(sections.pivot("params", "diff", "--json").stdout)["stages"]
    assert diff == {
        "train": {
            "old_from": "lock",
            "params": {"params.yaml:train.lr": {"old": 0.1, "new": 0.2, "status": "modified"}},
        }
    }
    # train re-runs for its param; evaluate because train's output changed.
    assert sections.statuses() == {
        "prepare": "skipped",
        "featurize": "skipped",
        "train": "ran",
        "evaluate": "ran",
    }
    assert json.loads(sections.read("model.json"))["lr"] == 0.2  # the script read the edit
    assert set(sections.statuses().values()) == {"skipped"}


def test_sections_project_exports_the_same_params(sections: TempProject) -> None:
    original = yaml.safe_load(SECTIONS_DVC)["stages"]
    assert exported_params(sections) == {name: stage["params"] for name, stage in original.items()}


# -- project 2 -------------------------------------------------------------------------------


SHARED_EDITS = [
    (
        "params.yaml",
        "seed: 42",
        "seed: 7",
        {
            "prepare": "params.yaml:base.seed",
            "train@small": "params.yaml:base.seed",
            "train@large": "params.yaml:base.seed",
            "evaluate@small": "params.yaml:base.seed",  # lists the whole `base`
            "evaluate@large": "params.yaml:base.seed",
        },
    ),
    (
        "params.yaml",
        "scale: 10",
        "scale: 20",
        {"evaluate@small": "params.yaml:base.scale", "evaluate@large": "params.yaml:base.scale"},
    ),
    (  # a top-level key
        "params.yaml",
        "lr: 0.05",
        "lr: 0.5",
        {"train@small": "params.yaml:lr", "train@large": "params.yaml:lr"},
    ),
    (  # the section of one foreach item (`models.${key}`)
        "params.yaml",
        "hidden: 4",
        "hidden: 8",
        {"train@small": "params.yaml:models.small.hidden"},
    ),
    (  # a key of one matrix item (`evaluate.${item}.threshold`)
        "params.yaml",
        "threshold: 0.7",
        "threshold: 0.8",
        {"evaluate@large": "params.yaml:evaluate.large.threshold"},
    ),
    (  # a key of another file
        "conf/train.json",
        '"momentum": 0.9',
        '"momentum": 0.5',
        {
            "train@small": "conf/train.json:optimizer.momentum",
            "train@large": "conf/train.json:optimizer.momentum",
        },
    ),
    ("conf/train.json", '"nesterov": true', '"nesterov": false', {}),  # unlisted
    (  # a whole other file
        "conf/report.yaml",
        "precision: 2",
        "precision: 3",
        {"report": "conf/report.yaml:precision"},
    ),
]


def test_shared_project_an_edit_makes_stale_exactly_the_stages_listing_it(
    shared: TempProject,
) -> None:
    assert_edits(shared, SHARED_EDITS)


def test_shared_project_re_runs_one_variant_with_the_new_value(shared: TempProject) -> None:
    _edit(shared, "params.yaml", "hidden: 4", "hidden: 8")
    assert shared.statuses() == {
        "prepare": "skipped",
        "train@small": "ran",
        "train@large": "skipped",
        "evaluate@small": "ran",  # its model changed
        "evaluate@large": "skipped",
        "report": "ran",  # a score changed
    }
    assert json.loads(shared.read("models/small.json"))["hidden"] == 8


def test_shared_project_a_missing_key_fails_its_stage_in_one_line(shared: TempProject) -> None:
    _edit(shared, "params.yaml", "  large:\n    threshold: 0.7\n", "  large: {}\n")
    events = shared.run_events("--keep-going", check=1)
    finished = {e["stage"]: e for e in events if e["event"] == "stage_finished"}
    assert finished["evaluate@large"]["status"] == "failed"
    assert finished["evaluate@large"]["reason"] == (
        "stage 'evaluate@large': params key 'evaluate.large.threshold' is not in params.yaml; "
        "add it there or drop it from the stage's ParamsDep"
    )
    assert finished["evaluate@small"]["status"] == "skipped"
    assert finished["report"]["status"] == "blocked"


def test_shared_project_exports_the_same_params(shared: TempProject) -> None:
    source = shared.read("pipeline.py")
    assert 'ParamsDep("base.seed", "models.small", "lr")' in source  # train@small
    assert 'ParamsDep("optimizer.momentum", file="conf/train.json")' in source
    assert 'ParamsDep("base", "evaluate.{item}.threshold")' in source  # a Pivot matrix
    assert 'ParamsDep(file="conf/report.yaml")' in source
    # The original params, with ${key} / ${item} filled in for each variant.
    assert exported_params(shared) == {
        "prepare": ["base.seed", "prepare.split"],
        "train_small": [
            "base.seed",
            "models.small",
            "lr",
            {"conf/train.json": ["optimizer.momentum"]},
        ],
        "train_large": [
            "base.seed",
            "models.large",
            "lr",
            {"conf/train.json": ["optimizer.momentum"]},
        ],
        "evaluate_small": ["base", "evaluate.small.threshold"],
        "evaluate_large": ["base", "evaluate.large.threshold"],
        "report": [{"conf/report.yaml": None}],
    }
