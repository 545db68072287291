"""`cache.link`: reflink (the default, copies where the filesystem cannot clone), hardlink
(outputs read-only, no second copy) or copy."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from tests.helpers import TempProject

PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders

class MakeParams(pivot.StageParams):
    n: int = 3

def make(params: MakeParams) -> Annotated[str, pivot.Out("big.txt", loaders.Text())]:
    return "x" * params.n

def grow(
    big: Annotated[str, pivot.Dep("big.txt", loaders.Text())],
    previous: Annotated[list, pivot.IncrementalOut("log.json", loaders.JSON())],
) -> Annotated[list, pivot.IncrementalOut("log.json", loaders.JSON())]:
    return [*(previous or []), len(big)]

pipeline = pivot.Pipeline("p")
pipeline.register(make)
pipeline.register(grow)
"""


def _blob(project: TempProject) -> Path:
    """The cache blob of make's output, as its lock records it."""
    (out,) = yaml.safe_load(project.lock("make"))["outs"]
    digest = out["hash"]
    return project.root / ".pivot" / "cache" / "files" / digest[:2] / digest[2:]


def _writable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IWUSR)


def test_hardlink_outputs_share_the_blob_and_are_read_only(project: TempProject) -> None:
    project.pivot("config", "set", "cache.link", "hardlink")
    project.write("pipeline.py", PIPELINE)
    assert project.statuses() == {"make": "ran", "grow": "ran"}
    big = project.root / "big.txt"
    blob = _blob(project)
    assert big.stat().st_ino == blob.stat().st_ino  # one file: no second copy on disk
    assert not _writable(big)

    # A run that rewrites the output gets a fresh file; the old blob keeps its bytes.
    (project.root / "params.yaml").write_text("make:\n  n: 5\n")
    assert project.statuses() == {"make": "ran", "grow": "ran"}
    assert big.stat().st_ino != blob.stat().st_ino
    assert blob.read_text() == "xxx" and big.read_text() == "xxxxx"
    # The incremental output was appended to a copy of its own, not through the link.
    assert json.loads(project.read("log.json")) == [3, 5]
    project.pivot("verify")

    big.unlink()
    project.pivot("checkout")
    assert big.read_text() == "xxxxx" and big.stat().st_nlink == 2
    (project.root / "params.yaml").unlink()
    assert project.statuses() == {"make": "restored", "grow": "ran"}
    assert big.stat().st_ino == blob.stat().st_ino
    assert json.loads(project.read("log.json")) == [3, 5, 3]
    project.pivot("verify")


@pytest.mark.parametrize("mode", ["copy", "reflink"])
def test_copy_and_reflink_leave_writable_files_of_their_own(
    project: TempProject, mode: str
) -> None:
    project.pivot("config", "set", "cache.link", mode)
    project.write("pipeline.py", PIPELINE)
    project.statuses()
    big = project.root / "big.txt"
    blob = _blob(project)
    assert big.stat().st_ino != blob.stat().st_ino and big.stat().st_nlink == 1
    assert _writable(big) and blob.read_text() == "xxx"
    big.unlink()
    project.pivot("checkout")
    assert _writable(big) and big.stat().st_nlink == 1
    with open(big, "a") as handle:  # writing the workspace file never reaches the cache
        handle.write("!")
    assert blob.read_text() == "xxx"


def test_a_bad_link_mode_is_one_line(project: TempProject) -> None:
    proc = project.pivot("config", "set", "cache.link", "symlink", check=None)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cache.link" in lines[0], proc.stderr
    assert os.path.exists(project.root / ".pivot")
