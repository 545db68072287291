"""The library API the TUI and engine use: requests saved by the index, listing versus HEAD,
progress snapshots, and the transport's contract on single blobs."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest

from pivot.core import remote
from pivot.core.config import load_config
from pivot.core.project import Project
from pivot.core.remote import _s3
from pivot.core.remote._s3 import S3BlobStore
from pivot.core.store.hashing import hash_bytes
from tests.helpers import TempProject
from tests.remote.conftest import clone, record_stage
from tests.s3_server import BUCKET, S3Server


class CallCounter:
    """Counts calls of S3BlobStore methods while letting them through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        for name in names:
            original = getattr(S3BlobStore, name)

            def wrapper(
                self_: S3BlobStore,
                *args: Any,
                _name: str = name,
                _original: Any = original,
                **kwargs: Any,
            ) -> Any:
                self.calls[_name] += 1
                return _original(self_, *args, **kwargs)

            monkeypatch.setattr(S3BlobStore, name, wrapper)


def test_second_push_sends_no_request_at_all(
    shared: TempProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_stage(shared.root, "a", {f"out/{i}.txt": f"file {i}".encode() for i in range(20)})
    project = Project(shared.root)
    first = remote.push(project)
    assert len(first.transferred) == 20
    counter = CallCounter(monkeypatch, "__init__", "check", "exists", "list_shard", "upload")

    second = remote.push(project)

    assert second.transferred == [] and second.present == 20
    assert sum(counter.calls.values()) == 0  # not even a connection: the index knew it all


def test_a_small_remote_is_listed_by_the_connectivity_check(
    shared: TempProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_stage(shared.root, "a", {f"out/{i}.txt": f"file {i}".encode() for i in range(100)})
    counter = CallCounter(monkeypatch, "exists", "list_shard")

    remote.push(Project(shared.root))

    assert counter.calls == {}  # the check's one listing page held the whole remote


@pytest.fixture
def big_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every remote look too big for one listing page (as if it held > 1,000 blobs)."""
    monkeypatch.setattr(_s3, "CHECK_LIST_KEYS", 1)


def test_few_hashes_are_checked_with_head_requests(
    shared: TempProject, monkeypatch: pytest.MonkeyPatch, big_remote: None
) -> None:
    record_stage(shared.root, "a", {f"out/{i}.txt": f"file {i}".encode() for i in range(10)})
    record_stage(
        shared.root,
        "b",
        {"out/b1.txt": b"two blobs already there,", "out/b2.txt": b"so one page is not all"},
    )
    remote.push(Project(shared.root), ["b"])
    counter = CallCounter(monkeypatch, "exists", "list_shard")

    remote.push(Project(shared.root), ["a"])

    assert counter.calls == {"exists": 10}


def test_many_hashes_are_checked_by_listing_shards(
    shared: TempProject, monkeypatch: pytest.MonkeyPatch, big_remote: None
) -> None:
    files = {f"{i:04d}": f"file {i}".encode() for i in range(1000)}
    record_stage(shared.root, "many", folder="out/many", folder_files=files)
    project = Project(shared.root)
    remote.push(project, ["many"])
    # forget what we pushed, so that the next push has to ask the server about 1,000 hashes
    lock = project.locks.read("many")
    assert lock is not None
    location = remote.resolve_remote(load_config(project.root), None)
    remote._index.RemoteIndex(project.state, location.identity).discard(remote.lock_blobs([lock]))
    counter = CallCounter(monkeypatch, "exists", "list_shard", "upload")

    result = remote.push(project)

    assert result.present == 1000 and result.transferred == []
    shards = {hash_bytes(data)[:2] for data in files.values()}
    assert counter.calls == {"list_shard": len(shards)}  # one request per shard, no HEAD
    assert len(shards) < 300


def test_progress_snapshots(shared: TempProject) -> None:
    record_stage(shared.root, "a", {f"out/{i}.txt": b"x" * (i + 1) for i in range(30)})
    snapshots: list[remote.TransferProgress] = []

    remote.push(Project(shared.root), progress=snapshots.append)

    assert snapshots[0].phase is remote.Phase.TRANSFERRING and snapshots[0].files_total == 30
    assert snapshots[0].bytes_total == sum(range(1, 31))
    last = snapshots[-1]
    assert last.phase is remote.Phase.DONE and last.direction is remote.Direction.PUSH
    assert (last.files_done, last.bytes_done, last.failed) == (30, sum(range(1, 31)), 0)
    done = [s.files_done for s in snapshots]
    assert done == sorted(done)
    assert last.to_dict()["phase"] == "done"


def test_fetch_progress_and_index(
    shared: TempProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"a" * 1000, "out/b.txt": b"b" * 500})
    shared.pivot("push")
    shared.commit_all()
    other = Project(clone(shared, tmp_path / "clone").root)
    snapshots: list[remote.TransferProgress] = []

    result = remote.fetch(other, progress=snapshots.append)

    assert sorted(ref.path for ref in result.transferred) == ["out/a.txt", "out/b.txt"]
    assert (snapshots[-1].files_done, snapshots[-1].bytes_done) == (2, 1500)
    # what we downloaded is known to be on the remote: pushing from the clone asks nothing
    # about blobs; it only shares the run-cache entry of the lock git brought (once)
    counter = CallCounter(monkeypatch, "__init__", "exists", "list_shard", "upload", "put_run")
    assert remote.push(other).present == 2
    assert counter.calls == {"__init__": 1, "put_run": 1}
    counter.calls.clear()
    assert remote.push(other).present == 2
    assert sum(counter.calls.values()) == 0


def test_fetch_dry_run(shared: TempProject, tmp_path: Path) -> None:
    record_stage(shared.root, "a", {"out/a.txt": b"here"})
    shared.pivot("push")
    record_stage(shared.root, "b", {"out/b.txt": b"never pushed"})
    shared.commit_all()
    other = Project(clone(shared, tmp_path / "clone").root)

    result = remote.fetch(other, dry_run=True)

    assert [ref.path for ref in result.transferred] == ["out/a.txt"]
    assert [p.path for p in result.missing] == ["out/b.txt"]
    assert not other.cache.has(hash_bytes(b"here"))


# -- the transport on single blobs ---------------------------------------------------------------


@pytest.fixture
def transport(s3: S3Server, remote_url: str) -> S3BlobStore:
    location = remote.RemoteLocation.parse("origin", remote_url, s3.endpoint_url)
    transport = S3BlobStore(location, jobs=4)
    transport.check()
    return transport


def _object(s3: S3Server, transport: S3BlobStore, digest: str) -> bytes:
    body = s3.client().get_object(Bucket=BUCKET, Key=transport.location.key(digest))["Body"]
    return bytes(body.read())


def test_upload_never_overwrites(transport: S3BlobStore, s3: S3Server, tmp_path: Path) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"content")
    digest = hash_bytes(b"content")
    sent: list[int] = []

    assert transport.upload(source, digest, sent.append) is True
    s3.client().put_object(Bucket=BUCKET, Key=transport.location.key(digest), Body=b"someone else")
    assert transport.upload(source, digest, sent.append) is False  # 412: already there

    assert _object(s3, transport, digest) == b"someone else"


def test_upload_refuses_bytes_that_do_not_match_their_name(
    transport: S3BlobStore, s3: S3Server, tmp_path: Path
) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"not what the name says")

    with pytest.raises(remote.BlobCorruptError):
        transport.upload(source, hash_bytes(b"original"), lambda n: None)

    assert not transport.exists(hash_bytes(b"original"))


def test_upload_without_conditional_put_support(
    transport: S3BlobStore, s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    original = transport.client.put_object

    def put_object(**kwargs: Any) -> Any:
        if "IfNoneMatch" in kwargs:
            raise ClientError({"Error": {"Code": "NotImplemented", "Message": "no"}}, "PutObject")
        return original(**kwargs)

    monkeypatch.setattr(transport.client, "put_object", put_object)
    source = tmp_path / "blob"
    source.write_bytes(b"plain put")
    digest = hash_bytes(b"plain put")

    assert transport.upload(source, digest, lambda n: None) is True
    assert transport._conditional_put is False  # remembered: no second failed attempt per blob
    assert _object(s3, transport, digest) == b"plain put"


def test_download_retries_a_body_that_broke_off(
    transport: S3BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ResponseStreamingError

    source = tmp_path / "blob"
    source.write_bytes(b"y" * 5000)
    digest = hash_bytes(b"y" * 5000)
    transport.upload(source, digest, lambda n: None)
    original = S3BlobStore._download_once
    attempts = []

    def flaky(self: S3BlobStore, digest: str, size: int | None, target: Path, on_bytes: Any) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            on_bytes(1234)  # some bytes arrived, then the connection dropped
            raise ResponseStreamingError(error="connection reset")
        return original(self, digest, size, target, on_bytes)

    monkeypatch.setattr(S3BlobStore, "_download_once", flaky)
    received: list[int] = []

    transport.download(digest, 5000, tmp_path / "copy", received.append)

    assert len(attempts) == 2 and sum(received) == 5000
    assert (tmp_path / "copy").read_bytes() == b"y" * 5000


def test_download_of_a_missing_blob(transport: S3BlobStore, tmp_path: Path) -> None:
    with pytest.raises(remote.BlobMissingError):
        transport.download("0123456789abcdef", 10, tmp_path / "x", lambda n: None)
