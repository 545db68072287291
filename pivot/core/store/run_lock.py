"""One writer at a time per project: an advisory ``flock`` on ``.pivot/run.lock``.

``pivot run`` holds it for the whole run; so do the other commands that write outputs, lock
files or the workspace (``commit``, ``checkout``, ``pull``), so none of them can interleave
with a run. Commands that only read (``status``, ``push``, ``verify``) or only add verified
blobs to the cache (``fetch``) do not take it.

The kernel drops the lock when the holder dies, so a killed run never leaves it stale. The
file holds the holder's pid and command, for the message the loser prints. Whoever takes the
lock sweeps the temp files killed writers left (:mod:`pivot.core.store.sweep`).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from pivot.exceptions import RunInProgressError


class ProjectRunLock:
    def __init__(self, path: Path, command: str = "run") -> None:
        self.path = path
        self.command = command
        self._fd: int | None = None
        #: When the lock was taken (``time.time()``): temp files older than this that no live
        #: process writes are leftovers of killed commands (see pivot.core.store.sweep).
        self.acquired_at = 0.0

    def acquire(self, *, wait: bool = False) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        # Overwrite, then cut: a reader never sees an empty file, at worst stale bytes after
        # the first line, which it ignores.
        data = f"{os.getpid()} {self.command}\n".encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        self._fd = fd
        self.acquired_at = time.time()
        return True

    def holder(self) -> str:
        """Who holds the lock, as ``pivot run (pid 123)``."""
        try:
            first = self.path.read_text().splitlines()[0].split()
        except (OSError, IndexError):
            first = []
        pid = first[0] if first else "unknown"
        command = first[1] if len(first) > 1 else "run"
        return f"pivot {command} (pid {pid})"

    def waiting_message(self) -> str:
        return f"another {self.holder()} is running in this project; waiting for it"

    def refuse(self) -> None:
        hint = (
            "or pass --wait to queue behind it"
            if self.command == "run"
            else f"then run `pivot {self.command}` again"
        )
        raise RunInProgressError(
            f"another {self.holder()} is running in this project; wait for it to finish, {hint}"
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
