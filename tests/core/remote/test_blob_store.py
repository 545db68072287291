"""The :class:`BlobStore` contract, checked on every implementation: the folder store always,
and over HTTP against real servers when they are installed: S3 on SeaweedFS (params marked
``s3``), GCS on fake-gcs-server (``gcs``), Azure Blob on Azurite (``azure``)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pivot.core import remote
from pivot.core.remote import RemoteLocation, open_store
from pivot.core.store.hashing import CHUNK, hash_bytes
from pivot.exceptions import RemoteError
from tests.core.remote.conftest import StoreCase, blob


def test_a_new_blob_goes_up_once_and_comes_back_verified(case: StoreCase, tmp_path: Path) -> None:
    source, digest = blob(tmp_path, b"some output bytes" * 100)
    first: list[int] = []
    again: list[int] = []
    store = case.store
    assert not store.exists(digest)

    assert store.upload(source, digest, first.append) is True
    assert store.upload(source, digest, again.append) is False  # already there

    assert store.exists(digest)
    assert sum(first) == sum(again) == source.stat().st_size  # a progress bar reaches its total
    received: list[int] = []
    store.download(digest, source.stat().st_size, tmp_path / "copy", received.append)
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()
    assert sum(received) == source.stat().st_size


def test_a_blob_of_several_chunks(case: StoreCase, tmp_path: Path) -> None:
    data = bytes(range(256)) * (CHUNK // 256) * 2 + b"tail"  # two chunks and a bit
    source, digest = blob(tmp_path, data)

    case.store.upload(source, digest, lambda n: None)
    case.store.download(digest, len(data), tmp_path / "copy", lambda n: None)

    assert (tmp_path / "copy").read_bytes() == data
    assert case.get_raw(digest) == data


def test_a_blob_larger_than_one_request(case: StoreCase, tmp_path: Path) -> None:
    """Over every store's single-request limit (S3 and Azure 16 MiB, GCS 8 MiB): multipart,
    blocks, resumable uploads and ranged downloads still publish and return whole blobs."""
    data = bytes(range(256)) * (4096 * 17) + b"odd tail"  # 17 MiB and a bit
    source, digest = blob(tmp_path, data)
    sent: list[int] = []
    received: list[int] = []

    assert case.store.upload(source, digest, sent.append) is True
    case.store.download(digest, len(data), tmp_path / "copy", received.append)

    assert sum(sent) == sum(received) == len(data)
    assert (tmp_path / "copy").read_bytes() == data


def test_upload_never_rewrites_a_blob_that_is_there(case: StoreCase, tmp_path: Path) -> None:
    source, digest = blob(tmp_path, b"mine")
    case.put_raw(digest, b"someone else's")

    assert case.store.upload(source, digest, lambda n: None) is False

    assert case.get_raw(digest) == b"someone else's"


def test_upload_refuses_bytes_that_do_not_match_their_name(case: StoreCase, tmp_path: Path) -> None:
    source, _ = blob(tmp_path, b"not what the name says")
    digest = hash_bytes(b"the original")
    sent: list[int] = []

    with pytest.raises(remote.BlobCorruptError, match=digest):
        case.store.upload(source, digest, sent.append)

    assert not case.store.exists(digest)
    assert sum(sent) == 0  # any bytes counted were taken back


def test_download_of_a_missing_blob(case: StoreCase, tmp_path: Path) -> None:
    with pytest.raises(remote.BlobMissingError, match="0123456789abcdef"):
        case.store.download("0123456789abcdef", 10, tmp_path / "x", lambda n: None)


def test_get_object_reads_any_name_below_the_prefix(case: StoreCase, tmp_path: Path) -> None:
    """How another tool's layout is read (a DVC remote): by name, unverified, missing is False."""
    data = b"written by someone else" * 50
    digest = hash_bytes(data)
    case.put_raw(digest, data)
    target = tmp_path / "object"

    assert case.store.get_object(f"files/{digest[:2]}/{digest[2:]}", target) is True
    assert target.read_bytes() == data
    assert case.store.get_object("files/md5/00/no-such-object", tmp_path / "none") is False


def test_download_refuses_a_corrupt_blob(case: StoreCase, tmp_path: Path) -> None:
    digest = hash_bytes(b"the real bytes")
    case.put_raw(digest, b"tampered bytes")

    with pytest.raises(remote.BlobCorruptError) as caught:
        case.store.download(digest, 14, tmp_path / "x", lambda n: None)

    message = str(caught.value)
    assert "corrupt" in message and digest in message and "\n" not in message


def test_list_shard_finds_exactly_its_blobs(case: StoreCase, tmp_path: Path) -> None:
    digests = []
    for i in range(40):
        source, digest = blob(tmp_path, f"blob {i}".encode(), f"b{i}")
        case.store.upload(source, digest, lambda n: None)
        digests.append(digest)
    shard = digests[0][:2]

    found, requests = case.store.list_shard(shard)

    assert found == {d for d in digests if d.startswith(shard)}
    assert requests >= 1
    empty = next(
        f"{i:02x}" for i in range(256) if not any(d.startswith(f"{i:02x}") for d in digests)
    )
    assert case.store.list_shard(empty)[0] == set()


def test_complete_listing_is_none_or_the_truth(case: StoreCase, tmp_path: Path) -> None:
    source, digest = blob(tmp_path, b"listed")
    case.store.upload(source, digest, lambda n: None)

    case.store.check()

    listing = case.store.complete_listing
    assert listing is None or listing == {digest}


def test_concurrent_uploads_of_one_blob(case: StoreCase, tmp_path: Path) -> None:
    source, digest = blob(tmp_path, b"everyone pushes the same output" * 1000)
    results: list[bool] = []
    errors: list[BaseException] = []

    def push() -> None:
        try:
            results.append(case.store.upload(source, digest, lambda n: None))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=push) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and len(results) == 8 and any(results)
    assert case.get_raw(digest) == source.read_bytes()


def test_describe_and_identity(case: StoreCase) -> None:
    store = case.store
    assert store.describe().startswith("remote '") and "\n" not in store.describe()
    assert store.identity() == store.identity() and store.identity()


def test_identity_tells_remotes_apart(tmp_path: Path) -> None:
    folder = RemoteLocation.parse("nas", str(tmp_path / "a"))
    other = RemoteLocation.parse("nas", str(tmp_path / "b"))
    bucket = RemoteLocation.parse("nas", "s3://bucket/a")
    endpoint = RemoteLocation.parse("nas", "s3://bucket/a", "http://127.0.0.1:9000")
    gcs = RemoteLocation.parse("nas", "gs://bucket/a")
    gcs_emulator = RemoteLocation.parse("nas", "gs://bucket/a", "http://127.0.0.1:9000")
    azure = RemoteLocation.parse("nas", "azure://bucket/a", account="one")
    azure_other = RemoteLocation.parse("nas", "azure://bucket/a", account="two")
    locations = (folder, other, bucket, endpoint, gcs, gcs_emulator, azure, azure_other)

    identities = {loc.identity for loc in locations}

    assert len(identities) == len(locations)
    assert open_store(folder).identity() == folder.identity


@pytest.mark.parametrize(
    "kind", ["folder", pytest.param("s3", marks=pytest.mark.s3), "gcs", "azure"]
)
def test_an_unreachable_remote_fails_check_in_one_line(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "s3":
        request.getfixturevalue("s3")  # credentials in the environment
        location = RemoteLocation.parse("origin", "s3://bucket/p", "http://127.0.0.1:9")
    elif kind == "gcs":
        location = RemoteLocation.parse("origin", "gs://bucket/p", "http://127.0.0.1:9")
    elif kind == "azure":
        monkeypatch.setenv("AZURE_STORAGE_KEY", "a2V5")
        location = RemoteLocation.parse(
            "origin", "azure://container/p", "http://127.0.0.1:9/account", account="account"
        )
    else:
        location = RemoteLocation.parse("origin", str(tmp_path / "not-mounted"))
    store = open_store(location, jobs=1)
    try:
        with pytest.raises(remote.RemoteUnavailableError) as caught:
            store.check()
    finally:
        store.close()

    message = str(caught.value)
    assert isinstance(caught.value, RemoteError)
    assert "remote 'origin'" in message and "\n" not in message
