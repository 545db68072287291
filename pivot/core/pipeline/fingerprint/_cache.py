"""Serializing fingerprints for the state DB, valid while none of their source files changed.

An entry records, for every file the fingerprint read, ``(path, st_ino, st_mtime_ns, st_size)``
as they were *when the file was read* (not when the entry is written), plus the xxhash of the
bytes that were parsed. Loading an entry costs one ``stat`` per file and no parsing:

* any stat differs, or a file is gone → the entry is stale (None);
* the file was *racy* when read (modified within two seconds before the read, so a same-size
  edit in the same timestamp tick would not change its stat) → its bytes are re-hashed and
  compared; this keeps "edit, run, edit again at once" correct on coarse-timestamp filesystems;
* ``pkg:`` versions are re-checked against ``importlib.metadata.version`` (memoized per
  process: the code running in this process cannot change version under it) — one lookup per
  distinct distribution per process, instead of stat-ing dist-info directories;
* a different Python minor version or entry format → stale, since tree shapes may differ.

Not covered (documented limits): module-level values computed from things other than source
files (environment variables, data files read at import time) are only re-hashed when an entry is
recomputed.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import xxhash

from pivot.core.pipeline.fingerprint._classify import dist_version
from pivot.core.pipeline.fingerprint._model import (
    ALGORITHM,
    CodeFingerprint,
    FileStat,
    SourceRecord,
)

_FORMAT = 1


def _python() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def fingerprint_cache_entry(fp: CodeFingerprint) -> bytes:
    """Serialize ``fp`` with the stat of every file it read, for :func:`load_cached_fingerprint`."""
    stats = fp.file_stats
    if not stats:
        # a fingerprint built by hand: stat the files now (never racy-safe, so mark racy)
        stats = tuple(_stat_now(path) for path in fp.files)
    data = {
        "format": _FORMAT,
        "algorithm": ALGORITHM,
        "python": _python(),
        "manifest": fp.manifest,
        "sources": {k: [r.file, r.line, r.source] for k, r in fp.sources.items()},
        "warnings": list(fp.warnings),
        "files": list(fp.files),
        "stats": [[s.path, s.ino, s.mtime_ns, s.size, s.digest, s.racy] for s in stats],
    }
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _stat_now(path: str) -> FileStat:
    try:
        st = os.stat(path)
        with open(path, "rb") as handle:
            digest = xxhash.xxh64(handle.read()).hexdigest()
    except OSError:
        return FileStat(path, -1, -1, -1, "", True)
    return FileStat(path, st.st_ino, st.st_mtime_ns, st.st_size, digest, True)


def _file_unchanged(entry: list[Any]) -> bool:
    path, ino, mtime_ns, size, digest, racy = entry
    try:
        st = os.stat(path)
    except OSError:
        return False
    if (st.st_ino, st.st_mtime_ns, st.st_size) != (ino, mtime_ns, size):
        return False
    if racy:
        try:
            with open(path, "rb") as handle:
                return bool(xxhash.xxh64(handle.read()).hexdigest() == digest)
        except OSError:
            return False
    return True


def load_cached_fingerprint(blob: bytes) -> CodeFingerprint | None:
    """The fingerprint in ``blob`` if every file it read is unchanged, else None.

    Never raises on a corrupt or foreign blob: it is simply not a valid cache entry.
    """
    try:
        data = json.loads(blob)
        if (
            data.get("format") != _FORMAT
            or data.get("algorithm") != ALGORITHM
            or data.get("python") != _python()
        ):
            return None
        stats = data["stats"]
        for entry in stats:
            if not _file_unchanged(entry):
                return None
        manifest: dict[str, str] = data["manifest"]
        for key, version in manifest.items():
            if key.startswith("pkg:") and dist_version(key[4:]) != version:
                return None
        return CodeFingerprint(
            manifest=manifest,
            sources={
                key: SourceRecord(key, file, line, source)
                for key, (file, line, source) in data["sources"].items()
            },
            warnings=tuple(data["warnings"]),
            files=tuple(data["files"]),
            file_stats=tuple(FileStat(*entry) for entry in stats),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
