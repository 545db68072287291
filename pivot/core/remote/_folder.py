"""A remote that is a folder: a NAS mount, a shared disk, a second drive, a test's tmp dir.

Blobs sit under ``<folder>/files/ab/cdef…``, the layout of ``.pivot/cache/files`` (the folder is
a :class:`~pivot.core.store.cache.Cache`, so the layout is defined once). How it keeps the
:class:`~pivot.core.remote._store.BlobStore` contract:

- Writes go to a temp file beside the blob and are renamed into place (``Cache.add_written``):
  a rename is atomic on one filesystem, so a reader on any machine sees a whole blob or none,
  and two writers of the same blob both leave a whole (and identical) one.
- A blob already there is never rewritten (except by a repair, ``replace``: a verified copy
  renamed over it); blobs are made read-only.
- Uploads hash the bytes as they copy them and publish nothing that does not match its name;
  downloads hash what they read.
- A folder that is missing or cannot be read stops the command in :meth:`check`; one that
  cannot be written stops a push at its first blob (:class:`RemoteUnavailableError`). The
  folder itself is never created: a missing folder is more often an unmounted share than a
  remote to start.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from pivot.core.remote._location import RemoteLocation
from pivot.core.remote._store import CORRUPT_REMOTE_HINT, ByteCallback
from pivot.core.store.atomic import atomic_path, write_bytes_atomic
from pivot.core.store.cache import Cache
from pivot.core.store.hashing import copy_hashing, is_digest
from pivot.exceptions import (
    BlobCorruptError,
    BlobMissingError,
    RemoteError,
    RemoteUnavailableError,
)

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH

#: Errors of the folder that no other blob would escape either.
_FATAL = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT})


class FolderBlobStore:
    """A :class:`~pivot.core.remote._store.BlobStore` in a folder. Thread-safe: every call
    works on its own files, and renames are atomic."""

    complete_listing: set[str] | None = None  # a stat per blob is as cheap as a listing

    def __init__(self, location: RemoteLocation) -> None:
        if location.folder is None:
            raise ValueError(f"{location.describe()} is not a folder remote")
        self.location = location
        self.folder = location.folder
        self._blobs = Cache(self.folder)

    def describe(self) -> str:
        return self.location.describe()

    def identity(self) -> str:
        return self.location.identity

    def close(self) -> None:
        """Nothing to release: no connections, no threads."""

    def check(self) -> None:
        """The folder must exist and be readable; writability shows at the first upload, so
        that a read-only share still serves fetch and pull."""
        where = self.describe()
        fix = f"`pivot config set remotes.{self.location.name} /path/to/folder`"
        if not self.folder.is_dir():
            what = "is a file, not a folder" if self.folder.exists() else "does not exist"
            raise RemoteUnavailableError(
                f"{where}: the folder {what}; mount or create it, or point the remote "
                f"elsewhere with {fix}"
            )
        if not os.access(self.folder, os.R_OK | os.X_OK):
            raise RemoteUnavailableError(
                f"{where}: the folder cannot be read (permission denied); fix its "
                f"permissions or point the remote elsewhere with {fix}"
            )

    # -- queries ------------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        return self._blobs.has(digest)

    def list_shard(self, shard: str) -> tuple[set[str], int]:
        """Blob names in ``files/<shard>/``; temp files of writes in flight are not blobs."""
        found: set[str] = set()
        try:
            with os.scandir(self._blobs.files / shard) as entries:
                for entry in entries:
                    digest = shard + entry.name
                    if is_digest(digest) and entry.is_file():
                        found.add(digest)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            raise self._error(exc, f"cannot list {self._blobs.files / shard}") from None
        return found, 1

    # -- transfers ----------------------------------------------------------------------------

    def upload(
        self, source: Path, digest: str, on_bytes: ByteCallback, *, replace: bool = False
    ) -> bool:
        """Copy ``source`` in as blob ``digest``, hashing as it goes; False if already there
        (unless ``replace``: then a verified copy is renamed over it)."""
        if not replace and self._blobs.has(digest):
            on_bytes(source.stat().st_size)  # handled, as far as a progress bar is concerned
            return False
        with open(source, "rb") as src:  # the caller's file: its errors stay OSErrors
            try:
                self._make_shard(digest)
                fill = functools.partial(_fill, src, digest, on_bytes)
                if not replace:
                    return self._blobs.add_written(digest, fill)
                with atomic_path(self._blobs.blob_path(digest)) as tmp:
                    fill(tmp)
                    os.chmod(tmp, _READ_ONLY)
                return True
            except OSError as exc:  # the shard folder, the temp file, the rename
                raise self._error(exc, f"cannot write into {self.folder}") from None

    def _make_shard(self, digest: str) -> None:
        """Create ``files/ab/`` but never the folder itself: a worker without the share
        mounted must fail, not fill a local folder of the same name."""
        shard = self._blobs.blob_path(digest).parent
        if shard.is_dir():
            return
        if not self.folder.is_dir():
            self.check()
        with contextlib.suppress(FileExistsError):
            shard.parent.mkdir()
        with contextlib.suppress(FileExistsError):
            shard.mkdir()

    def download(self, digest: str, size: int | None, target: Path, on_bytes: ByteCallback) -> None:
        """Copy blob ``digest`` into ``target``, hashing as it goes."""
        blob = self._blobs.blob_path(digest)
        try:
            src = open(blob, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            self.check()  # the whole folder gone (unmounted) is not one missing blob
            raise BlobMissingError(f"blob {digest} is not on {self.describe()}") from None
        except OSError as exc:
            raise self._error(exc, f"cannot read {blob}") from None

        def read(n: int) -> bytes:
            try:
                return src.read(n)
            except OSError as exc:
                raise self._error(exc, f"cannot read {blob}") from None

        with src, open(target, "wb") as dst:  # the caller's file: its errors stay OSErrors
            actual, _ = copy_hashing(read, dst, on_bytes)
        if actual != digest:
            raise BlobCorruptError(
                f"remote object {blob} on {self.describe()} is corrupt (its bytes hash to "
                f"{actual}, not {digest}); it was not stored locally{CORRUPT_REMOTE_HINT}"
            )

    def put_run(self, key: str, data: bytes) -> None:
        target = self.folder / self.location.run_key(key)
        try:
            write_bytes_atomic(target, data)
        except OSError as exc:
            raise self._error(exc, f"cannot write {target}") from None

    def get_run(self, key: str) -> bytes | None:
        source = self.folder / self.location.run_key(key)
        try:
            return source.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(exc, f"cannot read {source}") from None

    def get_object(self, name: str, target: Path) -> bool:
        source = self.folder / name
        try:
            shutil.copyfile(source, target)
        except (FileNotFoundError, IsADirectoryError):
            return False
        except OSError as exc:
            raise self._error(exc, f"cannot read {source}") from None
        return True

    def delete(self, digests: Sequence[str]) -> None:
        for digest in digests:
            blob = self._blobs.blob_path(digest)
            try:
                blob.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise self._error(exc, f"cannot remove {blob}") from None

    def _error(self, exc: OSError, what: str) -> RemoteError:
        """One line; fatal when no other blob would fare better (permissions, a full disk)."""
        reason = exc.strerror or type(exc).__name__
        message = f"{self.describe()}: {what} ({reason[:1].lower()}{reason[1:]})"
        if exc.errno in _FATAL:
            return RemoteUnavailableError(f"{message}; fix the folder's permissions or free space")
        return RemoteError(message)


def _fill(src: BinaryIO, digest: str, on_bytes: ByteCallback, tmp: Path) -> None:
    """Write ``src`` into ``tmp``; BlobCorruptError (and the progress taken back) unless the
    bytes hash to ``digest``. ``Cache.add_written`` then renames ``tmp`` into place."""
    with open(tmp, "wb") as dst:
        actual, copied = copy_hashing(src.read, dst, on_bytes)
    if actual != digest:
        on_bytes(-copied)
        raise BlobCorruptError(f"local copy of blob {digest} hashes to {actual}")
