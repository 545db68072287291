"""The content-addressed blob store under ``.pivot/cache/files``.

A blob's name is the xxhash64 of its bytes: ``files/ab/cdef0123456789``. Blobs are written to
a temp file and renamed, made read-only, and checked against their name when read back, so a
corrupt blob is never restored into the workspace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

import xxhash

from pivot.core.atomic import atomic_path
from pivot.core.hashing import CHUNK
from pivot.exceptions import CacheError

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class Cache:
    """Blobs by hash in one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"

    def blob_path(self, digest: str) -> Path:
        return self.files / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def add_file(self, source: Path, digest: str) -> bool:
        """Copy ``source`` (whose hash is ``digest``) into the cache; False if already there."""
        target = self.blob_path(digest)
        if target.exists():
            return False
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, _READ_ONLY)
        return True

    def add_bytes(self, data: bytes, digest: str) -> bool:
        target = self.blob_path(digest)
        if target.exists():
            return False
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
            os.chmod(tmp, _READ_ONLY)
        return True

    def restore(self, digest: str, target: Path) -> None:
        """Write the blob to ``target`` atomically, verifying its hash on the way.

        A blob whose bytes do not match its name is moved aside and reported as CacheError.
        """
        blob = self.blob_path(digest)
        if not blob.is_file():
            raise CacheError(f"'{target}' ({digest}) is not in the cache; run it or `pivot pull`")
        hasher = xxhash.xxh64()
        with atomic_path(target) as tmp:
            with open(blob, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(CHUNK):
                    hasher.update(chunk)
                    dst.write(chunk)
            if hasher.hexdigest() != digest:
                self.quarantine(digest)
                raise CacheError(
                    f"cache blob {digest} for '{target}' is corrupt (its bytes hash to "
                    f"{hasher.hexdigest()}); it was removed, re-run the stage or `pivot pull`"
                )

    def verify(self, digest: str) -> bool:
        """True if the blob exists and its bytes match its name."""
        blob = self.blob_path(digest)
        if not blob.is_file():
            return False
        hasher = xxhash.xxh64()
        with open(blob, "rb") as src:
            while chunk := src.read(CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest() == digest

    def quarantine(self, digest: str) -> None:
        """Remove a corrupt blob so it is re-fetched or re-created."""
        blob = self.blob_path(digest)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(blob, stat.S_IWUSR | stat.S_IRUSR)
            blob.unlink()
