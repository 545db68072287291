"""What the test-server launchers (``s3_server``, ``gcs_server``, ``azurite_server``) share: a
server program run as a child process in its own session, its output in a log file, a wait
until it is ready that fails with the log's tail, and a stop that ends in SIGKILL.

Each launcher keeps what is its own: where the binary is, the command line, what "ready"
means (a signed request, or only an open port), buckets or containers, credentials.

    process = launch(args, data_dir, log_path)
    server = GcsServer(endpoint, data_dir, process, log_path)
    server.wait_ready(listening(port), timeout=30)
    with server:   # stops it on the way out
        ...
"""

from __future__ import annotations

import dataclasses
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Self


def free_port() -> int:
    """A port no one listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> Callable[[], object]:
    """A readiness probe that passes once something accepts connections on ``port``."""

    def probe() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass

    return probe


def launch(args: list[str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` in ``cwd``, stdout and stderr appended to ``log_path``, no stdin, in a
    session of its own (so a Ctrl-C in the terminal reaches pytest, not the server)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )


@dataclasses.dataclass
class ServerProcess:
    """A server started by :func:`launch`; ``endpoint_url`` is where clients talk to it.

    Subclasses name the program in :attr:`label` (for error messages) and add their clients.
    """

    endpoint_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    label: ClassVar[str] = "server"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def wait_ready(
        self, probe: Callable[[], object], timeout: float, *, interval: float = 0.1
    ) -> None:
        """Call ``probe`` until it returns without raising.

        Raises RuntimeError with the log's tail when the process exits first, or when
        ``timeout`` seconds pass (the server is then killed: a test run should not leave it
        behind).
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise RuntimeError(
                    f"{self.label} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                probe()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(
                        f"{self.label} did not answer in {timeout:.0f}s ({exc}):\n{self.log_tail()}"
                    ) from exc
                time.sleep(interval)

    def kill(self) -> None:
        """Stop it at once (SIGKILL): connections drop mid-request, as in a crash."""
        if self.running:
            self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited after 10 s."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
