"""Races between `pivot run` and push / pull / fetch, against the real S3 server.

push and fetch do not take the run lock (push only reads; fetch only adds blobs to the cache,
each verified before it is renamed in); pull writes the workspace, so it holds the lock and
refuses with one line while a run holds it (and a run refuses, or waits, while a pull does).
Whatever the ordering, afterwards the project is consistent (see
``tests/reliability/test_races.py``) and every object on the remote hashes to its name.
"""

from __future__ import annotations

import random
import stat
from pathlib import Path

import pytest

from pivot.core.project import Project
from pivot.core.store.hashing import hash_bytes
from pivot.core.store.lock import parse_lock
from tests.helpers import TempProject
from tests.reliability.test_races import (
    SLOW,
    assert_all_skipped,
    assert_consistent,
    assert_refused,
    finish,
    race,
    rng,
    start,
    wait_for_file,
)
from tests.s3_server import BUCKET, S3Server

__all__ = ["rng"]

STAGES = ("clean", "split", "count")
UNCACHED = ("metrics.json",)  # a Metric: not in the cache


def _assert_remote_blobs_match_names(server: S3Server, url: str) -> int:
    """Download every object under the remote's files/ prefix; each must hash to its key."""
    prefix = url.removeprefix(f"s3://{BUCKET}/") + "/files/"
    client = server.client()
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            digest = item["Key"][len(prefix) :].replace("/", "")
            body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            assert hash_bytes(body) == digest, f"remote object {item['Key']} is corrupt"
            count += 1
    return count


def _new_raw(project: TempProject, rng: random.Random, round_: int) -> None:
    # Always three lines: the uncached metric (a count of lines) keeps its bytes, so a push
    # running beside the run always finds it in the workspace.
    project.write("data/raw.txt", "".join(f"r{round_}-{rng.randrange(1000)}\n" for _ in range(3)))


def test_run_and_push_at_once(
    pipeline_project: TempProject, s3: S3Server, remote_url: str, rng: random.Random
) -> None:
    project = pipeline_project
    for round_ in range(3):
        _new_raw(project, rng, round_)
        run, push = ("--no-tui", "run"), ("push",)
        first, second = (run, push) if rng.random() < 0.5 else (push, run)
        results = dict(
            zip((first, second), race(project, first, second, rng.uniform(0, 0.6)), strict=True)
        )
        assert results[run][0] == 0, results[run]
        assert results[push][0] == 0, results[push]
        assert_consistent(project.root, stages=STAGES, uncached=UNCACHED)
        assert _assert_remote_blobs_match_names(s3, remote_url) > 0
    assert_all_skipped(project, STAGES)
    project.pivot("push")
    project.pivot("verify", "--remote")
    _assert_remote_blobs_match_names(s3, remote_url)


def test_run_and_pull_at_once(
    pipeline_project: TempProject, s3: S3Server, remote_url: str, rng: random.Random
) -> None:
    project = pipeline_project
    project.pivot("push")
    for round_ in range(3):
        _new_raw(project, rng, round_)
        (project.root / "out" / "clean.txt").unlink()  # work for pull too
        (project.root / "out" / "parts" / "line0.txt").unlink()
        wait = ("--wait",) if round_ == 2 else ()
        run, pull = ("--no-tui", "run", *wait), ("pull",)
        first, second = (run, pull) if rng.random() < 0.5 else (pull, run)
        results = dict(
            zip((first, second), race(project, first, second, rng.uniform(0, 0.6)), strict=True)
        )
        if results[pull][0] != 0:
            assert_refused(results[pull], "pull", holder="run")
        if results[run][0] != 0:
            assert not wait
            assert_refused(results[run], "run", holder="pull")
            project.pivot("--no-tui", "run")
        assert_consistent(project.root, stages=STAGES, uncached=UNCACHED)
        assert_all_skipped(project, STAGES)
        project.pivot("push")
        _assert_remote_blobs_match_names(s3, remote_url)
    project.pivot("verify")


def test_run_and_fetch_at_once(
    pipeline_project: TempProject, s3: S3Server, remote_url: str, rng: random.Random
) -> None:
    project = pipeline_project
    pivot_project = Project(project.root)
    for round_ in range(3):
        project.pivot("push")
        # Drop the current blobs from the cache so fetch has work while the run makes new ones.
        for lock_file in sorted((project.root / ".pivot" / "stages").glob("*.lock")):
            for out in parse_lock(lock_file.read_text()).outs:
                for digest in out.blob_hashes():
                    blob = pivot_project.cache.blob_path(digest)
                    if blob.exists():
                        blob.chmod(stat.S_IRUSR | stat.S_IWUSR)
                        blob.unlink()
        _new_raw(project, rng, round_)
        run, fetch = ("--no-tui", "run"), ("fetch",)
        first, second = (run, fetch) if rng.random() < 0.5 else (fetch, run)
        results = dict(
            zip((first, second), race(project, first, second, rng.uniform(0, 0.6)), strict=True)
        )
        assert results[run][0] == 0, results[run]
        assert results[fetch][0] == 0, results[fetch]
        assert_consistent(project.root, stages=STAGES, uncached=UNCACHED)
        cache = project.root / ".pivot" / "cache" / "files"
        for blob in cache.rglob("*"):
            if blob.is_file():
                digest = blob.parent.name + blob.name
                assert pivot_project.cache.verify(digest), f"corrupt blob {digest} in the cache"
    assert_all_skipped(project, STAGES)
    _assert_remote_blobs_match_names(s3, remote_url)


def test_pull_refuses_while_a_run_holds_the_lock_and_push_goes_ahead(
    shared: TempProject,
    s3: S3Server,
    remote_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deterministic: a run is inside a slow stage; pull stops with one line, push and fetch
    (which never write the workspace) complete."""
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("RACE_MARKS", str(marks))
    shared.write("pipeline.py", SLOW)
    shared.write("raw.txt", "abc")
    shared.pivot("--no-tui", "run")
    shared.pivot("push")
    shared.write("raw.txt", "abcd")
    for mark in marks.iterdir():
        mark.unlink()
    running = start(shared, "--no-tui", "run")
    wait_for_file(marks)

    assert_refused(finish(start(shared, "pull")), "pull", holder="run")
    assert finish(start(shared, "push"))[0] == 0
    assert finish(start(shared, "fetch"))[0] == 0

    code, out, err = finish(running)
    assert code == 0, (out, err)
    assert shared.read("slow.txt") == "dcba"
    shared.pivot("pull")
    assert_consistent(shared.root, stages=("slow",))
    assert_all_skipped(shared, ("slow",))
    shared.pivot("push")
    assert _assert_remote_blobs_match_names(s3, remote_url) == 2
