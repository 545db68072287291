"""One run at a time per project: an advisory ``flock`` on ``.pivot/run.lock``.

The kernel drops the lock when the holder dies, so a killed run never leaves it stale.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from pivot.exceptions import RunInProgressError


class ProjectRunLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, *, wait: bool = False) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def waiting_message(self) -> str:
        return f"another pivot run (pid {self.holder()}) is running in this project; waiting for it"

    def refuse(self) -> None:
        raise RunInProgressError(
            f"another pivot run (pid {self.holder()}) is running in this project; wait for it to "
            "finish, or pass --wait to queue behind it"
        )

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ProjectRunLock:
        if not self.acquire():
            self.refuse()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
