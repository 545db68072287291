"""Value objects of the fingerprint package and the one hash function they all share."""

from __future__ import annotations

import dataclasses

import xxhash

#: Bumped whenever the hashed representation changes, so old lock files re-run once instead of
#: silently comparing hashes computed two different ways.
ALGORITHM = "pivot-code/1"


@dataclasses.dataclass(frozen=True)
class SourceRecord:
    """The source text behind one manifest key, kept so `explain` can show a diff later."""

    key: str
    #: Path relative to the project root (posix); Pivot's own files appear as ``pivot/...``;
    #: ``""`` when the text has no file (loader configuration, closure values).
    file: str
    #: 1-based first line in ``file``; 0 when there is no file.
    line: int
    source: str


@dataclasses.dataclass(frozen=True)
class FileStat:
    """What a source file looked like when it was read, for stat-based cache validation."""

    path: str
    ino: int
    mtime_ns: int
    size: int
    #: xxhash64 of the bytes that were parsed.
    digest: str
    #: The file was modified so shortly before it was read that a later edit could keep the same
    #: mtime; a cached entry must then compare ``digest`` instead of trusting the stat.
    racy: bool


@dataclasses.dataclass(frozen=True)
class NameDep:
    """A fingerprint read ``path`` only through ``names``: while the statements behind them
    hash to ``digest``, other edits of the file leave the fingerprint valid."""

    path: str
    names: tuple[str, ...]
    digest: str


@dataclasses.dataclass(frozen=True)
class CodeFingerprint:
    """The code manifest of one stage: every piece of code and constant it reaches, hashed."""

    manifest: dict[str, str]
    sources: dict[str, SourceRecord]
    warnings: tuple[str, ...]
    files: tuple[str, ...]
    #: Stat of every file in ``files`` (and of Pivot's own loader sources) at the moment it was
    #: read; used by :func:`fingerprint_cache_entry`. Not part of equality.
    file_stats: tuple[FileStat, ...] = dataclasses.field(default=(), compare=False, repr=False)
    #: Files read only through some of their names (see ``_deps``). Not part of equality.
    name_deps: tuple[NameDep, ...] = dataclasses.field(default=(), compare=False, repr=False)


def digest(key: str, payload: str) -> str:
    """The 16-hex manifest hash of ``payload`` under ``key``.

    The key is part of the hashed content, so two keys never share a hash and the source store,
    which is addressed by hash, maps each hash back to exactly one key's text.
    """
    return xxhash.xxh64(f"{ALGORITHM}\0{key}\0{payload}".encode()).hexdigest()
