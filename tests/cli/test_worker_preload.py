"""Workers import the pipeline while the main process plans, and each does so once.

``pipeline.py`` calls ``probe.note()`` (a module outside the project) when it is executed,
which appends the process id to a file: the tests count pipeline loads per process.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import REPO, TempProject, make_project

PIPELINE = """\
from typing import Annotated

import probe
import pivot
from pivot import loaders

probe.note()


def upper(
    raw: Annotated[str, pivot.Dep("data/raw.txt", loaders.Text())],
) -> Annotated[str, pivot.Out("out/upper.txt", loaders.Text())]:
    return raw.upper()


def count(
    text: Annotated[str, pivot.Dep("out/upper.txt", loaders.Text())],
) -> Annotated[dict, pivot.Out("out/count.json", loaders.JSON())]:
    return {"chars": len(text)}


pipeline = pivot.Pipeline("preload")
pipeline.register(upper)
pipeline.register(count)
"""


@pytest.fixture
def probed(tmp_path: Path) -> tuple[TempProject, Path, dict[str, str]]:
    lib = tmp_path / "lib"
    lib.mkdir()
    marker = tmp_path / "imports.log"
    (lib / "probe.py").write_text(
        "import os\n\n\ndef note():\n"
        f"    with open({str(marker)!r}, 'a') as handle:\n"
        "        handle.write(f'{os.getpid()}\\n')\n"
    )
    project = make_project(tmp_path / "proj")
    project.write("pipeline.py", PIPELINE)
    project.write("data/raw.txt", "abc\n")
    return project, marker, {"PYTHONPATH": f"{REPO}{os.pathsep}{lib}"}


def _imports_per_process(marker: Path) -> Counter[str]:
    return Counter(marker.read_text().split()) if marker.exists() else Counter()


def _run(project: TempProject, env: dict[str, str], *args: str) -> dict[str, str]:
    proc = project.pivot("--no-tui", "run", "--json", *args, extra_env=env)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_each_process_imports_the_pipeline_once(
    probed: tuple[TempProject, Path, dict[str, str]], jobs: str
) -> None:
    project, marker, env = probed
    assert _run(project, env, "-j", jobs) == {"upper": "ran", "count": "ran"}
    per_process = _imports_per_process(marker)
    # The main process and each worker: a worker that preloaded the pipeline runs its stages
    # with that import (it would import again if its code token disagreed with the main's).
    assert set(per_process.values()) == {1}
    assert 2 <= len(per_process) <= 1 + int(jobs)
    assert json.loads(project.read("out/count.json")) == {"chars": 4}


def test_code_edited_after_the_preload_is_what_runs(
    probed: tuple[TempProject, Path, dict[str, str]],
) -> None:
    project, _, env = probed
    assert _run(project, env, "-j", "1") == {"upper": "ran", "count": "ran"}
    project.write("pipeline.py", PIPELINE.replace("raw.upper()", "raw.upper() * 2"))
    assert _run(project, env, "-j", "1") == {"upper": "ran", "count": "ran"}
    assert project.read("out/upper.txt") == "ABC\nABC\n"


def test_a_pipeline_that_fails_to_import_is_reported_once(
    probed: tuple[TempProject, Path, dict[str, str]],
) -> None:
    project, _, env = probed
    project.write("pipeline.py", PIPELINE + "\nraise RuntimeError('broken on purpose')\n")
    proc = project.pivot("--no-tui", "run", check=None, extra_env=env)
    assert proc.returncode != 0
    # One line: the main process's error. The workers that were importing the same file when
    # it failed are not killed mid-import (that leaves loky warning about semaphores).
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "broken on purpose" in proc.stderr
    assert "Traceback" not in proc.stderr
