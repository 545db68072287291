"""Local state in LMDB: file-hash cache, fingerprint cache, run history, remote index, and
the record that lets a no-op answer from stats (run.fast_path).

Nothing here is needed for correctness: deleting ``.pivot/state.lmdb`` only costs re-hashing.
Writes are batched into one transaction each, because every LMDB commit syncs the disk.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterable
from pathlib import Path

import lmdb
import xxhash

from pivot.exceptions import PivotError, ProjectError

_MAP_SIZE = 64 << 30  # sparse: costs nothing on disk
_STAT = struct.Struct("<QqQ")  # inode, mtime_ns, size
_MAX_KEY = 511  # LMDB's default key size limit

DB_HASHES = b"hashes"
DB_FINGERPRINTS = b"fingerprints"
DB_RUNS = b"runs"
DB_REMOTE = b"remote"
DB_LOCKS = b"locks"
DB_FAST_PATH = b"fast-path"
#: What other tools call the blobs of this cache: ``md5:<DVC's MD5>`` -> ``<xxhash> <size>``,
#: so an import from DVC skips objects whose bytes the cache already holds.
DB_FOREIGN = b"foreign-hashes"

_ENVS: dict[Path, lmdb.Environment] = {}
_ENVS_LOCK = threading.Lock()


def _open_env(path: Path) -> lmdb.Environment:
    """One environment per path per process: LMDB forbids opening the same one twice."""
    with _ENVS_LOCK:
        env = _ENVS.get(path)
        if env is None:
            path.mkdir(parents=True, exist_ok=True)
            try:
                env = lmdb.open(str(path), map_size=_MAP_SIZE, max_dbs=8, subdir=True)
            except lmdb.Error as exc:
                raise ProjectError(
                    f"cannot open local state {path}: {exc}; delete it to reset"
                ) from exc
            _ENVS[path] = env
        return env


def _fit(key: bytes) -> bytes:
    """``key``, or a digest of it when it is past LMDB's 511-byte key limit (a deep path, a
    stage with many loaders); the digest form cannot collide with a real path or name."""
    if len(key) <= _MAX_KEY:
        return key
    return b"\0xxh128:" + xxhash.xxh128(key).hexdigest().encode()


def _path_key(path: str) -> bytes:
    """The key of a file path: its bytes as the OS sees them, a name that is not valid UTF-8
    included (``str.encode`` would refuse its surrogate escapes)."""
    return _fit(os.fsencode(path))


def stat_key(st: os.stat_result) -> bytes:
    return _STAT.pack(st.st_ino, st.st_mtime_ns, st.st_size)


class StateDB:
    """Typed access to the project's LMDB environment."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = _open_env(path)
        self._dbs = {
            name: self.env.open_db(name)
            for name in (
                DB_HASHES,
                DB_FINGERPRINTS,
                DB_RUNS,
                DB_REMOTE,
                DB_LOCKS,
                DB_FAST_PATH,
                DB_FOREIGN,
            )
        }

    # -- file hashes -------------------------------------------------------------------------

    def cached_hash(self, path: str, st: os.stat_result) -> str | None:
        """The hash recorded for ``path`` if its inode, mtime and size are unchanged."""
        with self.env.begin(db=self._dbs[DB_HASHES]) as txn:
            value = txn.get(_path_key(path))
        if value is None or value[: _STAT.size] != stat_key(st):
            return None
        return value[_STAT.size :].decode()

    def record_hashes(self, entries: Iterable[tuple[str, os.stat_result, str]]) -> None:
        items = [(_path_key(path), stat_key(st) + digest.encode()) for path, st, digest in entries]
        if items:
            self.put_many(DB_HASHES, items)

    # -- generic ------------------------------------------------------------------------------

    def get(self, db: bytes, key: bytes) -> bytes | None:
        with self.env.begin(db=self._dbs[db]) as txn:
            value = txn.get(_fit(key))
        return bytes(value) if value is not None else None

    def put_many(self, db: bytes, items: Iterable[tuple[bytes, bytes]]) -> None:
        try:
            with self.env.begin(db=self._dbs[db], write=True) as txn:
                for key, value in items:
                    txn.put(_fit(key), value)
        except lmdb.Error as exc:  # e.g. the disk is full; nothing was written
            raise PivotError(
                f"cannot write the local state {self.path} ({exc}); free some disk space "
                "(deleting that folder is safe: it holds only caches and run history)"
            ) from exc

    def delete(self, db: bytes, key: bytes) -> None:
        with self.env.begin(db=self._dbs[db], write=True) as txn:
            txn.delete(_fit(key))

    def items(self, db: bytes, *, reverse: bool = False) -> list[tuple[bytes, bytes]]:
        """All pairs of ``db`` in key order (newest-last for time-ordered keys)."""
        with self.env.begin(db=self._dbs[db]) as txn:
            pairs = [(bytes(k), bytes(v)) for k, v in txn.cursor()]
        return pairs[::-1] if reverse else pairs
