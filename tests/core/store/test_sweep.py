"""Leftover temp files of killed writers are swept under the run lock; live writers' are not."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pivot.core.store.atomic import TMP_MARK, temp_path_for
from pivot.core.store.paths import PivotPaths
from pivot.core.store.sweep import sweep_leftovers, writer_pid
from tests.helpers import TempProject

PIPELINE = """
import pathlib
from typing import Annotated
import pivot
from pivot import loaders

def one(word: Annotated[str, pivot.Dep("word.txt", loaders.Text())]) -> Annotated[str, pivot.Out("out/one.txt", loaders.Text())]:
    return word * 2

def parts(word: Annotated[str, pivot.Dep("word.txt", loaders.Text())]) -> Annotated[dict, pivot.DirectoryOut("out/parts", loaders.Text())]:
    return {"a.txt": word, "sub/b.txt": word}

p = pivot.Pipeline("p")
p.register(one)
p.register(parts)
"""

HOUR_AGO = time.time() - 3600


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    """A process that is alive for the whole test (a concurrent writer without the lock)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _temp(folder: Path, name: str, pid: int | None, *, mtime: float = HOUR_AGO) -> Path:
    token = f"{pid}-0badc0de" if pid is not None else "0badc0de"
    path = folder / f".{name}{TMP_MARK}{token}"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a file")
    os.utime(path, (mtime, mtime))
    return path


def _places(project: TempProject) -> dict[str, Path]:
    """One folder of each kind the sweep covers."""
    pivot_dir = project.root / ".pivot"
    return {
        "cache": pivot_dir / "cache" / "files" / "ab",
        "run cache": pivot_dir / "cache" / "runs" / "cd",
        "bytecode": pivot_dir / "cache" / "bytecode",
        "locks": pivot_dir / "stages",
        "downloads": pivot_dir / "tmp" / "remote",
        "beside an output": project.root / "out",
        "inside a folder output": project.root / "out" / "parts" / "sub",
    }


def test_temp_names_carry_the_writer_pid(tmp_path: Path) -> None:
    temp = temp_path_for(tmp_path / "model.pkl")
    assert temp.name.startswith(f".model.pkl{TMP_MARK}{os.getpid()}-")
    assert temp.suffix == ".pkl"
    assert writer_pid(temp.name) == os.getpid()
    assert writer_pid(f".one.lock{TMP_MARK}0badc0de.lock") is None  # an older Pivot's name


def test_the_next_run_sweeps_leftovers_in_every_place(project: TempProject, live_pid: int) -> None:
    project.write("pipeline.py", PIPELINE)
    project.write("word.txt", "a")
    project.statuses()
    dead = _dead_pid()
    leftovers = {where: _temp(folder, "x", dead) for where, folder in _places(project).items()}
    legacy = _temp(project.root / "out", "y", None)
    # Not ours to remove: a live writer without the lock (e.g. `pivot fetch`), a file named
    # like a temp outside every place the sweep looks, and one newer than the run lock.
    live = _temp(project.root / ".pivot" / "cache" / "files" / "ab", "z", live_pid)
    elsewhere = _temp(project.root / "notes", "w", dead)
    project.write("word.txt", "b")  # a real run: the no-op fast path does not sweep
    assert project.statuses() == {"one": "ran", "parts": "ran"}
    left = {where: path for where, path in leftovers.items() if path.exists()}
    assert left == {}
    assert not legacy.exists()
    assert live.exists() and elsewhere.exists()
    assert project.read("out/one.txt") == "bb"
    assert sorted(p.name for p in (project.root / "out" / "parts").rglob("*")) == [
        "a.txt",
        "b.txt",
        "sub",
    ]


@pytest.mark.parametrize("command", ["checkout", "commit"])
def test_checkout_and_commit_sweep_too(project: TempProject, command: str) -> None:
    project.write("pipeline.py", PIPELINE)
    project.write("word.txt", "a")
    project.statuses()
    dead = _dead_pid()
    leftovers = [_temp(folder, "x", dead) for folder in _places(project).values()]
    project.pivot(command)
    assert [p for p in leftovers if p.exists()] == []


def test_a_temp_newer_than_the_lock_or_of_a_live_writer_stays(
    tmp_path: Path, live_pid: int
) -> None:
    paths = PivotPaths(tmp_path)
    shard = paths.cache / "files" / "ab"
    taken = time.time() - 60
    old_dead = _temp(shard, "a", _dead_pid(), mtime=taken - 1)
    new_dead = _temp(shard, "b", _dead_pid(), mtime=taken + 1)
    old_live = _temp(shard, "c", live_pid, mtime=taken - 1)
    old_ours = _temp(shard, "d", os.getpid(), mtime=taken - 1)
    assert sweep_leftovers(paths, taken) == [old_dead]
    assert new_dead.exists() and old_live.exists() and old_ours.exists()
