"""The run cache: a stage whose inputs match an earlier run is restored, not run; `pivot gc`
bounds what is kept."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import yaml

from tests.helpers import TempProject, pivot_env

PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders

class TrainParams(pivot.StageParams):
    lr: float = 0.1

def train(params: TrainParams) -> Annotated[dict, pivot.Out("model.json", loaders.JSON())]:
    print("training")
    return {"lr": params.lr}

def evaluate(
    model: Annotated[dict, pivot.Dep("model.json", loaders.JSON())],
) -> Annotated[dict, pivot.Metric("metrics.json")]:
    return {"score": model["lr"] * 2}

pipeline = pivot.Pipeline("p")
pipeline.register(train)
pipeline.register(evaluate)
"""


def _set_lr(project: TempProject, lr: float | None) -> None:
    params = project.root / "params.yaml"
    if lr is None:
        params.unlink(missing_ok=True)
    else:
        params.write_text(f"train:\n  lr: {lr}\n")


def _finished(project: TempProject, *args: str) -> dict[str, tuple[str, str]]:
    return {
        e["stage"]: (e["status"], e["reason"])
        for e in project.run_events(*args)
        if e["event"] == "stage_finished"
    }


def test_reverting_a_param_after_two_runs_executes_nothing(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE)
    assert project.statuses() == {"train": "ran", "evaluate": "ran"}
    first_locks = {s: project.lock(s) for s in ("train", "evaluate")}
    _set_lr(project, 0.2)
    assert project.statuses() == {"train": "ran", "evaluate": "ran"}
    assert json.loads(project.read("metrics.json")) == {"score": 0.4}

    _set_lr(project, None)
    status = project.status_json()
    assert status["train"]["status"] == "cached"
    assert status["train"]["reason"] == "restored from an earlier run (params changed: lr)"
    finished = _finished(project)
    assert finished == {
        "train": ("restored", "restored from an earlier run (params changed: lr)"),
        "evaluate": ("restored", "restored from an earlier run (deps changed: model.json)"),
    }
    assert json.loads(project.read("model.json")) == {"lr": 0.1}
    assert json.loads(project.read("metrics.json")) == {"score": 0.2}  # a Metric, too
    # The locks are those of the first run plus one line saying where the outputs came from.
    for stage, first in first_locks.items():
        restored = yaml.safe_load(project.lock(stage))
        assert restored.pop("origin") == "restored from an earlier run"
        assert restored == yaml.safe_load(first)
    assert "origin: restored from an earlier run\n" in project.read(".pivot/stages/train.lock")
    assert project.statuses() == {"train": "skipped", "evaluate": "skipped"}
    explained = project.pivot("explain", "train").stdout
    assert "up to date; restored from an earlier run by run " in explained
    # Running it for real drops the line again.
    assert _finished(project, "-f", "train")["train"][0] == "ran"
    assert project.lock("train") == first_locks["train"]
    assert "restored" not in project.pivot("explain", "train").stdout


def test_forced_incremental_and_uncached_stages_are_not_restored(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        PIPELINE
        + """
def grow(
    model: Annotated[dict, pivot.Dep("model.json", loaders.JSON())],
    previous: Annotated[list, pivot.IncrementalOut("log.json", loaders.JSON())],
) -> Annotated[list, pivot.IncrementalOut("log.json", loaders.JSON())]:
    return [*(previous or []), model["lr"]]

pipeline.register(grow)
""",
    )
    project.statuses()
    _set_lr(project, 0.2)
    project.statuses()
    _set_lr(project, None)
    assert _finished(project, "-f", "train")["train"][0] == "ran"  # forced: always runs
    # Incremental: its result depends on its history, not only on its inputs.
    assert _finished(project)["grow"][0] == "ran"
    assert json.loads(project.read("log.json")) == [0.1, 0.2, 0.1]


def test_gc_keeps_what_recent_commits_refer_to(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE)
    project.statuses()
    _commit(project, "lr 0.1")
    _set_lr(project, 0.2)
    project.statuses()
    _commit(project, "lr 0.2")
    _set_lr(project, 0.3)
    project.statuses()  # not committed: the workspace still counts

    blobs = _blobs(project.root)
    dry = json.loads(project.pivot("gc", "-n", "--json").stdout)
    assert dry["local"]["removed"] == 0 and dry["local"]["dry_run"] is True
    # Keeping one commit: lr 0.1's results go (its commit and its runs are older), lr 0.2's
    # (HEAD) and lr 0.3's (workspace) stay.
    out = project.pivot("gc", "--keep-commits", "1").stdout
    assert "keeping what the workspace and the last commit of HEAD refer to" in out
    assert "local cache: removed 2 blobs" in out
    assert len(_blobs(project.root)) == len(blobs) - 2
    _set_lr(project, 0.2)
    assert {s for s, _ in _finished(project).values()} == {"restored"}
    _set_lr(project, None)  # lr 0.1: its run-cache entry and blobs are gone
    assert {s for s, _ in _finished(project).values()} == {"ran"}
    assert project.pivot("gc", "-n").stdout.count("would remove 0 blobs") == 1


def test_gc_on_a_folder_remote_removes_what_nothing_refers_to(
    project: TempProject, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    project.pivot("config", "set", "remotes.origin", str(remote))
    project.write("pipeline.py", PIPELINE)
    project.statuses()
    project.pivot("push")
    _commit(project, "lr 0.1")
    _set_lr(project, 0.2)
    project.statuses()
    project.pivot("push")
    _commit(project, "lr 0.2")
    assert len(_blobs(remote)) == 4

    dry = project.pivot("gc", "--keep-commits", "1", "--remote", "-n").stdout
    assert "would remove 2 blobs, 2 kept" in dry and len(_blobs(remote)) == 4
    project.pivot("gc", "--keep-commits", "1", "--remote")
    assert len(_blobs(remote)) == 2
    # The index of hashes known on the remote forgot the removed ones: after going back to
    # lr 0.1 and running, push uploads them again.
    project.git("checkout", "-q", "HEAD~1")
    project.statuses()
    assert "2 files" in project.pivot("push").stdout
    assert len(_blobs(remote)) == 4


def _commit(project: TempProject, message: str) -> None:
    """Commit in a second of its own: gc compares run-cache entries with commit times, which
    git keeps to the second (an entry of the commit's own second is kept)."""
    time.sleep(1.1)
    project.commit_all(message)
    time.sleep(1.1)


def _blobs(cache_root: Path) -> list[Path]:
    files = cache_root / ".pivot" / "cache" / "files"
    if not files.is_dir():
        files = cache_root / "files"
    return [p for p in files.rglob("*") if p.is_file()]


def test_a_fresh_clone_restores_an_earlier_run_pushed_to_the_remote(
    project: TempProject, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    project.pivot("config", "set", "remotes.origin", str(remote))
    project.write("pipeline.py", PIPELINE)
    project.statuses()
    project.pivot("push")
    _set_lr(project, 0.2)
    project.statuses()
    project.pivot("push")
    project.commit_all("lr 0.2")
    assert len(list((remote / "runs").rglob("*"))) > 0

    clone = TempProject(tmp_path / "clone")
    subprocess.run(
        ["git", "clone", "-q", str(project.root), str(clone.root)], check=True, env=pivot_env()
    )
    clone.pivot("pull")
    _set_lr(clone, None)  # back to lr 0.1: only the first machine ever ran it
    finished = _finished(clone)
    assert finished["train"] == ("restored", "restored from an earlier run (params changed: lr)")
    assert finished["evaluate"][0] == "restored"
    assert json.loads(clone.read("metrics.json")) == {"score": 0.2}
    assert clone.pivot("status", "--json").returncode == 0

    # A remote that is gone: the stage runs, and the run says once why nothing was looked up.
    clone.pivot("config", "set", "remotes.origin", str(tmp_path / "gone"))
    _set_lr(clone, 0.3)
    events = clone.run_events()
    statuses = {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}
    assert statuses == {"train": "ran", "evaluate": "ran"}
    warnings = [e["text"] for e in events if e["event"] == "message"]
    assert len(warnings) == 1 and "earlier runs on the remote were not looked up" in warnings[0]
