"""`pivot verify` (local and --remote) and the `remote_status` rows behind `status --remote`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pivot.core import remote
from pivot.core.project import Project
from tests.helpers import TempProject
from tests.remote.conftest import clone, record_stage
from tests.s3_server import BUCKET, S3Server


def test_verify_passes_after_a_run(pipeline_project: TempProject) -> None:
    proc = pipeline_project.pivot("verify")
    assert "every stage has a lock" in proc.stdout


def test_verify_lists_every_local_problem(pipeline_project: TempProject) -> None:
    project = Project(pipeline_project.root)
    (pipeline_project.root / ".pivot" / "stages" / "count.lock").unlink()
    clean_lock = project.locks.read("clean")
    assert clean_lock is not None
    blob = project.cache.blob_path(clean_lock.outs[0].hash)
    os.chmod(blob, 0o644)
    blob.write_text("rotten")
    split_lock = project.locks.read("split")
    assert split_lock is not None and split_lock.outs[0].files is not None
    project.cache.quarantine(split_lock.outs[0].files[0].hash)
    pipeline_project.write("out/parts/line2.txt", "edited")

    proc = pipeline_project.pivot("verify", check=1)

    lines = proc.stdout.splitlines()
    assert any(line.startswith("count: no lock file") for line in lines)
    assert any(
        line.startswith("clean: out/clean.txt: blob") and "corrupt in the local cache" in line
        for line in lines
    )
    assert any(
        line.startswith("split: out/parts/line0.txt: blob")
        and "missing from the local cache" in line
        for line in lines
    )
    assert any(line.startswith("split: out/parts: differs from its lock") for line in lines)
    assert len(lines) == 4, proc.stdout
    assert proc.stderr.strip() == "error: verify found 4 problems (listed above)"


def test_verify_ignores_the_cache_for_uncached_outputs(pipeline_project: TempProject) -> None:
    # metrics.json is a Metric: kept in git, never in the cache; only the workspace counts
    pipeline_project.write("metrics.json", '{"parts": 99}')

    proc = pipeline_project.pivot("verify", "--json", check=1)

    problems = json.loads(proc.stdout)["problems"]
    assert [(p["stage"], p["path"]) for p in problems] == [("count", "metrics.json")]
    assert "differs from its lock" in problems[0]["problem"]


def test_verify_remote_is_a_ci_gate(
    pipeline_project: TempProject, s3: S3Server, remote_url: str
) -> None:
    before = pipeline_project.pivot("verify", "--remote", check=1)
    assert "not pushed" in before.stdout and "out/clean.txt" in before.stdout
    assert before.stderr.strip().startswith("error: 3 outputs (5 files) not on the remote")

    pipeline_project.pivot("push")
    pipeline_project.pivot("verify", "--remote")

    # the index remembers what was pushed, but verify asks the server itself
    lock = Project(pipeline_project.root).locks.read("clean")
    assert lock is not None
    digest = lock.outs[0].hash
    s3.client().delete_object(
        Bucket=BUCKET,
        Key=f"{remote_url.removeprefix(f's3://{BUCKET}/')}/files/{digest[:2]}/{digest[2:]}",
    )
    after = pipeline_project.pivot("verify", "--remote", check=1)
    assert "out/clean.txt" in after.stdout and "out/parts" not in after.stdout


def test_remote_status_rows(shared: TempProject, tmp_path: Path) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"pushed"})
    record_stage(shared.root, "b", folder="out/dir", folder_files={"1": b"one", "2": b"two"})
    project = Project(shared.root)

    rows = remote.remote_status(project)
    assert [
        (r.stage, r.path, r.status, r.blobs, r.missing_local, r.missing_remote) for r in rows
    ] == [
        ("a", "out/a.txt", "not pushed", 1, 0, 1),
        ("b", "out/dir", "not pushed", 2, 0, 2),
    ]

    shared.pivot("push", "a")
    shared.commit_all()
    other = clone(shared, tmp_path / "clone")
    rows = remote.remote_status(Project(other.root))
    assert [(r.path, r.status) for r in rows] == [
        ("out/a.txt", "not pulled"),
        ("out/dir", "missing"),
    ]
    assert rows[0].to_dict()["status"] == "not pulled"
    assert [r.path for r in remote.remote_status(Project(other.root), ["b"])] == ["out/dir"]

    rows = remote.remote_status(project)
    assert [(r.path, r.status) for r in rows] == [("out/a.txt", "ok"), ("out/dir", "not pushed")]


def test_status_remote_through_the_cli(pipeline_project: TempProject, tmp_path: Path) -> None:
    before = pipeline_project.pivot("--no-tui", "status", "--remote")
    assert "not pushed" in before.stdout
    assert "not in sync with the remote" in before.stdout
    pipeline_project.pivot("push")
    data = json.loads(pipeline_project.pivot("status", "--json", "--remote").stdout)
    assert data["remote"] and {row["status"] for row in data["remote"]} == {"ok"}
    assert {row["status"] for row in data["stages"]} == {"cached"}
    pipeline_project.commit_all()
    other = clone(pipeline_project, tmp_path / "clone")
    after = other.pivot("--no-tui", "status", "--remote", "origin")
    assert "not pulled" in after.stdout
