"""A real Azure Blob Storage emulator for tests: Azurite, Microsoft's own, over HTTP.

Azurite is an npm package; ``.ci/run`` installs the version pinned in
``.ci/azurite/package-lock.json`` into ``.ci/azurite/node_modules`` (gitignored). The session
fixture does the same when it is missing and npm is there, and skips, saying why, only when
node or npm is not installed. Requests are signed with Azurite's well-known development
account (``devstoreaccount1``), which it checks like the real service.

    server = start_azurite(tmp_path / "azurite", containers=["pivot"])
    server.connection_string   # what AZURE_STORAGE_CONNECTION_STRING would hold
    server.stop()
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import ServerProcess, free_port, launch, listening

AZURE_CONTAINER = "pivot-tests"
ACCOUNT = "devstoreaccount1"
# Azurite's documented development key: public, and accepted by no real account.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
PACKAGE_DIR = Path(__file__).resolve().parent.parent / ".ci" / "azurite"


def azurite_binary() -> Path | None:
    """``azurite-blob`` from ``.ci/azurite/node_modules``, else on PATH."""
    local = PACKAGE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if local.is_file():
        return local
    found = shutil.which("azurite-blob")
    return Path(found) if found else None


def install_azurite() -> Path | None:
    """Install the pinned Azurite with ``npm ci`` when it is missing; None without npm."""
    binary = azurite_binary()
    if binary is not None:
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(PACKAGE_DIR)],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    return azurite_binary()


@dataclasses.dataclass
class AzuriteServer(ServerProcess):
    """A running ``azurite-blob``; ``endpoint_url`` is its blob service for the dev account."""

    account: str = ACCOUNT
    account_key: str = ACCOUNT_KEY

    label = "azurite"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};"
            f"AccountKey={self.account_key};BlobEndpoint={self.endpoint_url};"
        )

    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def create_container(self, name: str) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self.service().create_container(name)


def start_azurite(
    data_dir: Path, *, containers: tuple[str, ...] | list[str] = (), timeout: float = 60
) -> AzuriteServer:
    """Start ``azurite-blob`` (data under ``data_dir``) and wait until it answers."""
    binary = azurite_binary()
    if binary is None:
        raise FileNotFoundError("azurite-blob is not installed (npm ci --prefix .ci/azurite)")
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        str(binary),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(data_dir / "data"),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
    ]
    log_path = data_dir / "azurite.log"
    process = launch(args, data_dir, log_path)
    server = AzuriteServer(f"http://127.0.0.1:{port}/{ACCOUNT}", data_dir, process, log_path)
    server.wait_ready(listening(port), timeout)
    for container in containers:
        server.create_container(container)
    return server


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    """One Azurite for the session, with container :data:`AZURE_CONTAINER`; installs it on
    first use, and skips only when node/npm are missing."""
    if install_azurite() is None:
        pytest.skip(
            "Azurite is not installed and npm/node are not available to install it "
            "(npm ci --prefix .ci/azurite); the azure:// tests need it"
        )
    with start_azurite(tmp_path_factory.mktemp("azurite"), containers=[AZURE_CONTAINER]) as server:
        yield server
