"""A DVC repository as the source of ``pivot import``: what it records, and its remote's objects.

What DVC records for a path at a commit is read from the files DVC commits: ``dvc.lock``
(a stage's ``outs``, paths relative to the lock's folder) and ``*.dvc`` files (``dvc add``,
paths relative to the ``.dvc`` file's folder). Each out names its data by MD5: a file's bytes,
or for a folder (``<md5>.dir``) a JSON listing ``[{"md5", "relpath"}, ...]`` stored as an
object of its own.

The objects are read from the source's DVC remote (``.dvc/config`` at the commit: ``core.remote``
and its ``url``, ``endpointurl`` and ``region``) through the same :class:`BlobStore` as every
other remote, by name: ``files/md5/ab/cdef…`` (DVC 3), else ``ab/cdef…`` (DVC 2). Each object
is checked against its MD5, then enters this cache under its xxhash like any other blob, so
from here on the import is ordinary tracked data. Each MD5's xxhash is remembered in the local
state (``DB_FOREIGN``): an update, or an import of another revision, downloads only the objects
whose bytes the cache does not hold yet.

Not read: ``.dvc/config.local`` (not committed), a stage's ``wdir``, and remotes of a kind
Pivot has no store for (ssh, http, webdav…): those are one line that says so.
"""

from __future__ import annotations

import configparser
import dataclasses
import hashlib
import json
import os
import posixpath
import re
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pivot.core.project import Project
from pivot.core.remote import (
    BlobStore,
    Direction,
    ProgressCallback,
    ProgressTracker,
    RemoteLocation,
    open_store,
)
from pivot.core.store.hashing import FileEntry, hash_file, is_digest, manifest_hash
from pivot.core.store.lock import OutRecord
from pivot.core.store.paths import is_within
from pivot.core.store.safe_yaml import load_yaml
from pivot.core.store.source_repo import SourceRepo
from pivot.core.store.state import DB_FOREIGN
from pivot.exceptions import ConfigError, RemoteError, UsageError

__all__ = [
    "DvcConfig",
    "DvcFetch",
    "DvcOut",
    "dvc_remote",
    "fetch_dvc_out",
    "is_dvc_repo",
    "locate_dvc",
    "read_config",
]

DVC_DIR = ".dvc"
_CONFIG = f"{DVC_DIR}/config"
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_REMOTE_SECTION = re.compile(r"""^'?remote\s+"([^"]+)"'?$""")
_SCHEMES = ("s3://", "gs://", "azure://")
#: Files up to this size are also checked against DVC 2's CRLF-to-LF MD5 of text.
_DOS2UNIX_LIMIT = 64 << 20


@dataclasses.dataclass(frozen=True)
class DvcOut:
    """One out DVC records: ``path`` (source-relative) with the MD5 of its bytes or listing."""

    path: str
    md5: str  # 32 hex digits, without ".dir"
    is_dir: bool
    where: str  # the file that records it, for messages
    size: int = 0  # bytes as recorded (a folder's total); 0 if not recorded


def is_dvc_repo(source: SourceRepo, commit: str) -> bool:
    return source.kind(commit, DVC_DIR) == "tree"


# -- what the source records ------------------------------------------------------------------


def locate_dvc(source: SourceRepo, commit: str, path: str, label: str) -> DvcOut:
    """The out of ``path`` or the folder out holding it; UsageError naming what it is instead."""
    files = source.list_files(commit)
    records = [f for f in files if posixpath.basename(f) == "dvc.lock" or f.endswith(".dvc")]
    texts = source.read_files(commit, records)
    for record_path in records:
        folder = posixpath.dirname(record_path)
        for out in _outs(texts.get(record_path, b""), record_path, source, label):
            out_path = posixpath.normpath(posixpath.join(folder, str(out.get("path", ""))))
            if not is_within(path, out_path):
                continue
            md5 = str(out.get("md5", ""))
            digest = md5.removesuffix(".dir")
            if not _MD5.match(digest):
                raise UsageError(
                    f"{record_path} of {source.repo} at {label} records no usable MD5 for "
                    f"'{out_path}' ({md5!r}); `dvc commit` it there"
                )
            size = out.get("size")
            out_record = DvcOut(
                out_path,
                digest,
                md5.endswith(".dir"),
                record_path,
                size if isinstance(size, int) and size >= 0 else 0,
            )
            if out_path != path and not out_record.is_dir:
                continue
            if out_path not in files:  # else `cache: false`: kept in git, never on the remote
                return out_record
    if path in files:
        raise UsageError(
            f"'{path}' is a file committed to git in {source.repo} at {label} (for DVC an "
            "output with `cache: false`, such as a metric), not data DVC caches; only cached "
            "stage outputs (dvc.lock) and `dvc add`-ed data (.dvc files) can be imported"
        )
    where = f"{source.repo} at {label}"
    raise UsageError(
        f"'{path}' is not in {where}: neither an output in a dvc.lock nor data of a .dvc file "
        "(check the path, which is relative to that repository's root, and the revision)"
    )


def _outs(
    text: bytes, record_path: str, source: SourceRepo, label: str
) -> Iterator[dict[str, Any]]:
    """The ``outs`` entries of a dvc.lock (every stage's) or of a .dvc file."""
    try:
        data = load_yaml(text)
    except Exception as exc:
        raise UsageError(
            f"{record_path} of {source.repo} at {label} is not valid YAML: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(data, dict):
        return
    if record_path.endswith(".dvc"):
        holders: list[Any] = [data]
    else:
        stages = data.get("stages")
        holders = list(stages.values()) if isinstance(stages, dict) else []
    for holder in holders:
        outs = holder.get("outs") if isinstance(holder, dict) else None
        for out in outs if isinstance(outs, list) else ():
            if isinstance(out, dict):
                yield out


# -- where its objects are --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DvcConfig:
    """The remotes of a committed ``.dvc/config``: each one's options by name, and the
    default one (``core.remote``; empty when unset)."""

    remotes: dict[str, dict[str, str]]
    default: str


def read_config(source: SourceRepo, commit: str, label: str) -> DvcConfig:
    text = source.read_files(commit, [_CONFIG]).get(_CONFIG, b"")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text.decode("utf-8", "replace"))
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(
            f"{_CONFIG} of {source.repo} at {label} cannot be read: {first}"
        ) from None
    found: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        match = _REMOTE_SECTION.match(section.strip())
        if match:
            found[match.group(1)] = dict(parser[section])
    return DvcConfig(found, parser.get("core", "remote", fallback="").strip())


def dvc_remote(
    source: SourceRepo, label: str, config: DvcConfig, name: str | None
) -> RemoteLocation:
    """The DVC remote ``name`` of ``config``, or its default one. (A ``--remote`` that names
    none of them is the caller's to resolve, as for Pivot sources.)"""
    name = name or config.default
    if not name:
        raise ConfigError(
            f"{source.repo} sets no default DVC remote in its committed {_CONFIG} at {label}; "
            "pass --remote with the remote's name there, a remote of this project, or a URL"
        )
    options = config.remotes.get(name)
    if options is None:
        raise ConfigError(
            f"{source.repo}'s {_CONFIG} at {label} names default remote '{name}' but does not "
            "define it; pass --remote with a remote of this project or the URL it pushes to"
        )
    url = options.get("url", "")
    if not url:
        raise ConfigError(
            f"the DVC remote '{name}' of {source.repo} at {label} has no url; pass --remote "
            "with a remote of this project or the URL it pushes to"
        )
    folder_root = source.local_root / DVC_DIR if source.local_root is not None else None
    if not url.startswith(_SCHEMES) and "://" in url:
        raise ConfigError(
            f"the DVC remote '{name}' of {source.repo} is {url}, a kind Pivot cannot read "
            "(it reads s3://, gs://, azure:// and folders); pass --remote with a copy it can"
        )
    try:
        return RemoteLocation.parse(
            name,
            url,
            options.get("endpointurl") if url.startswith("s3://") else None,
            options.get("region") if url.startswith("s3://") else None,
            account=options.get("account_name") if url.startswith("azure://") else None,
            root=folder_root,
        )
    except ConfigError as exc:
        raise ConfigError(f"the DVC remote of {source.repo} at {label}: {exc}") from None


# -- fetching ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DvcFetch:
    """What :func:`fetch_dvc_out` brought: the import's record in this cache's terms."""

    record: OutRecord
    fetched: int  # objects downloaded


def fetch_dvc_out(
    project: Project,
    location: RemoteLocation,
    out: DvcOut,
    path: str,
    target: str,
    *,
    what: str,
    jobs: int,
    progress: ProgressCallback | None = None,
) -> DvcFetch:
    """Bring ``path`` (``out`` itself, or a file or sub-folder of a folder out) into this cache,
    each object checked against its MD5; the record names it ``target`` in this project.
    ``progress`` hears of each file; the byte total is the recorded size of a whole out, and
    unknown (0) for a part of a folder."""
    store = open_store(location, jobs=jobs)
    tracker = ProgressTracker(Direction.FETCH, progress)
    try:
        store.check()
        with tempfile.TemporaryDirectory(dir=_scratch(project)) as scratch:
            reader = _ObjectReader(project, store, Path(scratch), what, tracker)
            if not out.is_dir:
                tracker.start(1, out.size)
                digest, size = reader.file(out.md5, out.path)
                return DvcFetch(OutRecord(target, digest, size), reader.fetched)
            listing = reader.listing(out.md5, out.path)
            rel = "" if path == out.path else path[len(out.path) + 1 :]
            if rel in listing:  # one file of the folder
                tracker.start(1, 0)
                digest, size = reader.file(listing[rel], path)
                return DvcFetch(OutRecord(target, digest, size), reader.fetched)
            inner = {
                name[len(rel) + 1 :] if rel else name: md5
                for name, md5 in listing.items()
                if not rel or name.startswith(rel + "/")
            }
            if not inner:
                raise UsageError(
                    f"'{path}' is not in {what}: the folder '{out.path}' has no such entry"
                )
            tracker.start(len(inner), 0 if rel else out.size)
            with ThreadPoolExecutor(max_workers=max(1, min(jobs, 16, len(inner)))) as pool:
                got = list(
                    pool.map(
                        lambda item: (item[0], *reader.file(item[1], item[0])),
                        sorted(inner.items()),
                    )
                )
            entries = [FileEntry(name, digest, size) for name, digest, size in got]
            total = sum(entry.size for entry in entries)
            return DvcFetch(
                OutRecord(target, manifest_hash(entries), total, tuple(entries)), reader.fetched
            )
    finally:
        tracker.finish()
        store.close()


def _scratch(project: Project) -> Path:
    """Downloads land beside the cache, so entering it is a rename on the same filesystem."""
    folder = project.cache.root / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class _ObjectReader:
    """Reads DVC objects by MD5 from one store into this cache (thread-safe for files)."""

    def __init__(
        self, project: Project, store: BlobStore, scratch: Path, what: str, tracker: ProgressTracker
    ) -> None:
        self.project = project
        self.tracker = tracker
        self.store = store
        self.scratch = scratch
        self.what = what
        self.fetched = 0
        self._count = threading.Lock()

    def _get(self, name: str, md5: str, suffix: str = "") -> Path:
        handle, temp = tempfile.mkstemp(dir=self.scratch)
        os.close(handle)
        target = Path(temp)
        for key in (f"files/md5/{md5[:2]}/{md5[2:]}{suffix}", f"{md5[:2]}/{md5[2:]}{suffix}"):
            if self.store.get_object(key, target):
                break
        else:
            raise RemoteError(
                f"'{name}' of {self.what} is not on {self.store.describe()} (DVC object "
                f"{md5}{suffix}); `dvc push` it from that repository"
            )
        with self._count:
            self.fetched += 1
        if md5 not in _md5s(target):
            raise RemoteError(
                f"the DVC object {md5}{suffix} for '{name}' on {self.store.describe()} is corrupt "
                "(its bytes do not hash to its name); it was not stored locally"
            )
        return target

    def file(self, md5: str, name: str) -> tuple[str, int]:
        """The xxhash and size of the file object ``md5``, now in this cache: downloaded,
        unless an earlier import saw those bytes and the cache still holds them."""
        if not _MD5.match(md5):
            raise RemoteError(f"{self.what} lists '{name}' with an unusable MD5 {md5!r}")
        known = self._known(md5)
        if known is not None and self.project.cache.has(known[0]):
            digest, size = known
        else:
            downloaded = self._get(name, md5)
            digest = hash_file(downloaded)
            size = downloaded.stat().st_size
            self.project.cache.add_written(digest, downloaded.replace)
            entry = f"{digest} {size}".encode()
            self.project.state.put_many(DB_FOREIGN, [(b"md5:" + md5.encode(), entry)])
        self.tracker.add_bytes(size)
        self.tracker.file_done(name)
        return digest, size

    def _known(self, md5: str) -> tuple[str, int] | None:
        value = self.project.state.get(DB_FOREIGN, b"md5:" + md5.encode())
        if value is None:
            return None
        digest, _, size = value.decode().partition(" ")
        return (digest, int(size)) if is_digest(digest) and size.isdigit() else None

    def listing(self, md5: str, name: str) -> dict[str, str]:
        """A folder object: relative path -> MD5 of each file."""
        downloaded = self._get(name, md5, ".dir")
        try:
            entries = json.loads(downloaded.read_bytes())
            listing = {str(e["relpath"]): str(e["md5"]) for e in entries}
        except (ValueError, TypeError, KeyError):
            raise RemoteError(
                f"the DVC folder listing {md5}.dir for '{name}' is not the JSON DVC writes"
            ) from None
        for rel in listing:
            if rel.startswith("/") or ".." in rel.split("/"):
                raise RemoteError(f"the DVC folder listing for '{name}' names {rel!r}, outside it")
        return listing


def _md5s(path: Path) -> tuple[str, ...]:
    """The MD5 of the file's bytes, and for a small file also the one DVC 2 recorded for text
    (computed with CRLF turned into LF)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if path.stat().st_size > _DOS2UNIX_LIMIT:
        return (digest.hexdigest(),)
    data = path.read_bytes()
    return digest.hexdigest(), hashlib.md5(
        data.replace(b"\r\n", b"\n"), usedforsecurity=False
    ).hexdigest()
