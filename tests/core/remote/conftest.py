"""Fixtures for the store contract: a folder remote, and the same contract tests against real
servers over HTTP: S3 (SeaweedFS, params marked ``s3``), GCS (fake-gcs-server, ``gcs``) and
Azure Blob (Azurite, ``azure``), each when its emulator is installed."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pivot.core.remote import BlobStore, RemoteLocation, open_store
from pivot.core.store.hashing import hash_bytes
from tests.azurite_server import AZURE_CONTAINER, AzuriteServer
from tests.gcs_server import GCS_BUCKET, GcsServer
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


def _gcs_case(server: GcsServer, prefix: str) -> StoreCase:
    location = RemoteLocation.parse("origin", f"gs://{GCS_BUCKET}/{prefix}", server.endpoint_url)
    bucket = server.client().bucket(GCS_BUCKET)

    def put_raw(digest: str, data: bytes) -> None:
        bucket.blob(location.key(digest)).upload_from_string(data)

    def get_raw(digest: str) -> bytes:
        return bytes(bucket.blob(location.key(digest)).download_as_bytes())

    return StoreCase(open_store(location, jobs=4), put_raw, get_raw)


def _azure_case(server: AzuriteServer, prefix: str, monkeypatch: pytest.MonkeyPatch) -> StoreCase:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", server.connection_string)
    location = RemoteLocation.parse("origin", f"azure://{AZURE_CONTAINER}/{prefix}")
    container = server.service().get_container_client(AZURE_CONTAINER)

    def put_raw(digest: str, data: bytes) -> None:
        container.upload_blob(location.key(digest), data, overwrite=True)

    def get_raw(digest: str) -> bytes:
        return bytes(container.download_blob(location.key(digest)).readall())

    return StoreCase(open_store(location, jobs=4), put_raw, get_raw)


def unique_prefix(request: pytest.FixtureRequest) -> str:
    return f"{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")


@pytest.fixture(
    params=[
        "folder",
        pytest.param("s3", marks=pytest.mark.s3),
        pytest.param("gcs", marks=pytest.mark.gcs),
        pytest.param("azure", marks=pytest.mark.azure),
    ]
)
def case(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StoreCase]:
    """Each :class:`BlobStore` implementation, checked and ready."""
    if request.param == "s3":
        made = _s3_case(request.getfixturevalue("s3"), request.getfixturevalue("remote_url"))
    elif request.param == "gcs":
        made = _gcs_case(request.getfixturevalue("gcs_server"), unique_prefix(request))
    elif request.param == "azure":
        server = request.getfixturevalue("azurite_server")
        made = _azure_case(server, unique_prefix(request), monkeypatch)
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
