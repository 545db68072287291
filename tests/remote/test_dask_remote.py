"""The Dask executor's remote transport: workers reach data only through the S3 remote.

A real LocalCluster (2 worker processes) and the real SeaweedFS server. The workers get a
scratch folder of their own (``PIVOT_WORKER_SCRATCH``); each stage reports the folder it ran
in, so the tests can tell that it ran there and not in the project.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pivot.core.config import set_value
from tests.cli.test_stage_kinds import GROW
from tests.helpers import TempProject, make_project, pivot_env
from tests.remote.conftest import PIPELINE, cache_files, configure_remote
from tests.s3_server import S3Server

pytest.importorskip("distributed")

WHERE = PIPELINE.replace(
    "    return raw.upper()",
    "    import os\n    print('ran in', os.getcwd(), flush=True)\n    return raw.upper()",
)


def _run(project: TempProject, scratch: Path, *args: str, check: int = 0) -> list[dict[str, Any]]:
    env = pivot_env()
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "0"
    env["PIVOT_WORKER_SCRATCH"] = str(scratch)
    proc = subprocess.run(
        [sys.executable, "-m", "pivot", "--no-tui", "run", "--json", *args],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == check, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _remote_project(root: Path, s3: S3Server, url: str) -> TempProject:
    project = make_project(root)
    configure_remote(project.root, s3, url)
    set_value(project.root, "executor.kind", "dask")
    set_value(project.root, "executor.transport", "remote")
    project.write("pipeline.py", WHERE)
    project.write("data/raw.txt", "alpha\nbeta\ngamma\n")
    return project


def test_remote_transport_matches_the_local_pool(
    tmp_path: Path, s3: S3Server, remote_url: str
) -> None:
    local = make_project(tmp_path / "local")
    local.write("pipeline.py", WHERE)
    local.write("data/raw.txt", "alpha\nbeta\ngamma\n")
    assert local.statuses() == {"clean": "ran", "split": "ran", "count": "ran"}

    project = _remote_project(tmp_path / "remote", s3, remote_url)
    scratch = tmp_path / "scratch"
    events = _run(project, scratch)
    finished = {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}
    assert finished == {"clean": "ran", "split": "ran", "count": "ran"}

    for stage in ("clean", "split", "count"):
        assert project.lock(stage) == local.lock(stage)
    for rel in ("out/clean.txt", "out/parts/line0.txt", "out/parts/line2.txt", "metrics.json"):
        assert project.read(rel) == local.read(rel)

    # The stage ran in the worker's scratch folder, and its log came back as events.
    logs = [e["line"] for e in events if e["event"] == "stage_log" and e["stage"] == "clean"]
    assert len(logs) == 1 and logs[0].startswith("ran in ")
    ran_in = Path(logs[0].removeprefix("ran in "))
    assert ran_in.is_relative_to(scratch / "runs")
    assert not ran_in.exists()  # cleaned up after the stage
    # The worker fetched the source by hash and the outputs went through the remote.
    remote_blobs = _remote_hashes(s3, remote_url)
    local_blobs = {k.replace("/", "") for k in cache_files(project.root)}
    assert local_blobs <= remote_blobs
    worker_blobs = {k.replace("/", "") for k in _files(scratch / "cache" / "files")}
    assert worker_blobs and worker_blobs <= remote_blobs

    again = _run(project, scratch)
    assert {e["status"] for e in again if e["event"] == "stage_finished"} == {"skipped"}


def test_incremental_outputs_travel_to_the_worker(
    tmp_path: Path, s3: S3Server, remote_url: str
) -> None:
    project = _remote_project(tmp_path / "p", s3, remote_url)
    project.write("pipeline.py", GROW)
    scratch = tmp_path / "scratch"
    for n, word in enumerate(["a", "b", "c"], start=1):
        project.write("new.txt", word + "\n")
        events = _run(project, scratch)
        assert {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"} == {
            "grow": "ran",
            "append": "ran",
        }
        rows = [json.loads(line) for line in project.read("db.jsonl").splitlines()]
        assert [r["new"] for r in rows] == ["a", "b", "c"][:n]
        assert project.read("log.txt") == "".join(w + "\n" for w in ["a", "b", "c"][:n])


def test_dead_remote_fails_the_stage_with_one_line(
    tmp_path: Path, s3: S3Server, remote_url: str
) -> None:
    project = _remote_project(tmp_path / "p", s3, remote_url)
    set_value(project.root, "remotes.origin.endpoint_url", "http://127.0.0.1:9")
    events = _run(project, tmp_path / "scratch", check=1)
    clean = next(e for e in events if e["event"] == "stage_finished" and e["stage"] == "clean")
    assert clean["status"] == "failed"
    assert "127.0.0.1:9" in clean["reason"] and "\n" not in clean["reason"]
    assert not (project.root / "out").exists()
    assert not list((project.root / ".pivot" / "stages").glob("*.lock"))


def _files(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]


def _remote_hashes(s3: S3Server, url: str) -> set[str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = s3.client()
    found: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/files/"
    ):
        for item in page.get("Contents", []):
            shard, name = item["Key"].rsplit("/", 2)[-2:]
            found.add(shard + name)
    return found


def test_killed_worker_fails_only_its_stage(tmp_path: Path, s3: S3Server, remote_url: str) -> None:
    from tests.cli.test_dask import KILLER

    project = _remote_project(tmp_path / "p", s3, remote_url)
    project.write("pipeline.py", KILLER)
    events = _run(project, tmp_path / "scratch", "-k", check=1)
    finished = {e["stage"]: e for e in events if e["event"] == "stage_finished"}
    assert finished["dies"]["status"] == "failed"
    assert "worker" in str(finished["dies"]["reason"]).lower()
    assert finished["lives"]["status"] == "ran"
    assert project.read("lives.txt") == "alive"
    assert not (project.root / ".pivot/stages/dies.lock").exists()
