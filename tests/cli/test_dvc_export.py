"""`pivot export` checked by a real DVC: validation, and `dvc repro` giving `pivot run`'s bytes.

DVC comes from `tests/dvc_tool.py` (skipped without it, installed with PIVOT_TEST_DVC=1).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from pivot.core.interop.dvc_export import build_export, validate_with_dvc
from pivot.core.pipeline.discovery import load_pipeline
from pivot.core.pipeline.graph import build_graph
from tests.cli.test_project_commands import DEMO_OUTPUTS, write_demo
from tests.dvc_tool import dvc
from tests.helpers import TempProject, make_project


def test_dvc_repro_of_the_export_writes_the_same_bytes_as_pivot_run(
    tmp_path: Path, dvc_env: dict[str, str]
) -> None:
    with_pivot = make_project(tmp_path / "with-pivot")
    write_demo(with_pivot)
    with_pivot.pivot("run")
    expected = {path: (with_pivot.root / path).read_bytes() for path in DEMO_OUTPUTS}

    with_dvc = make_project(tmp_path / "with-dvc")
    write_demo(with_dvc)
    dvc(with_dvc, dvc_env, "init", "-q")
    with_dvc.pivot("export")
    dvc(with_dvc, dvc_env, "repro")
    produced = {path: (with_dvc.root / path).read_bytes() for path in DEMO_OUTPUTS}
    assert produced == expected
    assert "up to date" in dvc(with_dvc, dvc_env, "status").stdout
    lock = yaml.safe_load(with_dvc.read("dvc.lock"))
    assert lock["stages"]["train"]["params"] == {
        "params.yaml": {"train.lr": 0.2},
        "dvc.params.yaml": {"train.epochs": 3},
    }

    # A helper edit: DVC re-runs train (helpers.py is its dep) and report downstream of it.
    with_dvc.write("helpers.py", "def double(x):\n    return 3 * x\n")
    out = dvc(with_dvc, dvc_env, "repro").stdout
    assert "Running stage 'train'" in out and "Running stage 'prepare'" not in out
    assert with_dvc.read("report.txt") == "9 3\n"


def test_validate_in_a_dvc_repository(tmp_path: Path, dvc_env: dict[str, str]) -> None:
    project = make_project(tmp_path / "repo")
    write_demo(project)
    dvc(project, dvc_env, "init", "-q")
    proc = project.pivot("export", "--validate")
    assert "✓ dvc stage list: 4 stages, as exported" in proc.stdout
    assert "✓ dvc dag: 4 edges, the same as Pivot's graph" in proc.stdout
    assert "✓ dvc status: 4 of 4 stages changed for DVC" in proc.stdout

    dvc(project, dvc_env, "repro")
    proc = project.pivot("export", "--validate")
    assert "✓ dvc status: 0 of 4 stages changed for DVC" in proc.stdout
    assert "note:" not in proc.stdout

    # A comment in a helper: DVC sees a changed file, Pivot's code fingerprint does not.
    project.write("helpers.py", "def double(x):\n    # twice\n    return 2 * x\n")
    proc = project.pivot("export", "--validate")
    assert "note: train: changed for DVC, cached for Pivot" in proc.stdout


def test_validate_outside_a_dvc_repository_uses_a_scratch_copy(
    demo: TempProject, dvc_env: dict[str, str]
) -> None:
    proc = demo.pivot("export", "-o", "exports/pipeline-dvc.yaml", "--validate")
    assert "✓ dvc stage list" in proc.stdout and "✓ dvc dag" in proc.stdout
    assert "dvc status: skipped" in proc.stdout
    assert not (demo.root / ".dvc").exists()


def test_validate_reports_a_disagreement(demo: TempProject, dvc_env: dict[str, str]) -> None:
    pipeline = load_pipeline(demo.root)
    graph = build_graph(pipeline)
    out_file = demo.root / "dvc.yaml"
    plan = build_export(pipeline, graph, list(graph.order), out_file, params_file={})
    out_file.write_text(plan.dvc_yaml)
    wrong = dataclasses.replace(
        plan,
        names={**plan.names, "ghost": "ghost"},
        upstream={**plan.upstream, "log": ("train",)},
    )
    checks = {
        c.name: c
        for c in validate_with_dvc(shutil.which("dvc") or "dvc", demo.root, out_file, wrong)
    }
    assert not checks["dvc stage list"].ok and "ghost" in checks["dvc stage list"].detail
    assert not checks["dvc dag"].ok
    assert "edges only in Pivot: train -> log" in checks["dvc dag"].detail
    assert "edges only in DVC: prepare -> log" in checks["dvc dag"].detail


@pytest.fixture
def demo(project: TempProject) -> TempProject:
    write_demo(project)
    return project
