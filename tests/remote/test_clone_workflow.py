"""The point of a remote: run once, push, and every fresh clone pulls instead of re-running."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import TempProject
from tests.remote.conftest import clone


def test_fresh_clone_pull_then_run_skips_every_stage(
    pipeline_project: TempProject, tmp_path: Path
) -> None:
    pipeline_project.pivot("push")
    pipeline_project.commit_all("pipeline, locks, remote config")
    other = clone(pipeline_project, tmp_path / "clone")
    assert not (other.root / "out").exists()  # outputs are not in git

    other.pivot("pull")

    assert other.read("out/clean.txt") == "ALPHA\nBETA\nGAMMA\n"
    assert sorted(p.name for p in (other.root / "out" / "parts").iterdir()) == [
        "line0.txt",
        "line1.txt",
        "line2.txt",
    ]
    assert other.statuses() == {"clean": "skipped", "split": "skipped", "count": "skipped"}
    assert {row["status"] for row in other.status_json().values()} == {"cached"}
    other.pivot("verify")
    other.pivot("verify", "--remote")


def test_clone_pulls_one_stage_and_runs_the_rest(
    pipeline_project: TempProject, tmp_path: Path
) -> None:
    pipeline_project.pivot("push")
    pipeline_project.commit_all()
    other = clone(pipeline_project, tmp_path / "clone")

    other.pivot("pull", "clean")

    assert other.read("out/clean.txt") == "ALPHA\nBETA\nGAMMA\n"
    assert not (other.root / "out" / "parts").exists()
    statuses = other.statuses()
    assert statuses["clean"] == "skipped"
    assert statuses["split"] == "ran"  # its folder was neither pulled nor in the cache


def test_push_after_a_rerun_sends_only_new_blobs(pipeline_project: TempProject) -> None:
    first = pipeline_project.pivot("push", "--json")
    pipeline_project.write("data/raw.txt", "alpha\nbeta\ngamma\ndelta\n")
    pipeline_project.statuses()

    proc = pipeline_project.pivot("push")

    # new: clean.txt, line3.txt, metrics.json; line0-2 are unchanged and already there
    assert "3 files" in proc.stdout, proc.stdout
    assert first.returncode == 0


def test_a_clone_restores_an_earlier_run_from_the_s3_remote(
    pipeline_project: TempProject, tmp_path: Path
) -> None:
    """The first machine ran two versions of the data and pushed both; a fresh clone that
    goes back to the first version restores its results from the remote instead of running."""
    pipeline_project.pivot("push")
    first_version = pipeline_project.read("data/raw.txt")
    pipeline_project.write("data/raw.txt", "alpha\nbeta\ngamma\ndelta\n")
    pipeline_project.statuses()
    pipeline_project.pivot("push")
    pipeline_project.commit_all("second version of the data")
    other = clone(pipeline_project, tmp_path / "clone")
    other.pivot("pull")

    other.write("data/raw.txt", first_version)
    finished = {
        e["stage"]: (e["status"], e["reason"])
        for e in other.run_events()
        if e["event"] == "stage_finished"
    }
    assert finished["clean"] == (
        "restored",
        "restored from an earlier run (deps changed: data/raw.txt)",
    )
    assert {status for status, _ in finished.values()} == {"restored"}
    assert other.read("out/clean.txt") == "ALPHA\nBETA\nGAMMA\n"
    other.pivot("verify")


def test_gc_on_the_s3_remote_keeps_what_recent_commits_need(
    pipeline_project: TempProject,
) -> None:
    pipeline_project.pivot("push")
    pipeline_project.commit_all("first")
    pipeline_project.write("data/raw.txt", "one\n")
    pipeline_project.statuses()
    pipeline_project.pivot("push")
    pipeline_project.commit_all("second")
    dry = pipeline_project.pivot("gc", "--keep-commits", "1", "--remote", "-n").stdout
    assert "would remove 0 blobs" not in dry.splitlines()[-1]
    pipeline_project.pivot("gc", "--keep-commits", "1", "--remote")
    again = pipeline_project.pivot("gc", "--keep-commits", "1", "--remote", "-n").stdout
    assert "would remove 0 blobs" in again.splitlines()[-1]
    pipeline_project.pivot("verify", "--remote")  # what HEAD needs is all still there
