"""What goes wrong with a remote, and that it goes wrong safely: one line, exit 1, and a local
cache that holds only verified blobs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pivot.core.config import set_value
from pivot.core.project import Project
from pivot.core.store.hashing import hash_bytes
from tests.helpers import TempProject, pivot_env
from tests.remote.conftest import (
    assert_cache_sound,
    cache_files,
    clone,
    configure_remote,
    one_error_line,
    record_stage,
)
from tests.s3_server import BUCKET, S3Server


def test_corrupted_remote_object_is_rejected(
    shared: TempProject, s3: S3Server, remote_url: str, tmp_path: Path
) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"the real bytes"})
    record_stage(shared.root, "b", {"out/b.txt": b"fine"})
    shared.pivot("push")
    shared.commit_all()
    digest = hash_bytes(b"the real bytes")
    key = f"{remote_url.removeprefix(f's3://{BUCKET}/')}/files/{digest[:2]}/{digest[2:]}"
    s3.client().put_object(Bucket=BUCKET, Key=key, Body=b"tampered bytes")
    other = clone(shared, tmp_path / "clone")

    proc = other.pivot("pull", check=1)

    assert "corrupt" in proc.stderr and "out/a.txt" in proc.stderr
    assert (
        proc.stderr.strip().splitlines()[-1].startswith("error: 1 output file could not be pulled")
    )
    assert not Project(other.root).cache.has(digest)
    assert list(cache_files(other.root).values()) == [b"fine"]
    assert_cache_sound(other.root)
    assert not (other.root / "out" / "a.txt").exists()
    assert other.read("out/b.txt") == "fine"  # the rest is still restored


def test_object_missing_on_the_remote(
    shared: TempProject, s3: S3Server, remote_url: str, tmp_path: Path
) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"vanishes"})
    shared.pivot("push")
    shared.commit_all()
    digest = hash_bytes(b"vanishes")
    s3.client().delete_object(
        Bucket=BUCKET,
        Key=f"{remote_url.removeprefix(f's3://{BUCKET}/')}/files/{digest[:2]}/{digest[2:]}",
    )
    other = clone(shared, tmp_path / "clone")

    proc = other.pivot("fetch", check=1)

    assert "missing: out/a.txt" in proc.stderr and "not on remote 'origin'" in proc.stderr
    assert cache_files(other.root) == {}


def test_dead_endpoint_fails_fast_with_one_line(project: TempProject, s3: S3Server) -> None:
    record_stage(project.root, "a", {"out/a.txt": b"local"})
    set_value(project.root, "remotes.origin", f"s3://{BUCKET}/dead")
    set_value(project.root, "remotes.origin.endpoint_url", "http://127.0.0.1:9")  # nothing listens
    before = cache_files(project.root)

    for command in ("push", "fetch", "pull"):
        if command == "fetch":  # give fetch work to do
            Project(project.root).cache.quarantine(hash_bytes(b"local"))
        if command == "pull":  # and pull
            (project.root / "out" / "a.txt").unlink()
        started = time.monotonic()
        proc = project.pivot(command, check=1)
        assert time.monotonic() - started < 15
        line = one_error_line(proc.stderr)
        assert "cannot reach remote 'origin'" in line and "connection refused" in line
        assert "remotes.origin.endpoint_url" in line
        if command == "push":
            assert cache_files(project.root) == before
    assert cache_files(project.root) == {}
    assert_cache_sound(project.root)


def test_wrong_credentials(shared: TempProject, monkeypatch: pytest.MonkeyPatch) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"secret"})
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")

    proc = shared.pivot("push", check=1)

    line = one_error_line(proc.stderr)
    assert "refused the request (SignatureDoesNotMatch)" in line and "AWS_SECRET_ACCESS_KEY" in line


def test_no_credentials_at_all(shared: TempProject, monkeypatch: pytest.MonkeyPatch) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"secret"})
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    proc = shared.pivot("push", check=1)

    assert "no usable AWS credentials" in one_error_line(proc.stderr)


def test_missing_bucket(project: TempProject, s3: S3Server) -> None:
    record_stage(project.root, "a", {"out/a.txt": b"x"})
    configure_remote(project.root, s3, "s3://no-such-bucket/p")

    proc = project.pivot("push", check=1)

    assert "bucket 'no-such-bucket' does not exist" in one_error_line(proc.stderr)


def test_no_remote_configured_is_a_config_error(project: TempProject) -> None:
    record_stage(project.root, "a", {"out/a.txt": b"x"})

    proc = project.pivot("push", check=2)

    line = one_error_line(proc.stderr)
    assert "no remote is configured" in line and "pivot config set remotes.origin" in line


def test_unknown_remote_name(project: TempProject, s3: S3Server) -> None:
    configure_remote(project.root, s3, f"s3://{BUCKET}/x")

    proc = project.pivot("fetch", "-r", "backup", check=2)

    assert "remote 'backup' is not configured (remotes: origin)" in one_error_line(proc.stderr)


# -- a server that dies mid-transfer ---------------------------------------------------------


def _many_files(count: int) -> dict[str, bytes]:
    return {f"f{i:05d}.bin": f"file {i} ".encode() * 200 for i in range(count)}


def _start(project: TempProject, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pivot", *args],
        cwd=project.root,
        env=pivot_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "transfer did not start"
        time.sleep(0.005)


@pytest.mark.slow
def test_server_killed_during_pull(
    project: TempProject, private_s3: S3Server, tmp_path: Path
) -> None:
    configure_remote(project.root, private_s3, f"s3://{BUCKET}/kill")
    project.write(".gitignore", "/out/\n")
    record_stage(project.root, "many", folder="out/many", folder_files=_many_files(1500))
    project.pivot("push")
    project.commit_all()
    other = clone(project, tmp_path / "clone")
    blobs = other.root / ".pivot" / "cache" / "files"

    proc = _start(other, "pull", "-j", "2")
    _wait_for(lambda: blobs.is_dir() and any(p.is_file() for p in blobs.rglob("*")))
    private_s3.kill()
    killed = time.monotonic()
    _stdout, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 1, stderr
    assert "cannot reach remote 'origin'" in one_error_line(stderr)
    assert time.monotonic() - killed < 20, "a dead server must fail the pull in seconds"
    fetched = cache_files(other.root)
    assert 0 < len(fetched) < 1500  # it really stopped mid-way
    assert_cache_sound(other.root)
    assert not (other.root / "out").exists()  # nothing restored from a partial fetch


@pytest.mark.slow
def test_server_killed_during_push(project: TempProject, private_s3: S3Server) -> None:
    configure_remote(project.root, private_s3, f"s3://{BUCKET}/kill")
    record_stage(project.root, "many", folder="out/many", folder_files=_many_files(1500))
    before = cache_files(project.root)
    client = private_s3.client()

    proc = _start(project, "push", "-j", "2")
    _wait_for(
        lambda: (
            client.list_objects_v2(Bucket=BUCKET, Prefix="kill/", MaxKeys=1).get("KeyCount", 0) > 0
        )
    )
    private_s3.kill()
    killed = time.monotonic()
    _stdout, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 1, stderr
    assert "cannot reach remote 'origin'" in one_error_line(stderr)
    assert time.monotonic() - killed < 20, "a dead server must fail the push in seconds"
    assert cache_files(project.root) == before  # the local cache is untouched
