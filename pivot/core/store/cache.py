"""The content-addressed blob store under ``.pivot/cache/files``.

A blob's name is the xxhash64 of its bytes: ``files/ab/cdef0123456789``. Blobs are written to
a temp file and renamed, made read-only, and checked against their name when read back, so a
corrupt blob is never restored into the workspace.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from pivot.core.store.atomic import atomic_path
from pivot.core.store.hashing import copy_hashing, hash_file, is_digest
from pivot.core.store.links import LinkMode, place
from pivot.exceptions import CacheCorruptError, CacheError

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class Cache:
    """Blobs by hash in one folder; ``link`` says how files enter and leave it
    (:mod:`pivot.core.store.links`)."""

    def __init__(self, root: Path, link: LinkMode = "copy") -> None:
        self.root = root
        self.files = root / "files"
        self.link = link

    def blob_path(self, digest: str) -> Path:
        """Where blob ``digest`` lives; CacheError unless it is 16 hex digits, so a hash read
        from a lock file or a remote can never name a path outside the cache."""
        if not is_digest(digest):
            raise CacheError(f"{digest!r} is not a blob hash (16 hex digits); check the lock file")
        return self.files / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        try:
            return self.blob_path(digest).is_file()
        except PermissionError:  # a cache folder we may not enter holds nothing we can use
            return False

    def add_file(self, source: Path, digest: str) -> bool:
        """Put ``source`` (whose hash is ``digest``) in the cache, linked as ``link`` asks
        (with a hardlink, ``source`` becomes read-only too); False if already there."""
        return self.add_written(digest, lambda tmp: place(source, tmp, self.link))

    def add_bytes(self, data: bytes, digest: str) -> bool:
        return self.add_written(digest, lambda tmp: tmp.write_bytes(data))

    def add_written(self, digest: str, write: Callable[[Path], object]) -> bool:
        """Store blob ``digest`` by having ``write`` fill a temporary file (a copy, a download
        that checks the hash), renamed into place read-only; False if already there."""
        target = self.blob_path(digest)
        if target.exists():
            return False
        with atomic_path(target) as tmp:
            write(tmp)
            os.chmod(tmp, _READ_ONLY)
        return True

    def restore(self, digest: str, target: Path, *, writable: bool = False) -> None:
        """Write the blob to ``target`` atomically, verifying its hash on the way: linked as
        ``link`` asks, or always as a copy of its own when the caller will write to it
        (``writable``: an incremental output a stage appends to).

        A blob whose bytes do not match its name is moved aside and reported as CacheCorruptError.
        """
        blob = self.blob_path(digest)
        if not self.has(digest):
            raise CacheError(f"'{target}' ({digest}) is not in the cache; run it or `pivot pull`")
        if self.link != "copy" and not writable:
            self._restore_linked(blob, digest, target)
            return
        try:
            source = open(blob, "rb")  # noqa: SIM115 (closed by the with below)
        except PermissionError as exc:
            raise CacheError(
                f"cache blob {digest} for '{target}' cannot be read ({exc.strerror}); fix the "
                "permissions of .pivot/cache, or re-run the stage"
            ) from None
        with source as src, atomic_path(target) as tmp:
            with open(tmp, "wb") as dst:
                actual, _ = copy_hashing(src.read, dst)
            if actual != digest:
                self.quarantine(digest)
                raise CacheCorruptError(
                    f"cache blob {digest} for '{target}' is corrupt (its bytes hash to "
                    f"{actual}); it was removed, re-run the stage or `pivot pull`"
                )

    def _restore_linked(self, blob: Path, digest: str, target: Path) -> None:
        """Restore by hardlink or clone; the blob is hashed first (reading it is the cost of
        never handing out a corrupt file)."""
        try:
            actual = hash_file(blob)
        except PermissionError as exc:
            raise CacheError(
                f"cache blob {digest} for '{target}' cannot be read ({exc.strerror}); fix the "
                "permissions of .pivot/cache, or re-run the stage"
            ) from None
        if actual != digest:
            self.quarantine(digest)
            raise CacheCorruptError(
                f"cache blob {digest} for '{target}' is corrupt (its bytes hash to "
                f"{actual}); it was removed, re-run the stage or `pivot pull`"
            )
        with atomic_path(target) as tmp:
            place(blob, tmp, self.link)

    def verify(self, digest: str) -> bool:
        """True if the blob exists and its bytes match its name."""
        try:
            return hash_file(self.blob_path(digest)) == digest
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return False

    def quarantine(self, digest: str) -> None:
        """Remove a corrupt blob so it is re-fetched or re-created."""
        blob = self.blob_path(digest)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(blob, stat.S_IWUSR | stat.S_IRUSR)
            blob.unlink()
