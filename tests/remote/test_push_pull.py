"""push, fetch and pull through the CLI against a real S3 server."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pivot.core.project import Project
from pivot.core.store.hashing import hash_bytes
from tests.helpers import TempProject
from tests.remote.conftest import cache_files, clone, record_stage
from tests.s3_server import BUCKET, S3Server


def _remote_keys(server: S3Server, url: str) -> set[str]:
    prefix = url.removeprefix(f"s3://{BUCKET}/")
    client = server.client()
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=prefix + "/"
    ):
        keys.update(item["Key"][len(prefix) + 1 :] for item in page.get("Contents", []))
    return keys


def _blob_keys(server: S3Server, url: str) -> set[str]:
    return {key for key in _remote_keys(server, url) if key.startswith("files/")}


def _run_entries(server: S3Server, url: str) -> int:
    """How many run-cache entries the remote holds (one per pushed stage run)."""
    return sum(key.startswith("runs/") for key in _remote_keys(server, url))


def _blob_key(data: bytes) -> str:
    digest = hash_bytes(data)
    return f"files/{digest[:2]}/{digest[2:]}"


def _push_json(project: TempProject, *args: str, check: int = 0) -> dict:
    return json.loads(project.pivot("push", "--json", *args, check=check).stdout)


def test_push_uploads_every_blob_in_the_cache_layout(
    shared: TempProject, s3: S3Server, remote_url: str
) -> None:
    record_stage(shared.root, "clean", {"out/clean.csv": b"a,b\n1,2\n"})
    record_stage(
        shared.root,
        "split",
        folder="out/parts",
        folder_files={"p0.txt": b"zero", "sub/p1.txt": b"one"},
    )

    proc = shared.pivot("push")

    assert "3 files" in proc.stdout and "pushed" in proc.stdout
    assert _blob_keys(s3, remote_url) == {
        _blob_key(b"a,b\n1,2\n"),
        _blob_key(b"zero"),
        _blob_key(b"one"),
    }
    assert _run_entries(s3, remote_url) == 2  # one run-cache entry per stage
    body = s3.client().get_object(
        Bucket=BUCKET, Key=remote_url.removeprefix(f"s3://{BUCKET}/") + "/" + _blob_key(b"zero")
    )
    assert body["Body"].read() == b"zero"


def test_second_push_skips_everything(shared: TempProject) -> None:
    record_stage(shared.root, "clean", {"out/a.txt": b"a", "out/b.txt": b"b"})
    first = _push_json(shared)
    assert len(first["transferred"]) == 2 and first["present"] == 0

    second = _push_json(shared)

    assert second["transferred"] == [] and second["present"] == 2 == second["blobs"]


def test_push_of_named_stages_only(shared: TempProject, s3: S3Server, remote_url: str) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"from a"})
    record_stage(shared.root, "b", {"out/b.txt": b"from b"})

    shared.pivot("push", "a")

    assert _blob_keys(s3, remote_url) == {_blob_key(b"from a")}
    assert _run_entries(s3, remote_url) == 1  # a's run, shareable; b's stays local


def test_push_dry_run_uploads_nothing(shared: TempProject, s3: S3Server, remote_url: str) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"from a"})

    proc = shared.pivot("push", "--dry-run")

    assert "out/a.txt" in proc.stdout and "would be pushed" in proc.stdout
    assert _remote_keys(s3, remote_url) == set()


def test_push_takes_uncached_outputs_from_the_workspace(
    shared: TempProject, s3: S3Server, remote_url: str
) -> None:
    # Metrics are kept out of the cache; their lock still names them, so push sends the
    # workspace file (after checking its hash) and `verify --remote` can pass.
    record_stage(shared.root, "score", {"metrics.json": b'{"mse": 0.5}'}, cached=False)

    shared.pivot("push")

    assert _blob_keys(s3, remote_url) == {_blob_key(b'{"mse": 0.5}')}
    assert _run_entries(s3, remote_url) == 1
    shared.pivot("verify", "--remote")


def test_push_reports_blobs_that_exist_nowhere(shared: TempProject) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"kept"})
    record_stage(shared.root, "b", {"out/b.txt": b"lost"}, cached=False)
    (shared.root / "out" / "b.txt").write_bytes(b"edited since")

    proc = shared.pivot("push", check=1)

    assert "out/b.txt" in proc.stderr
    assert (
        proc.stderr.strip().splitlines()[-1].startswith("error: 1 of 2 blobs could not be pushed")
    )
    assert _push_json(shared, check=1)["present"] == 1  # the good blob went up anyway


def test_push_never_publishes_a_corrupt_cache_blob(
    shared: TempProject, s3: S3Server, remote_url: str
) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"good bytes"}, cached=False)
    project = Project(shared.root)
    blob = project.cache.blob_path(hash_bytes(b"good bytes"))
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(b"rotten bytes")

    shared.pivot("push")

    key = remote_url.removeprefix(f"s3://{BUCKET}/") + "/" + _blob_key(b"good bytes")
    assert s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"good bytes"
    assert project.cache.verify(hash_bytes(b"good bytes"))  # healed from the workspace


def test_fresh_clone_pull_restores_files_and_folders(shared: TempProject, tmp_path: Path) -> None:
    record_stage(shared.root, "clean", {"out/clean.csv": b"x,y\n1,2\n"})
    record_stage(
        shared.root,
        "split",
        folder="out/parts",
        folder_files={"p0.txt": b"zero", "sub/p1.txt": b"one"},
    )
    shared.pivot("push")
    shared.commit_all()
    other = clone(shared, tmp_path / "clone")
    assert not (other.root / "out").exists()

    proc = other.pivot("pull")

    assert "restored 3 files" in proc.stdout
    assert other.read("out/clean.csv") == "x,y\n1,2\n"
    assert other.read("out/parts/p0.txt") == "zero"
    assert other.read("out/parts/sub/p1.txt") == "one"
    assert sorted(cache_files(other.root).values()) == [b"one", b"x,y\n1,2\n", b"zero"]
    again = other.pivot("pull", "--json")
    assert json.loads(again.stdout)["restored"] == []


def test_pull_of_one_stage_only(shared: TempProject, tmp_path: Path) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"from a"})
    record_stage(shared.root, "b", {"out/b.txt": b"from b"})
    shared.pivot("push")
    shared.commit_all()
    other = clone(shared, tmp_path / "clone")

    other.pivot("pull", "a")

    assert other.read("out/a.txt") == "from a"
    assert not (other.root / "out" / "b.txt").exists()
    assert list(cache_files(other.root).values()) == [b"from a"]


def test_pull_repairs_modified_outputs_and_stray_files(shared: TempProject, tmp_path: Path) -> None:
    record_stage(shared.root, "clean", {"out/clean.csv": b"right"})
    record_stage(shared.root, "split", folder="out/parts", folder_files={"p0.txt": b"zero"})
    shared.pivot("push")
    shared.commit_all()
    other = clone(shared, tmp_path / "clone")
    other.write("out/clean.csv", "wrong")
    other.write("out/parts/stray.txt", "not in the lock")

    result = json.loads(other.pivot("pull", "--json").stdout)

    assert sorted(result["restored"]) == ["out/clean.csv", "out/parts/p0.txt"]
    assert result["removed"] == ["out/parts/stray.txt"]
    assert other.read("out/clean.csv") == "right"
    assert sorted(p.name for p in (other.root / "out" / "parts").iterdir()) == ["p0.txt"]


def test_fetch_fills_the_cache_without_touching_the_workspace(
    shared: TempProject, tmp_path: Path
) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"from a"})
    shared.pivot("push")
    shared.commit_all()
    other = clone(shared, tmp_path / "clone")

    other.pivot("fetch")

    assert list(cache_files(other.root).values()) == [b"from a"]
    assert not (other.root / "out").exists()
    blob = next(p for p in (other.root / ".pivot" / "cache" / "files").rglob("*") if p.is_file())
    assert blob.stat().st_mode & 0o222 == 0  # blobs are read-only, as the cache writes them
    # a second fetch has nothing to do and does not even need the server
    assert "0 files" in other.pivot("fetch").stdout


def test_large_file_goes_through_multipart_and_back(shared: TempProject, tmp_path: Path) -> None:
    big = os.urandom(1 << 20) * 20  # 20 MiB: above the single-request limit
    record_stage(shared.root, "big", {"out/big.bin": big})
    shared.pivot("push")
    shared.commit_all()
    other = clone(shared, tmp_path / "clone")

    other.pivot("pull")

    assert (other.root / "out" / "big.bin").read_bytes() == big


def test_pull_dry_run_changes_nothing(shared: TempProject, tmp_path: Path) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"from a"})
    shared.pivot("push")
    shared.commit_all()
    other = clone(shared, tmp_path / "clone")

    proc = other.pivot("pull", "--dry-run")

    assert "would restore out/a.txt" in proc.stdout
    assert cache_files(other.root) == {} and not (other.root / "out").exists()


def test_unknown_stage_is_a_usage_error(shared: TempProject) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"from a"})

    proc = shared.pivot("push", "nope", check=2)

    assert "no lock file for stage 'nope'" in proc.stderr and "stages with locks: a" in proc.stderr
