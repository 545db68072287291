"""Hash workspace artifacts (files and folders), reusing hashes of unchanged files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from pivot.core.store.hashing import FileEntry, hash_file, manifest_hash, walk_files
from pivot.core.store.lock import OutRecord
from pivot.core.store.state import StateDB
from pivot.exceptions import ProjectError


class ArtifactHasher:
    """Hashes paths relative to a root; a file is re-hashed only when its stat changed.

    New hashes are buffered and written to LMDB in one transaction by :meth:`flush`.
    ``observe`` is told every path it stats (files, folders, and paths found missing, with
    None), for the fast path's record of what a no-op rests on.
    """

    def __init__(
        self,
        root: Path,
        state: StateDB | None,
        observe: Callable[[str, os.stat_result | None], None] | None = None,
    ) -> None:
        self.root = root
        self.state = state
        self.observe = observe
        self._pending: list[tuple[str, os.stat_result, str]] = []
        self._memo: dict[str, tuple[os.stat_result, str]] = {}

    def _file_hash(self, full: Path, st: os.stat_result) -> str:
        key = str(full)
        memo = self._memo.get(key)
        if memo is not None and _same(memo[0], st):
            return memo[1]
        digest = self.state.cached_hash(key, st) if self.state is not None else None
        if digest is None:
            digest = hash_file(full)
            self._pending.append((key, st, digest))
        self._memo[key] = (st, digest)
        return digest

    def hash_path(self, rel: str) -> OutRecord | None:
        """The current hash of ``rel``, or None if it does not exist.

        ProjectError (one line, exit 2) when it cannot be read: no permission, a symlink loop.
        """
        full = self.root / rel
        try:
            try:
                st = full.stat()
            except (FileNotFoundError, NotADirectoryError):
                if self.observe is not None:
                    self.observe(str(full), None)
                return None
            if self.observe is not None:
                self.observe(str(full), st)
            return self._hash_existing(rel, full, st)
        except OSError as exc:
            where = exc.filename or full
            raise ProjectError(
                f"cannot read '{where}' ({exc.strerror or exc}); fix its permissions or remove it"
            ) from exc

    def _hash_existing(self, rel: str, full: Path, st: os.stat_result) -> OutRecord:
        if full.is_dir():
            entries = []
            folders: list[str] | None = [] if self.observe is not None else None
            for name in walk_files(full, folders):
                child = full / name
                child_stat = child.stat()
                if self.observe is not None:
                    self.observe(str(child), child_stat)
                entries.append(
                    FileEntry(name, self._file_hash(child, child_stat), child_stat.st_size)
                )
            if self.observe is not None and folders is not None:
                for folder in folders[1:]:
                    self.observe(folder, os.stat(folder))
            return OutRecord(
                rel, manifest_hash(entries), sum(e.size for e in entries), tuple(entries)
            )
        return OutRecord(rel, self._file_hash(full, st), st.st_size)

    def record(self, full: Path, digest: str) -> None:
        """Remember a hash computed elsewhere (e.g. by a worker) for the file as it is now."""
        try:
            st = full.stat()
        except FileNotFoundError:
            return
        self._pending.append((str(full), st, digest))
        self._memo[str(full)] = (st, digest)

    def flush(self) -> None:
        if self._pending and self.state is not None:
            self.state.record_hashes(self._pending)
        self._pending = []


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_mtime_ns, a.st_size) == (b.st_ino, b.st_mtime_ns, b.st_size)
