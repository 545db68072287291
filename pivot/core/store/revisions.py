"""Read project files as they were at a git revision.

A file's old content lives in one of two places:

- in git, when the file itself is committed (``git cat-file REV:path``);
- in the local cache, when the file is a pipeline output: the stage lock files committed at
  REV (``.pivot/stages/<stage>.lock``) name the output's content hash, and the blob sits at
  ``.pivot/cache/files/<h[:2]>/<h[2:]>``. A path inside a directory output is found through
  the ``files`` manifest of that output.

The project root may be a sub-folder of the git work tree: paths given here are always
relative to the project root (posix), and are translated to repository paths with the
prefix git reports for the root. Outside a Pivot project, the root is the top of the git
work tree (:func:`find_revision_root`): committed files need nothing else.

Everything here shells out to ``git`` with argument lists (never a shell) and asks for
object ids and types with ``cat-file --batch-check`` so that odd characters in paths are
never interpreted as pathspecs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from pivot.core.store.atomic import atomic_path
from pivot.core.store.cache import Cache
from pivot.core.store.hashing import copy_hashing, hash_bytes
from pivot.core.store.lock import parse_lock
from pivot.core.store.paths import (
    LOCK_SUFFIX,
    STAGES_DIR,
    PivotPaths,
    find_project_root,
    relative_posix_path,
)
from pivot.exceptions import CacheError, ProjectError, UsageError

__all__ = [
    "DirectoryOutput",
    "RevisionFile",
    "RevisionReader",
    "find_file_at_revision",
    "find_revision_root",
    "list_files_at_revision",
    "read_at_revision",
]

Source = Literal["git", "cache"]
_GIT_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class RevisionFile:
    """One file as it was at a revision, and where its bytes can be read from.

    ``object_id`` is the git blob id when ``source == "git"``, else the xxhash64 digest of
    the content in the cache. ``stage`` names the stage that produced a cached output.
    """

    root: Path
    path: str
    rev: str
    source: Source
    object_id: str
    stage: str | None = None
    size: int | None = None

    @property
    def cache_path(self) -> Path | None:
        """The blob's path in the local cache (cached outputs only; it may be missing)."""
        if self.source != "cache":
            return None
        return Cache(PivotPaths(self.root).cache).blob_path(self.object_id)

    def local_path(self) -> Path | None:
        """A readable file with this content on local disk, when one exists without copying.

        Raises :class:`CacheError` when the content should be in the cache but is not.
        """
        blob = self.cache_path
        if blob is None:
            return None
        if not blob.is_file():
            raise CacheError(self._missing_message())
        return blob

    def read_bytes(self) -> bytes:
        """The file's content; cache blobs are checked against their hash."""
        if self.source == "git":
            return _git_bytes(self.root, ["cat-file", "blob", self.object_id])
        blob = self.local_path()
        assert blob is not None
        data = blob.read_bytes()
        _check_digest(hash_bytes(data), self.object_id, f"{self.path} at {self.rev}")
        return data

    def materialise(self, dest: Path) -> None:
        """Write the content to ``dest`` atomically (temp file in the same folder, rename)."""
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as out:
                if self.source == "git":
                    _git_to_file(self.root, self.object_id, out.fileno())
                else:
                    blob = self.local_path()
                    assert blob is not None
                    with blob.open("rb") as src:
                        actual, _ = copy_hashing(src.read, out)
                    _check_digest(actual, self.object_id, f"{self.path} at {self.rev}")
            os.chmod(tmp, 0o644)

    def _missing_message(self) -> str:
        stage = f" (output of stage '{self.stage}')" if self.stage else ""
        pull = f"pivot pull {self.stage}" if self.stage else "pivot pull"
        return (
            f"{self.path} at {self.rev}{stage} is not in the local cache "
            f"(blob {self.object_id}); run `{pull}` to fetch it from the remote"
        )


@dataclass(frozen=True)
class DirectoryOutput:
    """A directory output recorded in a lock file."""

    path: str
    stage: str
    files: Mapping[str, tuple[str, int | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class _FileOutput:
    path: str
    stage: str
    digest: str
    size: int | None


class RevisionReader:
    """Looks files up at one git revision of one project; caches the lock index it reads.

    Construction resolves the revision to a commit, so a bad revision fails early with a
    :class:`UsageError`, and a project outside git with a :class:`ProjectError`.
    """

    def __init__(self, root: Path, rev: str = "HEAD") -> None:
        self.root = root
        self.rev = rev
        self.toplevel, self.prefix = _git_location(root)
        self.commit = _resolve_commit(self.toplevel, rev)
        self._locks: tuple[dict[str, _FileOutput], dict[str, DirectoryOutput]] | None = None

    # -- public lookups -------------------------------------------------------------------

    def find_file(self, path: str) -> RevisionFile | None:
        """The file at ``path`` (project-relative posix) at this revision, or ``None``.

        Git is consulted first; then the outputs recorded in the lock files at the revision.
        A directory (in git or as a directory output) is not a file: ``None``.
        """
        path = relative_posix_path(path)
        kind, oid, size = self._git_object(path)
        if kind == "blob":
            return RevisionFile(self.root, path, self.rev, "git", oid, size=size)
        if kind is not None:
            return None
        return self._find_cached(path)

    def list_files(self, path: str) -> list[RevisionFile]:
        """Every file at or under ``path`` at this revision (a file, or a directory's files).

        Raises :class:`ProjectError` when the path is neither in git nor a recorded output.
        """
        path = relative_posix_path(path)
        kind, oid, size = self._git_object(path)
        if kind == "blob":
            return [RevisionFile(self.root, path, self.rev, "git", oid, size=size)]
        if kind == "tree":
            return list(self._git_tree_files(path, oid))
        cached = self._find_cached(path)
        if cached is not None:
            return [cached]
        files = self._cached_directory(path)
        if files:
            return files
        raise ProjectError(self.not_found_message(path))

    def read(self, path: str) -> bytes:
        """The bytes of the file at ``path`` at this revision."""
        found = self.find_file(path)
        if found is None:
            raise ProjectError(self.not_found_message(path))
        return found.read_bytes()

    def not_found_message(self, path: str) -> str:
        return (
            f"{path} does not exist at {self.rev}: it is neither committed to git nor an "
            f"output recorded in the lock files there (check the path, or the revision)"
        )

    # -- git ------------------------------------------------------------------------------

    def _repo_path(self, path: str) -> str:
        return self.prefix + path

    def _git_object(self, path: str) -> tuple[str | None, str, int | None]:
        line = _git_text(
            self.toplevel,
            ["cat-file", "--batch-check"],
            stdin=f"{self.commit}:{self._repo_path(path)}\n",
        ).strip()
        parts = line.split(" ")
        if (
            len(parts) == 3
            and parts[1] in ("blob", "tree", "commit")
            and set(parts[0]) <= _GIT_HEX
            and parts[2].isdigit()
        ):
            return parts[1], parts[0], int(parts[2]) if parts[1] == "blob" else None
        return None, "", None

    def _git_tree_files(self, path: str, tree: str) -> Iterator[RevisionFile]:
        out = _git_bytes(self.toplevel, ["ls-tree", "-r", "-z", "--long", tree])
        for entry in out.split(b"\0"):
            if not entry:
                continue
            meta, _, name = entry.partition(b"\t")
            _mode, kind, oid, size = meta.decode().split()
            if kind != "blob":
                continue
            rel = f"{path}/{name.decode('utf-8', 'surrogateescape')}"
            yield RevisionFile(self.root, rel, self.rev, "git", oid, size=int(size))

    # -- lock files -----------------------------------------------------------------------

    def _find_cached(self, path: str) -> RevisionFile | None:
        files, dirs = self._lock_index()
        out = files.get(path)
        if out is not None:
            return RevisionFile(
                self.root, path, self.rev, "cache", out.digest, stage=out.stage, size=out.size
            )
        for parent in PurePosixPath(path).parents:
            directory = dirs.get(str(parent))
            if directory is None:
                continue
            rel = PurePosixPath(path).relative_to(parent).as_posix()
            entry = directory.files.get(rel)
            if entry is None:
                return None
            digest, size = entry
            return RevisionFile(
                self.root, path, self.rev, "cache", digest, stage=directory.stage, size=size
            )
        return None

    def _cached_directory(self, path: str) -> list[RevisionFile]:
        files, dirs = self._lock_index()
        found: list[RevisionFile] = []
        for dpath, directory in sorted(dirs.items()):
            if dpath != path and not dpath.startswith(path + "/"):
                continue
            for rel, (digest, size) in sorted(directory.files.items()):
                found.append(
                    RevisionFile(
                        self.root,
                        f"{dpath}/{rel}",
                        self.rev,
                        "cache",
                        digest,
                        stage=directory.stage,
                        size=size,
                    )
                )
        for fpath, out in sorted(files.items()):
            if fpath.startswith(path + "/"):
                found.append(
                    RevisionFile(
                        self.root, fpath, self.rev, "cache", out.digest, out.stage, out.size
                    )
                )
        return found

    def _lock_index(self) -> tuple[dict[str, _FileOutput], dict[str, DirectoryOutput]]:
        if self._locks is None:
            self._locks = self._read_locks()
        return self._locks

    def _read_locks(self) -> tuple[dict[str, _FileOutput], dict[str, DirectoryOutput]]:
        files: dict[str, _FileOutput] = {}
        dirs: dict[str, DirectoryOutput] = {}
        kind, tree, _ = self._git_object(STAGES_DIR)
        if kind != "tree":
            return files, dirs
        # -r: composed stages keep their locks in a folder per pipeline
        listing = _git_bytes(self.toplevel, ["ls-tree", "-r", "-z", tree])
        blobs: list[tuple[str, str]] = []
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, _, raw_name = entry.partition(b"\t")
            _mode, otype, oid = meta.decode().split()
            name = raw_name.decode("utf-8", "surrogateescape")
            if otype == "blob" and name.endswith(LOCK_SUFFIX):
                blobs.append((name, oid))
        texts = _cat_blobs(self.toplevel, [oid for _, oid in blobs])
        for (name, _oid), text in zip(blobs, texts, strict=True):
            where = f"{STAGES_DIR}/{name} at {self.rev}"
            # Locks from any revision go through the one lock parser, with its guards.
            lock = parse_lock(text.decode("utf-8", "surrogateescape"), where)
            for out in lock.outs:
                if out.files is not None:
                    manifest = {f.path: (f.hash, f.size) for f in out.files}
                    dirs[out.path] = DirectoryOutput(out.path, lock.stage, manifest)
                else:
                    files[out.path] = _FileOutput(out.path, lock.stage, out.hash, out.size)
        return files, dirs


def find_revision_root(start: Path | None = None) -> Path:
    """The folder that revision paths are relative to, found from ``start`` (default: cwd).

    That is the Pivot project around ``start`` when there is one (its lock files name cached
    outputs), else the top of the git work tree: reading committed files needs only git.
    """
    try:
        return find_project_root(start)
    except ProjectError:
        pass
    here = (start or Path.cwd()).resolve()
    proc = _git(here, ["rev-parse", "--show-toplevel"])
    if proc.returncode != 0:
        raise ProjectError(
            f"{here} is in neither a Pivot project nor a git repository; old versions of "
            f"files are read from git (run `git init` and commit first)"
        )
    return Path(proc.stdout.decode("utf-8", "surrogateescape").strip()).resolve()


def find_file_at_revision(root: Path, path: str, rev: str) -> RevisionFile | None:
    """The file ``path`` (relative to the project root) at ``rev``, or ``None``."""
    return RevisionReader(root, rev).find_file(path)


def list_files_at_revision(root: Path, path: str, rev: str) -> list[RevisionFile]:
    """Every file at or under ``path`` at ``rev``; :class:`ProjectError` if there is none."""
    return RevisionReader(root, rev).list_files(path)


def read_at_revision(root: Path, path: str, rev: str) -> bytes:
    """The content of ``path`` (posix, relative to the project root ``root``) at ``rev``.

    Reads ``git show REV:path`` when the file is committed; otherwise the blob of the output
    recorded in the lock files committed at ``rev``, from the local cache. Raises
    :class:`CacheError` (with a ``pivot pull`` hint) when that blob is not cached here,
    :class:`ProjectError` when the path exists in neither place, :class:`UsageError` for a
    revision git does not know.
    """
    return RevisionReader(root, rev).read(path)


# -- hashing ------------------------------------------------------------------------------


def _check_digest(actual: str, expected: str, what: str) -> None:
    if actual != expected:
        raise CacheError(
            f"cache blob for {what} is corrupt (hash {actual}, expected {expected}); "
            f"delete it and run `pivot pull` to fetch a good copy"
        )


# -- git plumbing -------------------------------------------------------------------------


def _git(
    cwd: Path, args: Sequence[str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    git = shutil.which("git")
    if git is None:
        raise ProjectError("git is not installed or not on PATH; it is needed to read revisions")
    return subprocess.run(
        [git, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
    )


def _git_bytes(cwd: Path, args: Sequence[str], stdin: str | None = None) -> bytes:
    proc = _git(cwd, args, stdin.encode() if stdin is not None else None)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ProjectError(f"git {args[0]} failed: {msg[0] if msg else 'no message'}")
    return proc.stdout


def _git_text(cwd: Path, args: Sequence[str], stdin: str | None = None) -> str:
    return _git_bytes(cwd, args, stdin).decode("utf-8", "surrogateescape")


def _git_to_file(cwd: Path, oid: str, fileno: int) -> None:
    git = shutil.which("git")
    if git is None:
        raise ProjectError("git is not installed or not on PATH; it is needed to read revisions")
    proc = subprocess.run(
        [git, "cat-file", "blob", oid], cwd=cwd, stdout=fileno, stderr=subprocess.PIPE, check=False
    )
    if proc.returncode != 0:
        raise ProjectError(f"git cat-file failed: {proc.stderr.decode(errors='replace').strip()}")


def _cat_blobs(cwd: Path, oids: Sequence[str]) -> list[bytes]:
    """Read many blobs with one ``git cat-file --batch`` process."""
    if not oids:
        return []
    raw = _git_bytes(cwd, ["cat-file", "--batch"], stdin="".join(f"{o}\n" for o in oids))
    blobs: list[bytes] = []
    pos = 0
    for _ in oids:
        eol = raw.index(b"\n", pos)
        header = raw[pos:eol].decode().split()
        if len(header) != 3:
            raise ProjectError(f"git cat-file: unexpected reply {raw[pos:eol]!r}")
        size = int(header[2])
        start = eol + 1
        blobs.append(raw[start : start + size])
        pos = start + size + 1
    return blobs


def _git_location(root: Path) -> tuple[Path, str]:
    """The work tree's top folder and the project root's prefix inside it ('' or 'a/b/')."""
    proc = _git(root, ["rev-parse", "--show-toplevel", "--show-prefix"])
    if proc.returncode != 0:
        raise ProjectError(
            f"{root} is not inside a git repository; revisions can only be read from git "
            f"(run `git init` and commit first)"
        )
    lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
    top = Path(lines[0])
    prefix = lines[1] if len(lines) > 1 else ""
    return top, prefix


def _resolve_commit(toplevel: Path, rev: str) -> str:
    if not rev or rev.startswith("-"):
        raise UsageError(f"{rev!r} is not a git revision")
    proc = _git(
        toplevel, ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"]
    )
    if proc.returncode != 0:
        head = _git(toplevel, ["rev-parse", "--verify", "--quiet", "HEAD"])
        if head.returncode != 0:
            raise UsageError(
                f"unknown git revision {rev!r}: the repository has no commits yet "
                f"(commit first, then compare)"
            )
        raise UsageError(
            f"unknown git revision {rev!r} (use a branch, tag, commit or an expression "
            f"such as HEAD~1)"
        )
    return proc.stdout.decode().strip()


# -- history, for `pivot gc` --------------------------------------------------------------------


def recent_commits(root: Path, count: int) -> list[tuple[str, int]]:
    """The last ``count`` commits of HEAD as (sha, commit time), newest first; empty when
    ``root`` is not in a git repository or nothing is committed yet."""
    proc = _git(root, ["log", f"--max-count={count}", "--format=%H %ct", "HEAD"])
    if proc.returncode != 0:
        return []
    commits = []
    for line in proc.stdout.decode().splitlines():
        sha, _, when = line.partition(" ")
        commits.append((sha, int(when)))
    return commits


def record_files_at(
    root: Path, commits: Sequence[str], wanted: Callable[[str], bool]
) -> list[tuple[str, str, str]]:
    """Files whose project-relative path passes ``wanted`` in each of ``commits``, as
    (commit, path, text); a file unchanged across commits is read once, listed at the first."""
    if not commits:
        return []
    toplevel, prefix = _git_location(root)
    seen: set[str] = set()
    wanted_blobs: list[tuple[str, str, str]] = []
    for commit in commits:
        args = ["ls-tree", "-r", "-z", commit]
        if prefix:
            args += ["--", prefix]
        for entry in _git_bytes(toplevel, args).split(b"\0"):
            if not entry:
                continue
            meta, _, raw_name = entry.partition(b"\t")
            _mode, otype, oid = meta.decode().split()
            name = raw_name.decode("utf-8", "surrogateescape")[len(prefix) :]
            if otype == "blob" and oid not in seen and wanted(name):
                seen.add(oid)
                wanted_blobs.append((commit, name, oid))
    texts = _cat_blobs(toplevel, [oid for _, _, oid in wanted_blobs])
    return [
        (commit, name, text.decode("utf-8", "surrogateescape"))
        for (commit, name, _), text in zip(wanted_blobs, texts, strict=True)
    ]
