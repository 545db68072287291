"""Remove the temp files killed writers left behind, under the run lock.

Every write is temp-file-then-rename (:mod:`pivot.core.store.atomic`), so a SIGKILLed command
can leave ``.NAME.pivot-tmp-PID-RANDOM`` files: in the cache, among the lock files, beside
outputs and inside folder outputs, and downloads (``HASH.pivot-tmp-PID-RANDOM``) in
``.pivot/tmp/remote/``. Nothing reads them, but a killed 6 MB blob write leaves
6 MB. Commands that hold the project's run lock (``run`` and every watch cycle, ``commit``,
``checkout``, ``pull``, ``track``, ``gc``) call :func:`sweep_leftovers` right after taking
it.

A temp file is removed only when all of these hold:

- its name carries the marker;
- its mtime is older than the moment the run lock was taken, so nothing that started
  writing it under this lock is touched;
- the pid in its name is not a live process. Commands that hold no run lock write temp
  files too (``fetch`` and ``pull``'s download into the cache, ``status`` compiling the
  pipeline's bytecode, ``config set``, ``export``); each is alive while it writes, so its
  files stay. A name without a pid (written by an older Pivot) goes on age alone.

The pid is checked on this machine: a writer in another pid namespace sharing the project
(a container with the same volume) looks dead. Run such writers under one namespace.

Cost: one listing per cache shard, the download folder, the lock folder, and each folder
that holds an output (a folder output is walked); no other part of the workspace is read. A run the no-op fast
path answers (:mod:`pivot.core.run.fast_path`) does not sweep.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from pivot.core.store.atomic import TMP_MARK, remove_path
from pivot.core.store.paths import PivotPaths

_PID = re.compile(re.escape(TMP_MARK) + r"(\d+)-")


def writer_pid(name: str) -> int | None:
    """The pid a temp file's name records, or None (a name of an older Pivot)."""
    match = _PID.search(name)
    return int(match.group(1)) if match else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def is_leftover(entry: os.DirEntry[str], since: float) -> bool:
    """A temp file that no live process is writing (see the module docstring)."""
    if TMP_MARK not in entry.name:
        return False
    try:
        if entry.stat(follow_symlinks=False).st_mtime >= since:
            return False
    except FileNotFoundError:  # renamed or removed by its writer meanwhile
        return False
    pid = writer_pid(entry.name)
    return pid is None or not _alive(pid)


def _entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as listing:
            yield from listing
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return


def _shards(folder: Path) -> Iterator[Path]:
    """The two-character shard folders of a blob store (``files/ab/``, ``runs/ab/``)."""
    for entry in _entries(folder):
        if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False):
            yield Path(entry.path)


def _tree(folder: Path) -> Iterator[Path]:
    """``folder`` and every folder under it (symlinks are not followed)."""
    yield folder
    for entry in _entries(folder):
        if entry.is_dir(follow_symlinks=False) and TMP_MARK not in entry.name:
            yield from _tree(Path(entry.path))


def _folders(paths: PivotPaths, outputs: Iterable[str]) -> dict[Path, None]:
    """Where a killed writer may have left a temp file, each folder once, in order."""
    folders: dict[Path, None] = {}
    for store in (paths.cache / "files", paths.run_cache):
        folders.update(dict.fromkeys(_shards(store)))
    folders.update(dict.fromkeys(_tree(paths.bytecode)))
    folders[paths.tmp / "remote"] = None  # downloads of fetch and pull
    folders[paths.stages] = None
    for rel in outputs:
        target = paths.root / rel
        folders[target.parent] = None
        if target.is_dir() and not target.is_symlink():
            folders.update(dict.fromkeys(_tree(target)))
    return folders


def sweep_leftovers(paths: PivotPaths, since: float, outputs: Iterable[str] = ()) -> list[Path]:
    """Remove leftover temp files in the cache, the lock folder and beside (or inside) each
    of ``outputs`` (paths relative to the project root); call it holding the run lock, with
    ``since`` the time the lock was taken. Returns what was removed; a file that cannot be
    removed is left for the next sweep."""
    removed = []
    for folder in _folders(paths, outputs):
        for entry in _entries(folder):
            if is_leftover(entry, since):
                with contextlib.suppress(OSError):
                    remove_path(Path(entry.path))
                    removed.append(Path(entry.path))
    return removed
