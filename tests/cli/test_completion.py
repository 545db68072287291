"""Shell completion: commands, options and stage names, through click's protocol and real bash."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, TempProject, pivot_env

PIPELINE = """
from pathlib import Path
from typing import Annotated
import pivot
from pivot import loaders

print("pipeline.py says hello")  # must not leak into completions

def prepare() -> Annotated[str, pivot.Out("a.txt", loaders.Text())]:
    Path("RAN").write_text("prepare ran")
    return "a"

def train(a: Annotated[str, pivot.Dep("a.txt", loaders.Text())]) -> Annotated[str, pivot.Out("b.txt", loaders.Text())]:
    Path("RAN").write_text("train ran")
    return a

def transform(a: Annotated[str, pivot.Dep("a.txt", loaders.Text())]) -> Annotated[str, pivot.Out("c.txt", loaders.Text())]:
    return a

p = pivot.Pipeline("p")
for f in (prepare, train, transform):
    p.register(f)
"""


@pytest.fixture
def staged(project: TempProject) -> TempProject:
    project.write("pipeline.py", PIPELINE)
    return project


def complete(cwd: Path, *words: str) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """Run click's bash protocol for the command line ``pivot WORDS`` (last word incomplete)."""
    env = pivot_env()
    env.update(
        _PIVOT_COMPLETE="bash_complete",
        COMP_WORDS=" ".join(["pivot", *words]),
        COMP_CWORD=str(len(words)),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pivot"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    values = [line.split(",", 1)[1] for line in proc.stdout.splitlines() if "," in line]
    return values, proc


def test_protocol_completes_commands_and_options(staged: TempProject) -> None:
    commands, _ = complete(staged.root, "ex")
    assert sorted(commands) == ["explain", "export"]
    options, _ = complete(staged.root, "run", "--fo")
    assert options == ["--force"]
    shells, _ = complete(staged.root, "completion", "")
    assert shells == ["bash", "zsh", "fish"]


@pytest.mark.parametrize("command", ["run", "repro", "status", "list", "dag", "export"])
def test_protocol_completes_stage_names(staged: TempProject, command: str) -> None:
    names, proc = complete(staged.root, command, "tr")
    assert names == ["train", "transform"], proc.stderr
    assert not (staged.root / "RAN").exists()  # loading pipeline.py ran no stage
    assert proc.stderr == ""


def test_stage_names_already_given_are_not_offered_again(staged: TempProject) -> None:
    names, _ = complete(staged.root, "run", "train", "")
    assert names == ["prepare", "transform"]


def test_completion_follows_dash_C(staged: TempProject, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    names, _ = complete(elsewhere, "-C", str(staged.root), "run", "p")
    assert names == ["prepare"]


def test_failure_means_no_completions_never_a_traceback(
    project: TempProject, tmp_path: Path
) -> None:
    project.write("pipeline.py", "raise RuntimeError('broken on purpose')\n")
    names, proc = complete(project.root, "run", "")
    assert names == [] and proc.returncode == 0
    assert "Traceback" not in proc.stderr and "broken" not in proc.stderr + proc.stdout
    outside = tmp_path / "not-a-project"
    outside.mkdir()
    names, proc = complete(outside, "run", "")
    assert names == [] and proc.returncode == 0 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_command_prints_a_script(staged: TempProject, shell: str) -> None:
    script = staged.pivot("completion", shell).stdout
    assert "_PIVOT_COMPLETE" in script
    assert f"{shell}_complete" in script


def test_completion_rejects_unknown_shells(staged: TempProject) -> None:
    proc = staged.pivot("completion", "tcsh", check=2)
    assert "tcsh" in proc.stderr


@pytest.fixture
def pivot_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has a `pivot` that runs this checkout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "pivot"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pivot "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = pivot_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    return env


def bash_complete(env: dict[str, str], cwd: Path, script: str, *words: str) -> list[str]:
    """Source the script in a non-interactive bash, call its function like readline would."""
    quoted = " ".join(f"'{w}'" for w in ("pivot", *words))
    program = f"""
source "$1"
COMP_WORDS=({quoted})
COMP_CWORD={len(words)}
_pivot_completion pivot
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program, "bash", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_script_completes_commands_options_and_stages(
    staged: TempProject, pivot_on_path: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "pivot-completion.bash"
    script.write_text(staged.pivot("completion", "bash").stdout)
    assert bash_complete(pivot_on_path, staged.root, str(script), "sta") == ["status"]
    assert bash_complete(pivot_on_path, staged.root, str(script), "dag", "--me") == ["--mermaid"]
    assert bash_complete(pivot_on_path, staged.root, str(script), "run", "tr") == [
        "train",
        "transform",
    ]
    assert bash_complete(pivot_on_path, staged.root, str(script), "status", "") == [
        "prepare",
        "train",
        "transform",
    ]
