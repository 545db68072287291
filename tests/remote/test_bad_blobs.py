"""A local cache blob whose bytes do not match its name is never pulled into the workspace:
`pivot pull` checks every blob it restores, moves a corrupt one out of the way, and the next
pull fetches a good copy from the remote."""

from __future__ import annotations

import os

from pivot.core.project import Project
from pivot.core.store.lock import parse_lock
from tests.helpers import TempProject
from tests.s3_server import S3Server


def test_pull_never_restores_a_corrupt_local_blob(
    pipeline_project: TempProject, s3: S3Server
) -> None:
    project = pipeline_project
    project.pivot("push")
    digest = parse_lock(project.lock("clean")).out_records()["out/clean.txt"].hash
    blob = Project(project.root).cache.blob_path(digest)
    good = blob.read_bytes()
    garbage = bytes(b ^ 0x20 for b in good)  # same size
    os.chmod(blob, 0o644)
    blob.write_bytes(garbage)
    target = project.root / "out" / "clean.txt"
    target.unlink()

    first = project.pivot("pull", check=1)

    assert (
        "corrupt" in first.stdout + first.stderr and "out/clean.txt" in first.stdout + first.stderr
    )
    assert not target.exists()
    assert not blob.exists()  # moved out of the way, so the next pull fetches it
    project.pivot("pull")
    assert target.read_bytes() == good
    assert blob.read_bytes() == good
    project.pivot("verify")
    assert project.statuses() == {"clean": "skipped", "split": "skipped", "count": "skipped"}


def test_run_re_runs_a_stage_whose_blob_is_corrupt(
    pipeline_project: TempProject,
) -> None:
    """Before any pull, `run` does not trust the corrupt blob either: it runs the stage."""
    project = pipeline_project
    digest = parse_lock(project.lock("clean")).out_records()["out/clean.txt"].hash
    blob = Project(project.root).cache.blob_path(digest)
    good = blob.read_bytes()
    os.chmod(blob, 0o644)
    blob.write_bytes(b"X" * len(good))
    (project.root / "out" / "clean.txt").unlink()

    assert project.statuses() == {"clean": "ran", "split": "skipped", "count": "skipped"}

    assert (project.root / "out" / "clean.txt").read_bytes() == good
    assert blob.read_bytes() == good
