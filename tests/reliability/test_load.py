"""Load: a few hundred stages and a folder of thousands of files go through run, no-op run,
push and pull (into a `git clone`) with every answer right and every pivot process under 1 GiB.

A modest version of ``benchmarks/load_bench.py`` (which times 5,000 stages and 100,000 files);
no timing is asserted here, only correctness and memory. Also: the bytecode cache that spares
a large ``pipeline.py`` its compile on every run only ever serves the source on disk.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, TempProject, pivot_env
from tests.remote.conftest import _isolated_env, clone, configure_remote, remote_url, s3
from tests.s3_server import S3Server, s3_server

sys.path.insert(0, str(REPO / "benchmarks"))

import load_bench
import synth

__all__ = ["_isolated_env", "remote_url", "s3", "s3_server"]


GIB = 1 << 30
STAGES = 300
FILES = 5000


def pivot(root: Path, *args: str) -> load_bench.Usage:
    """Run the real CLI; it must succeed, and no process of its tree may pass 1 GiB."""
    usage = load_bench.measure([sys.executable, "-m", "pivot", *args], root, pivot_env())
    assert usage.returncode == 0, f"pivot {' '.join(args)}:\n{usage.stdout}\n{usage.stderr}"
    assert usage.process_peak < GIB, f"pivot {' '.join(args)}: peak RSS {usage.process_peak}"
    assert usage.tree_peak < GIB, f"pivot {' '.join(args)}: tree RSS {usage.tree_peak}"
    assert usage.process_peak > 10 << 20  # the measurement saw the pivot process itself
    return usage


def statuses(usage: load_bench.Usage) -> dict[str, str]:
    events: list[dict[str, Any]] = [
        json.loads(line) for line in usage.stdout.splitlines() if line.startswith("{")
    ]
    return {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def round_trip(
    project: TempProject, s3: S3Server, url: str, stages: int, blobs: int, tmp: Path
) -> None:
    """cold run, no-op, push, push again, then clone + pull + run: nothing left to run."""
    root = project.root
    configure_remote(root, s3, url)
    cold = statuses(pivot(root, "--no-tui", "run", "--json"))
    assert len(cold) == stages and set(cold.values()) == {"ran"}
    noop = statuses(pivot(root, "--no-tui", "run", "--json"))
    assert noop == dict.fromkeys(cold, "skipped")

    pushed = pivot(root, "push")
    assert pushed.stdout.startswith(f"{blobs} files ("), pushed.stdout
    again = pivot(root, "push")
    assert again.stdout.startswith("0 files (0 B) pushed to "), again.stdout
    assert f"{blobs} of {blobs} already there" in again.stdout

    project.write(".gitignore", project.read(".gitignore") + "/out/\n")
    project.commit_all("locks")
    copy = clone(project, tmp / "clone")
    assert not (copy.root / "out").exists()
    pulled = pivot(copy.root, "pull")
    assert pulled.stdout.startswith(f"{blobs} files ("), pulled.stdout
    assert tree(copy.root / "out") == tree(root / "out")
    after = statuses(pivot(copy.root, "--no-tui", "run", "--json"))
    assert after == dict.fromkeys(cold, "skipped")


@pytest.mark.slow
@pytest.mark.s3
def test_a_few_hundred_stages_run_skip_push_and_pull(
    tmp_path: Path, s3: S3Server, remote_url: str
) -> None:
    root = tmp_path / "stages"
    synth.generate(root, STAGES, pivot=[sys.executable, "-m", "pivot"])
    round_trip(TempProject(root), s3, remote_url, STAGES, STAGES, tmp_path)


@pytest.mark.slow
@pytest.mark.s3
def test_a_folder_of_thousands_of_files_runs_skips_pushes_and_pulls(
    tmp_path: Path, s3: S3Server, remote_url: str
) -> None:
    root = tmp_path / "files"
    load_bench.write_files_project(root, FILES, 500, [sys.executable, "-m", "pivot"])
    # every file of the folder, plus the output of the stage that counts them
    round_trip(TempProject(root), s3, remote_url, 2, FILES + 1, tmp_path)
    counted = json.loads((root / "out" / "count.json").read_text())
    assert counted["files"] == FILES
    assert len(list((root / "out" / "files").iterdir())) == FILES // 500


BYTECODE_PIPELINE = """
from typing import Annotated

import pivot
from helpers import THRESHOLD


def train() -> Annotated[dict, pivot.Out("out.json", pivot.loaders.JSON())]:
    return {"threshold": THRESHOLD}


pivot.Pipeline("p").register(train)
"""


def test_bytecode_is_reused_only_for_the_source_on_disk(
    project: TempProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Project modules are compiled once into .pivot/cache/bytecode/ (checked by the hash of
    the source) instead of on every run; __pycache__, which a repository could ship, is never
    trusted."""
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    project.write("pipeline.py", BYTECODE_PIPELINE)
    helpers = project.write("helpers.py", "THRESHOLD = 0.5\n")
    second = (helpers.stat().st_mtime_ns // 10**9 - 10) * 10**9
    os.utime(helpers, ns=(second, second + 100_000_000))
    project.pivot("--no-tui", "run", "-j", "1")
    tag = sys.implementation.cache_tag
    kept = project.root / ".pivot" / "cache" / "bytecode" / f"helpers.py.{tag}.pyc"
    assert kept.is_file() and (kept.parent / f"pipeline.py.{tag}.pyc").is_file()
    assert not (project.root / "__pycache__").exists()

    # a same-size edit within the same second: the kept bytecode is of the old text
    helpers.write_text("THRESHOLD = 0.7\n")
    os.utime(helpers, ns=(second, second + 200_000_000))
    project.pivot("--no-tui", "run", "-j", "1")
    assert json.loads(project.read("out.json")) == {"threshold": 0.7}

    # bytecode in __pycache__ that claims the current source but holds other code: plain
    # Python trusts it, Pivot does not look at it
    planted = importlib.util.cache_from_source(str(helpers))
    os.makedirs(os.path.dirname(planted))
    with open(planted, "wb") as handle:
        handle.write(importlib.util.MAGIC_NUMBER + (0b11).to_bytes(4, "little"))
        handle.write(importlib.util.source_hash(helpers.read_bytes()))
        handle.write(marshal.dumps(compile("THRESHOLD = 0.9\n", str(helpers), "exec")))
    plain = subprocess.run(
        [sys.executable, "-c", "import helpers; print(helpers.THRESHOLD)"],
        cwd=project.root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert plain.stdout.strip() == "0.9"
    project.pivot("--no-tui", "run", "-f", "-j", "1")
    assert json.loads(project.read("out.json")) == {"threshold": 0.7}
