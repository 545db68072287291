"""Fixtures for remote tests that need no S3 server: a folder remote, and the same contract
tests run against S3 too (params marked ``s3``) when SeaweedFS is installed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pivot.core.remote import BlobStore, RemoteLocation, open_store
from pivot.core.store.hashing import hash_bytes
from tests.helpers import TempProject
from tests.remote.conftest import _isolated_env, remote_url, s3
from tests.s3_server import BUCKET, S3Server

__all__ = ["_isolated_env", "remote_url", "s3"]


@dataclasses.dataclass
class StoreCase:
    """A store under test, and a back door to the place it keeps blobs (as another machine,
    a faulty disk or an operator would reach it), to set up what the store must cope with."""

    store: BlobStore
    put_raw: Callable[[str, bytes], None]  # write bytes under a hash's name, bypassing checks
    get_raw: Callable[[str], bytes]


def _folder_case(tmp_path: Path) -> StoreCase:
    folder = tmp_path / "nas"
    folder.mkdir()
    location = RemoteLocation.parse("nas", str(folder))

    def path(digest: str) -> Path:
        return folder / "files" / digest[:2] / digest[2:]

    def put_raw(digest: str, data: bytes) -> None:
        target = path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.chmod(0o644)
        target.write_bytes(data)

    return StoreCase(open_store(location), put_raw, lambda digest: path(digest).read_bytes())


def _s3_case(server: S3Server, url: str) -> StoreCase:
    location = RemoteLocation.parse("origin", url, server.endpoint_url)
    client = server.client()

    def put_raw(digest: str, data: bytes) -> None:
        client.put_object(Bucket=BUCKET, Key=location.key(digest), Body=data)

    def get_raw(digest: str) -> bytes:
        return bytes(client.get_object(Bucket=BUCKET, Key=location.key(digest))["Body"].read())

    return StoreCase(open_store(location, jobs=4), put_raw, get_raw)


@pytest.fixture(params=["folder", pytest.param("s3", marks=pytest.mark.s3)])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """Each :class:`BlobStore` implementation, checked and ready."""
    if request.param == "s3":
        made = _s3_case(request.getfixturevalue("s3"), request.getfixturevalue("remote_url"))
    else:
        made = _folder_case(tmp_path)
    made.store.check()
    try:
        yield made
    finally:
        made.store.close()


def blob(tmp_path: Path, data: bytes, name: str = "source") -> tuple[Path, str]:
    """A local file holding ``data``, and its hash."""
    path = tmp_path / name
    path.write_bytes(data)
    return path, hash_bytes(data)


@pytest.fixture
def nas(tmp_path: Path) -> Path:
    """An empty folder to use as a remote."""
    folder = tmp_path / "nas"
    folder.mkdir()
    return folder


@pytest.fixture
def shared_folder(project: TempProject, nas: Path) -> TempProject:
    """A project with the folder remote ``nas`` configured and outputs gitignored."""
    project.pivot("config", "set", "remotes.nas", str(nas))
    project.write(".gitignore", "/out/\n")
    return project
