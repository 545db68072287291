"""Processes seen from outside (``/proc``) and temp files seen as they appear (inotify)."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import os
import select
import signal
import struct
from pathlib import Path

from tests.reliability.faults.project import TMP_MARK


@dataclasses.dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start: int  # start time in clock ticks since boot: tells a reused pid apart
    state: str

    @property
    def cmdline(self) -> str:
        try:
            return Path(f"/proc/{self.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return ""

    @property
    def is_worker(self) -> bool:
        """A loky worker, or a Dask worker process (multiprocessing's spawn)."""
        cmdline = self.cmdline
        return "LokyProcess" in cmdline or "spawn_main" in cmdline

    def running_stage(self) -> str | None:
        """The stage a worker is running: its stdout points at that stage's log file."""
        try:
            target = os.readlink(f"/proc/{self.pid}/fd/1")
        except OSError:
            return None
        if "/.pivot/logs/" in target and target.endswith(".log"):
            return Path(target).stem
        return None


def read_proc(pid: int) -> Proc | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return Proc(pid, int(fields[1]), int(fields[19]), fields[0])


def all_procs() -> list[Proc]:
    procs = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            proc = read_proc(int(entry))
            if proc is not None:
                procs.append(proc)
    return procs


def descendants(pid: int) -> list[Proc]:
    children: dict[int, list[Proc]] = collections.defaultdict(list)
    for proc in all_procs():
        children[proc.ppid].append(proc)
    found: list[Proc] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def alive(proc: Proc) -> bool:
    now = read_proc(proc.pid)
    return now is not None and now.start == proc.start and now.state not in ("Z", "X")


def kill_proc(proc: Proc) -> None:
    if alive(proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)


class TempWatcher:
    """Reports pivot temp files as they are created anywhere in a project, and in a folder
    remote (Linux inotify, via ctypes), so a kill can land while a blob, a lock or an output
    is being written: windows of microseconds to milliseconds that random delays rarely hit.

    Downloads into ``.pivot/tmp/`` carry no marker; every file created there counts."""

    _IN_CREATE = 0x100
    _IN_ISDIR = 0x40000000
    _SKIP = (".git", ".pivot/logs", ".pivot/state.lmdb", ".pivot/cache/code")

    def __init__(self, root: Path, remote: Path | None = None) -> None:
        self.root = root
        self.remote = remote
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.folders: dict[int, Path] = {}
        for top in (root, remote) if remote is not None else (root,):
            for dirpath, dirs, _files in os.walk(top):
                dirs[:] = [d for d in dirs if not self._skipped(Path(dirpath) / d)]
                self._watch(Path(dirpath))

    def _skipped(self, folder: Path) -> bool:
        if not folder.is_relative_to(self.root):
            return False
        rel = folder.relative_to(self.root).as_posix()
        return any(rel == skip or rel.startswith(skip + "/") for skip in self._SKIP)

    def _watch(self, folder: Path) -> None:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(folder), self._IN_CREATE)
        if wd >= 0:
            self.folders[wd] = folder

    def kind(self, path: Path) -> str:
        if self.remote is not None and path.is_relative_to(self.remote):
            return "remote"
        rel = path.relative_to(self.root).as_posix()
        if rel.startswith(".pivot/cache/files/"):
            return "cache"
        if rel.startswith(".pivot/stages/"):
            return "lock"
        if rel.startswith(".pivot/tmp/"):
            return "download"
        return "other" if rel.startswith(".pivot/") else "output"

    def created(self, timeout: float) -> list[Path]:
        """Temp files created since the last call, waiting up to ``timeout`` for one."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        found = []
        offset = 0
        while offset + 16 <= len(data):
            wd, mask, _cookie, length = struct.unpack_from("iIII", data, offset)
            name = data[offset + 16 : offset + 16 + length].rstrip(b"\0").decode(errors="replace")
            offset += 16 + length
            folder = self.folders.get(wd)
            if folder is None or not name:
                continue
            path = folder / name
            if mask & self._IN_ISDIR:
                if not self._skipped(path):
                    found += self._watch_new(path)
            elif self._wanted(path):
                found.append(path)
        return found

    def _wanted(self, path: Path) -> bool:
        return TMP_MARK in path.name or self.kind(path) == "download"

    def _watch_new(self, folder: Path) -> list[Path]:
        """Watch a folder just made, and what was made inside it before the watch took."""
        found = []
        for dirpath, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not self._skipped(Path(dirpath) / d)]
            self._watch(Path(dirpath))
            found += [Path(dirpath) / f for f in files if self._wanted(Path(dirpath) / f)]
        return found

    def close(self) -> None:
        os.close(self.fd)
