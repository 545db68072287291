"""File wrappers that let an SDK's own transfer code report progress and hash what it moves.

The GCS and Azure SDKs read an upload from a file object and write a download into one, with no
byte callback of their own that survives their retries. Wrapping the file is the one place both
can be observed: :class:`ProgressReader` counts each byte once however often the SDK seeks back
to retry a chunk, and :class:`HashingWriter` hashes and counts what arrives.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import xxhash

from pivot.core.remote._store import ByteCallback
from pivot.core.store.hashing import hash_bytes, hash_file
from pivot.exceptions import BlobCorruptError


def verified_source(source: Path, digest: str, in_memory_limit: int) -> tuple[BinaryIO, int]:
    """``source`` opened for an upload as blob ``digest``, with its size, after checking that
    its bytes hash to that name (:class:`BlobCorruptError` otherwise), so a corrupt local blob
    is never published. Blobs up to ``in_memory_limit`` bytes are read once, into memory."""
    size = source.stat().st_size
    if size <= in_memory_limit:
        data = source.read_bytes()
        actual = hash_bytes(data)
        handle: BinaryIO = io.BytesIO(data)
    else:
        actual = hash_file(source)
        handle = open(source, "rb")  # noqa: SIM115 (the caller closes it)
    if actual != digest:
        handle.close()
        raise BlobCorruptError(f"local copy of blob {digest} hashes to {actual}")
    return handle, size


class ProgressReader:
    """A read-only view of ``handle`` that reports bytes read past the furthest point reached
    so far (a retried chunk is not counted twice)."""

    def __init__(self, handle: BinaryIO, on_bytes: ByteCallback) -> None:
        self._handle = handle
        self._on_bytes = on_bytes
        self.reported = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        end = self._handle.tell()
        if end > self.reported:
            self._on_bytes(end - self.reported)
            self.reported = end
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def finish(self, size: int) -> None:
        """Count what the SDK did not read (a blob that was there already), so a progress
        bar reaches its total."""
        if size > self.reported:
            self._on_bytes(size - self.reported)
            self.reported = size

    def take_back(self) -> None:
        """The upload failed: withdraw what was counted."""
        if self.reported:
            self._on_bytes(-self.reported)
            self.reported = 0


class HashingWriter:
    """Writes into ``handle`` while hashing (xxhash64) and counting what goes through."""

    def __init__(self, handle: BinaryIO, on_bytes: ByteCallback) -> None:
        self._handle = handle
        self._on_bytes = on_bytes
        self._hasher = xxhash.xxh64()
        self.written = 0

    def write(self, data: bytes) -> int:
        self._handle.write(data)
        self._hasher.update(data)
        self.written += len(data)
        self._on_bytes(len(data))
        return len(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._handle.flush()

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()

    def take_back(self) -> None:
        """The download failed: withdraw what was counted."""
        if self.written:
            self._on_bytes(-self.written)
            self.written = 0
