"""A real S3 server (SeaweedFS) that dies, freezes or serves bad bytes in the middle of a
transfer of multi-megabyte blobs: pivot stops with one line and exit 1, nothing bad enters
the local cache, and once the server is back (or repaired) a plain retry completes with
outputs byte-identical to the originals.

The transfers run as subprocesses; each fault is injected when the transfer is seen under
way (the first object on the server, the first blob in the cache), found by polling."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

MB = 1 << 20
PREFIX = "faults"
HANG_GUARD = 120  # seconds; only a pivot that hangs ever reaches it


def _bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _large_outputs(root: Path) -> dict[str, bytes]:
    """Two stages: a folder of six 3 MiB files, and one 20 MiB file (above the 16 MiB limit
    where S3 transfers go multipart and ranged). Returns every output file's bytes."""
    parts = {f"part{i}.bin": _bytes(i, 3 * MB) for i in range(6)}
    record_stage(root, "parts", folder="out/parts", folder_files=parts)
    huge = _bytes(99, 20 * MB)
    record_stage(root, "huge", {"out/huge.bin": huge})
    return {**{f"out/parts/{name}": data for name, data in parts.items()}, "out/huge.bin": huge}


def _start(project: TempProject, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pivot", *args],
        cwd=project.root,
        env=pivot_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _when(condition: Callable[[], bool], proc: subprocess.Popen[str]) -> None:
    """Poll until ``condition`` holds; fail if the transfer ends before it does."""
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the transfer ended before the fault was injected:\n{out}\n{err}")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _out, err = proc.communicate(timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"pivot still running {HANG_GUARD}s after the fault: it hangs")
    return proc.returncode, err


def _remote_objects(client: Any) -> dict[str, bytes]:
    """Every blob under the test's prefix, by key, with its bytes."""
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"{PREFIX}/files/"
    ):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return found


def _assert_remote_sound(client: Any) -> None:
    """No object on the server is partial or wrong: each hashes to its name."""
    for key, data in _remote_objects(client).items():
        shard, name = key.split("/")[-2:]
        assert hash_bytes(data) == shard + name, f"bad object on the server: {key}"


def _any_object(client: Any) -> bool:
    page = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/files/", MaxKeys=1)
    return bool(page.get("KeyCount", 0))


def _any_blob(root: Path) -> bool:
    files = root / ".pivot" / "cache" / "files"
    return files.is_dir() and any(p.is_file() for p in files.rglob("*"))


def _assert_outputs(project: TempProject, expected: dict[str, bytes]) -> None:
    for rel, data in expected.items():
        assert (project.root / rel).read_bytes() == data, rel


def _setup(project: TempProject, server: S3Server) -> dict[str, bytes]:
    configure_remote(project.root, server, f"s3://{BUCKET}/{PREFIX}")
    project.write(".gitignore", "/out/\n")
    return _large_outputs(project.root)


@pytest.mark.slow
def test_server_killed_mid_push_and_mid_pull_then_retries_complete(
    project: TempProject, private_s3: S3Server, tmp_path: Path
) -> None:
    expected = _setup(project, private_s3)
    project.commit_all()
    before = cache_files(project.root)
    client = private_s3.client()

    push = _start(project, "push", "-j", "2")
    _when(lambda: _any_object(client), push)
    private_s3.kill()
    code, stderr = _finish(push)

    assert code == 1, stderr
    assert "remote 'origin'" in one_error_line(stderr)
    assert cache_files(project.root) == before  # a push never touches the local cache
    private_s3.restart()  # same ports, same data folder
    assert 0 < len(_remote_objects(client)) < len(expected), "the kill did not land mid-push"
    _assert_remote_sound(client)

    project.pivot("push")
    _assert_remote_sound(client)
    other = clone(project, tmp_path / "clone")
    pull = _start(other, "pull", "-j", "2")
    _when(lambda: _any_blob(other.root), pull)
    private_s3.kill()
    code, stderr = _finish(pull)

    assert code == 1, stderr
    assert "remote 'origin'" in one_error_line(stderr)
    assert 0 < len(cache_files(other.root)) < len(expected), "the kill did not land mid-pull"
    assert_cache_sound(other.root)
    assert not (other.root / "out").exists()  # nothing restored from a partial fetch
    private_s3.restart()
    other.pivot("pull")
    _assert_outputs(other, expected)
    assert_cache_sound(other.root)


@pytest.mark.slow
def test_paused_server_stops_push_and_pull_after_the_timeout(
    project: TempProject, private_s3: S3Server, tmp_path: Path
) -> None:
    """SIGSTOP: the kernel still accepts connections but nothing answers. Without a bound
    pivot waited for minutes per request; with ``remotes.origin.timeout`` it gives up."""
    expected = _setup(project, private_s3)
    set_value(project.root, "remotes.origin.timeout", "2")
    project.commit_all()
    client = private_s3.client()

    push = _start(project, "push", "-j", "2")
    _when(lambda: _any_object(client), push)
    private_s3.pause()
    code, stderr = _finish(push)
    private_s3.resume()

    assert code == 1, stderr
    line = one_error_line(stderr)
    assert "remote 'origin'" in line and "stopped answering (nothing for 2s)" in line
    assert "pivot config set remotes.origin.timeout" in line
    project.pivot("push")
    _assert_remote_sound(client)

    other = clone(project, tmp_path / "clone")
    pull = _start(other, "pull", "-j", "2")
    _when(lambda: _any_blob(other.root), pull)
    private_s3.pause()
    code, stderr = _finish(pull)
    private_s3.resume()

    assert code == 1, stderr
    assert "stopped answering" in one_error_line(stderr)
    assert_cache_sound(other.root)
    assert not (other.root / "out").exists()
    other.pivot("pull")
    _assert_outputs(other, expected)


def test_corrupt_remote_objects_fail_alone_and_push_force_repairs_them(
    shared: TempProject, s3: S3Server, remote_url: str, tmp_path: Path
) -> None:
    """Objects replaced behind pivot's back: one truncated, one the same length with other
    bytes, one large (multipart, ranged) truncated. Each fails by name; the rest arrive."""
    bad = {
        "out/truncated.bin": _bytes(1, 2 * MB),
        "out/same-length.bin": _bytes(2, 2 * MB),
        "out/large.bin": _bytes(3, 17 * MB),
    }
    good = {"out/good.bin": _bytes(4, 2 * MB)}
    record_stage(shared.root, "bad", bad)
    record_stage(shared.root, "good", good)
    shared.pivot("push")
    shared.commit_all()
    client = s3.client()
    prefix = remote_url.removeprefix(f"s3://{BUCKET}/")

    def key(data: bytes) -> str:
        digest = hash_bytes(data)
        return f"{prefix}/files/{digest[:2]}/{digest[2:]}"

    def replace(data: bytes, body: bytes) -> None:
        client.put_object(Bucket=BUCKET, Key=key(data), Body=body)

    replace(bad["out/truncated.bin"], bad["out/truncated.bin"][: MB + 7])
    same = bad["out/same-length.bin"]
    replace(same, same[:100] + bytes(b ^ 0xFF for b in same[100:200]) + same[200:])
    replace(bad["out/large.bin"], bad["out/large.bin"][: 9 * MB])
    other = clone(shared, tmp_path / "clone")

    for command in ("fetch", "pull"):
        proc = other.pivot(command, check=1)

        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, proc.stderr
        for rel in bad:
            assert any(rel in line and "is corrupt" in line for line in proc.stderr.splitlines())
        assert sorted(cache_files(other.root).values()) == [good["out/good.bin"]]
        assert_cache_sound(other.root)
    _assert_outputs(other, good)
    assert not any((other.root / rel).exists() for rel in bad)

    shared.pivot("push", "--force")

    assert client.get_object(Bucket=BUCKET, Key=key(same))["Body"].read() == same
    other.pivot("pull")
    _assert_outputs(other, {**bad, **good})
    assert_cache_sound(other.root)


def test_push_force_never_publishes_a_corrupt_local_blob(
    shared: TempProject, s3: S3Server, remote_url: str
) -> None:
    """A repair uploads verified bytes only: a corrupt cache blob is replaced by the
    workspace copy (still matching its lock) before it goes up."""
    data = _bytes(5, MB)
    digest = hash_bytes(data)
    record_stage(shared.root, "a", {"out/a.bin": data})
    shared.pivot("push")
    blob = Project(shared.root).cache.blob_path(digest)
    blob.chmod(0o644)
    blob.write_bytes(b"x" * len(data))

    shared.pivot("push", "--force")

    key = f"{remote_url.removeprefix(f's3://{BUCKET}/')}/files/{digest[:2]}/{digest[2:]}"
    assert s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    assert Project(shared.root).cache.verify(digest)  # re-adopted from the workspace


def test_the_timeout_setting_is_checked(project: TempProject, tmp_path: Path) -> None:
    for bad, reason in (("0", "greater than 0"), ("soon", "valid number"), ("true", "number")):
        proc = project.pivot("config", "set", "remotes.origin.timeout", bad, check=2)
        assert reason in one_error_line(proc.stderr)
    (tmp_path / "share").mkdir()
    set_value(project.root, "remotes.origin", str(tmp_path / "share"))
    set_value(project.root, "remotes.origin.timeout", "5")
    record_stage(project.root, "a", {"out/a.txt": b"x"})

    proc = project.pivot("push", check=2)

    line = one_error_line(proc.stderr)
    assert "is a folder" in line and "pivot config unset remotes.origin.timeout" in line
