"""A real DVC for the interop tests (export, import from a DVC repository).

DVC is not a dependency of Pivot. These fixtures use `dvc` from PATH, or from the throwaway venv
benchmarks/.work/dvc-venv. With PIVOT_TEST_DVC=1 they create that venv and install DVC into it
when it is missing; otherwise the tests that need it are skipped.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, TempProject

__all__ = ["dvc", "dvc_bin", "dvc_env", "make_dvc_source"]

DVC_VENV = REPO / "benchmarks" / ".work" / "dvc-venv"


def _venv_dvc() -> Path:
    return DVC_VENV / ("Scripts/dvc.exe" if os.name == "nt" else "bin/dvc")


def _install_dvc() -> Path:
    DVC_VENV.parent.mkdir(parents=True, exist_ok=True)
    if not DVC_VENV.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True, timeout=300)
    pip = DVC_VENV / ("Scripts/pip.exe" if os.name == "nt" else "bin/pip")
    subprocess.run([str(pip), "install", "-q", "dvc"], check=True, timeout=1800)
    return _venv_dvc()


@pytest.fixture(scope="session")
def dvc_bin() -> Path:
    found = shutil.which("dvc")
    if found:
        return Path(found)
    if _venv_dvc().exists():
        return _venv_dvc()
    if os.environ.get("PIVOT_TEST_DVC") == "1":
        return _install_dvc()
    pytest.skip(
        "DVC is not installed: put `dvc` on PATH, or set PIVOT_TEST_DVC=1 to install it into "
        "benchmarks/.work/dvc-venv"
    )


@pytest.fixture
def dvc_env(dvc_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """PATH with `dvc` and a `pivot` that runs this checkout (DVC runs the exported cmds)."""
    bin_dir = tmp_path / "shims"
    bin_dir.mkdir()
    shim = bin_dir / "pivot"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pivot "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    path = os.pathsep.join([str(bin_dir), str(dvc_bin.parent), os.environ.get("PATH", "")])
    monkeypatch.setenv("PATH", path)  # TempProject.pivot copies os.environ
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.delenv("PIVOT_DVC", raising=False)
    return {**os.environ, "PYTHONPATH": str(REPO)}


def dvc(project: TempProject, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["dvc", *args], cwd=project.root, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"dvc {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc


DVC_YAML = """
stages:
  prepare:
    cmd: python -c "import pathlib; p = pathlib.Path('out/feat'); p.mkdir(parents=True, exist_ok=True); (p / 'a.txt').write_text('feature a'); (p / 'b.txt').write_text('feature b'); pathlib.Path('out/prepared.csv').write_text(pathlib.Path('data/raw.csv').read_text().upper()); pathlib.Path('out/metrics.json').write_text('[1]')"
    deps:
    - data/raw.csv
    outs:
    - out/prepared.csv
    - out/feat
    metrics:
    - out/metrics.json:
        cache: false
"""


def make_dvc_source(root: Path, env: dict[str, str]) -> TempProject:
    """A DVC repository made by DVC: `dvc add` of ``data/raw.csv`` and the folder
    ``data/images``, a stage writing ``out/prepared.csv``, the folder ``out/feat`` and the
    metric ``out/metrics.json`` (``cache: false``, so committed to git), all
    pushed to the folder remote ``store`` (``<root>/../dvc-remote``, a relative url in
    ``.dvc/config``) and committed."""
    project = TempProject(root)
    project.root.mkdir(parents=True)
    project.git("init", "-q")
    dvc(project, env, "init", "-q")
    project.write("data/raw.csv", "a,b\n1,2\n")
    project.write("data/images/one.txt", "one")
    project.write("data/images/two.txt", "two")
    dvc(project, env, "add", "-q", "data/raw.csv", "data/images")
    project.write("dvc.yaml", DVC_YAML)
    dvc(project, env, "repro", "-q")
    (root.parent / "dvc-remote").mkdir()
    dvc(project, env, "remote", "add", "-d", "store", "../dvc-remote")
    dvc(project, env, "push", "-q")
    project.commit_all("data and a stage")
    return project
