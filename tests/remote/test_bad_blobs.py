"""A local cache blob whose bytes do not match its name is never pulled into the workspace:
`pivot pull` checks every blob it restores, moves a corrupt one out of the way and fetches a
good copy from the remote in the same pull."""

from __future__ import annotations

import os

from pivot.core.project import Project
from pivot.core.store.lock import parse_lock
from tests.helpers import TempProject
from tests.s3_server import S3Server


def test_the_first_pull_heals_corrupt_local_blobs(
    pipeline_project: TempProject, s3: S3Server
) -> None:
    project = pipeline_project
    project.pivot("push")
    clean = parse_lock(project.lock("clean")).out_records()["out/clean.txt"].hash
    part = parse_lock(project.lock("split")).out_records()["out/parts"].files[0]  # type: ignore[index]
    cache = Project(project.root).cache
    good = {digest: cache.blob_path(digest).read_bytes() for digest in (clean, part.hash)}
    for digest, data in good.items():
        blob = cache.blob_path(digest)
        os.chmod(blob, 0o644)
        blob.write_bytes(bytes(b ^ 0x20 for b in data))  # same size, other bytes
    (project.root / "out" / "clean.txt").unlink()
    (project.root / "out" / "parts" / part.path).unlink()

    project.pivot("pull")

    assert (project.root / "out" / "clean.txt").read_bytes() == good[clean]
    assert (project.root / "out" / "parts" / part.path).read_bytes() == good[part.hash]
    for digest, data in good.items():
        assert cache.blob_path(digest).read_bytes() == data
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
