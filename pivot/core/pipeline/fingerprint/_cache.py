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

import dataclasses
import functools
import json
import os
import sys
from typing import Any

import xxhash

from pivot.core.pipeline.fingerprint._classify import dist_version
from pivot.core.pipeline.fingerprint._deps import statement_index
from pivot.core.pipeline.fingerprint._model import (
    ALGORITHM,
    CodeFingerprint,
    FileStat,
    NameDep,
    SourceRecord,
)
from pivot.core.pipeline.fingerprint._parse import ParsedFile, load_file

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
        "deps": [[d.path, list(d.names), d.digest] for d in fp.name_deps],
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


@dataclasses.dataclass(frozen=True)
class CachedFingerprint:
    """A cache entry that is still valid; ``refreshed`` when a file it read changed in parts
    it does not depend on (the entry should be written again with the new stats)."""

    fingerprint: CodeFingerprint
    refreshed: bool


def load_cached_fingerprint(blob: bytes, root: str | None = None) -> CachedFingerprint | None:
    """The fingerprint in ``blob`` if everything it read is unchanged, else None.

    A file whose stat changed still passes when the fingerprint read it only through names
    (``deps``) and the statements behind those names are unchanged (see ``_deps``); its source
    records are then moved to their new lines (``root`` resolves their relative paths).
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
        deps = {path: (tuple(names), digest) for path, names, digest in data.get("deps", [])}
        stats = [FileStat(*entry) for entry in data["stats"]]
        changed: dict[str, ParsedFile] = {}
        for index, entry in enumerate(data["stats"]):
            if _file_unchanged(entry):
                continue
            parsed = _unchanged_in_parts(entry[0], deps.get(entry[0]))
            if parsed is None:
                return None
            changed[parsed.path] = parsed
            stats[index] = parsed.stat
        manifest: dict[str, str] = data["manifest"]
        for key, version in manifest.items():
            if key.startswith("pkg:") and dist_version(key[4:]) != version:
                return None
        sources = {
            key: SourceRecord(key, file, line, source)
            for key, (file, line, source) in data["sources"].items()
        }
        if changed:
            moved = _moved_sources(sources, changed, root)
            if moved is None:
                return None
            sources = moved
        fingerprint = CodeFingerprint(
            manifest=manifest,
            sources=sources,
            warnings=tuple(data["warnings"]),
            files=tuple(data["files"]),
            file_stats=tuple(stats),
            name_deps=tuple(NameDep(p, names, d) for p, (names, d) in deps.items()),
        )
        return CachedFingerprint(fingerprint, refreshed=bool(changed))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _unchanged_in_parts(path: str, dep: tuple[tuple[str, ...], str] | None) -> ParsedFile | None:
    """The new parse of ``path`` if the statements behind the names read are unchanged."""
    if dep is None:
        return None
    names, digest = dep
    parsed = _current_parse(path)
    if parsed is None:
        return None
    if statement_index(parsed).digest(names) != digest:
        return None
    return parsed


#: The parse each changed file got in this process, by the stat it had: thousands of entries
#: that read one just-edited ``pipeline.py`` check it against one parse. (``load_file`` alone
#: would re-read a just-written file for each of them, as its stat cannot be trusted yet.)
_CURRENT: dict[str, tuple[tuple[int, int, int], ParsedFile]] = {}


def _current_parse(path: str) -> ParsedFile | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (st.st_ino, st.st_mtime_ns, st.st_size)
    known = _CURRENT.get(path)
    if known is not None and known[0] == key:
        return known[1]
    try:
        parsed = load_file(path)
    except (OSError, SyntaxError, ValueError):
        return None
    _CURRENT[path] = (key, parsed)
    return parsed


_VALUE_NOTE = "# value: "


@functools.cache
def _real_root(root: str) -> str:
    return os.path.realpath(root)


def _moved_sources(
    sources: dict[str, SourceRecord], changed: dict[str, ParsedFile], root: str | None
) -> dict[str, SourceRecord] | None:
    """``sources`` with the records of changed files at their new lines; None when a record's
    text is no longer in its file verbatim (say, a comment inside it changed): the entry is
    then recomputed, so `explain` never shows text the file no longer has."""
    if root is None:
        return None
    moved = dict(sources)
    real_root = _real_root(root)
    for key, record in sources.items():
        if not record.file:
            continue
        parsed = changed.get(os.path.join(real_root, record.file))
        if parsed is None:
            continue
        text = record.source
        note = text.rfind(_VALUE_NOTE)
        if note != -1 and (note == 0 or text[note - 1] == "\n"):
            text = text[:note]
        line = parsed.line_of(text, near=record.line)
        if line is None:
            return None
        moved[key] = dataclasses.replace(record, line=line)
    return moved
