"""Content hashes: xxhash64 of file bytes, and of a canonical manifest for folders.

A digest is 16 lowercase hex digits. That rule is checked wherever a digest arrives from
outside (a lock file, a remote listing) by :func:`is_digest`, so a hash can never name a path.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import xxhash

CHUNK = 1 << 20
DIGEST_LENGTH = 16
_HEX = frozenset("0123456789abcdef")


def is_digest(value: object) -> bool:
    """True for an xxhash64 hex digest: a string of 16 lowercase hex digits."""
    return isinstance(value, str) and len(value) == DIGEST_LENGTH and set(value) <= _HEX


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """One file inside a directory output."""

    path: str
    hash: str
    size: int

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "hash": self.hash, "size": self.size}


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh64(data).hexdigest()


#: Reads of large files fill one reused buffer of this size (no allocation per chunk).
HASH_BUFFER = 8 << 20


def hash_file(path: Path | str) -> str:
    """Hash a file's bytes: small files in one read, large ones through a reused buffer."""
    digest = xxhash.xxh64()
    with open(path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        buffer = bytearray(min(HASH_BUFFER, size + 1))  # +1: the read that finds the end
        view = memoryview(buffer)
        while count := handle.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


def copy_hashing(
    read: Callable[[int], bytes],
    dest: BinaryIO,
    on_chunk: Callable[[int], object] | None = None,
) -> tuple[str, int]:
    """Copy everything ``read`` returns into ``dest`` in 1 MiB chunks, so a verified copy
    reads the bytes once: the digest of what was copied, and its size. ``on_chunk`` hears
    each chunk's size (progress bars)."""
    digest = xxhash.xxh64()
    copied = 0
    while chunk := read(CHUNK):
        digest.update(chunk)
        dest.write(chunk)
        copied += len(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))
    return digest.hexdigest(), copied


def manifest_hash(entries: list[FileEntry]) -> str:
    """The hash of a folder: of its sorted (path, hash, size) list, so it is independent of
    file order on disk and of metadata such as mtimes."""
    canonical = json.dumps(
        [[e.path, e.hash, e.size] for e in sorted(entries, key=lambda e: e.path)],
        separators=(",", ":"),
    )
    return hash_bytes(canonical.encode())


def walk_files(folder: Path, folders: list[str] | None = None) -> list[str]:
    """Relative posix paths of every regular file under ``folder``, sorted; each folder
    walked (``folder`` included) is appended to ``folders`` when given."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        if folders is not None:
            folders.append(dirpath)
        base = Path(dirpath).relative_to(folder)
        for name in filenames:
            full = Path(dirpath) / name
            if full.is_file():
                found.append((base / name).as_posix())
    found.sort()
    return found
