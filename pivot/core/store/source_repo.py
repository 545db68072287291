"""Another repository that data is imported from (``pivot import``), read through a local mirror.

Every source repository, local path or URL alike, is fetched into a bare mirror under
``.pivot/cache/repos/<key>.git`` (gitignored with the rest of the cache): its branches and tags,
plus its ``HEAD`` as a detached ``HEAD`` of the mirror, so a revision means in the mirror what it
means in the source (``main``, ``v1``, a commit id, ``HEAD~1``). One code path for every kind
of URL, and later fetches only move what changed. Lock files, manifests and the committed
config are then read from the mirror at the resolved commit with ``git cat-file``; no work tree
is ever checked out.

Git runs without prompts (``GIT_TERMINAL_PROMPT=0``, ssh in batch mode) and with a time limit,
so an unreachable source fails with one line instead of hanging.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from pivot.core.store.atomic import remove_path
from pivot.core.store.paths import STAGES_DIR, PivotPaths
from pivot.exceptions import SourceRepoError, UsageError

__all__ = ["FETCH_TIMEOUT", "SourceRepo", "is_url", "repo_location"]

#: Seconds a fetch may take before the source counts as unreachable.
FETCH_TIMEOUT = 300.0
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[^/:]+:|^[^/:]+:[^/]")
_HEAD_REF = "refs/pivot/source-head"


def is_url(repo: str) -> bool:
    """True for a git URL (``scheme://…`` or scp-like ``user@host:path``), False for a path."""
    return "://" in repo or (bool(_SCP_LIKE.match(repo)) and not Path(repo).exists())


def repo_location(root: Path, repo: str) -> str:
    """What git is given for ``repo``: a URL as is, a path made absolute (a relative path is
    relative to the project root, as manifests record it)."""
    if is_url(repo):
        return repo
    return os.path.normpath(root / Path(repo).expanduser())


class SourceRepo:
    """The mirror of one source repository in this project's cache."""

    def __init__(self, root: Path, repo: str) -> None:
        self.repo = repo
        self.location = repo_location(root, repo)
        key = hashlib.sha256(self.location.encode()).hexdigest()[:16]
        self.git_dir = PivotPaths(root).cache / "repos" / f"{key}.git"

    @property
    def local_root(self) -> Path | None:
        """The source's folder when it is a local path (a relative folder remote there is
        relative to it), else None."""
        return None if is_url(self.repo) else Path(self.location)

    # -- fetching -------------------------------------------------------------------------

    def fetch(self, timeout: float = FETCH_TIMEOUT) -> None:
        """Bring the mirror up to date with the source (creating it on first use)."""
        if self.local_root is not None and not self.local_root.exists():
            raise SourceRepoError(f"cannot import from {self.repo}: {self.location} does not exist")
        if not (self.git_dir / "HEAD").is_file():
            self._create()
        proc = self._git(
            [
                "fetch",
                "--prune",
                "--force",
                "--quiet",
                "--no-write-fetch-head",
                "--",
                self.location,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
                f"+HEAD:{_HEAD_REF}",
            ],
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise SourceRepoError(self._fetch_failure(proc.stderr))
        self._git_ok(["update-ref", "--no-deref", "HEAD", _HEAD_REF])

    def _create(self) -> None:
        """``git init --bare`` into a temp folder renamed into place, so a killed first fetch
        never leaves a half-made mirror where the next command looks."""
        self.git_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.git_dir.with_name(self.git_dir.name + f".tmp-{os.getpid()}")
        remove_path(tmp)
        proc = _run_git(self.git_dir.parent, ["init", "--quiet", "--bare", str(tmp)], timeout=60)
        if proc.returncode != 0:
            raise SourceRepoError(f"cannot create a mirror of {self.repo}: {_first(proc.stderr)}")
        os.replace(tmp, self.git_dir)

    def _fetch_failure(self, stderr: bytes) -> str:
        text = stderr.decode(errors="replace")
        first = _first(stderr)
        if "couldn't find remote ref HEAD" in text or "couldn't find remote ref" in text:
            return f"cannot import from {self.repo}: it has no commits"
        if "does not appear to be a git repository" in text or "not a git repository" in text:
            return f"cannot import from {self.repo}: it is not a git repository ({first})"
        return f"cannot reach {self.repo}: {first}; check the URL or path and your access to it"

    # -- revisions ------------------------------------------------------------------------

    def resolve(self, rev: str | None) -> str:
        """The commit ``rev`` (default: the source's HEAD) names in the fetched mirror."""
        asked = rev or "HEAD"
        if asked.startswith("-") or not asked.strip():
            raise UsageError(f"{asked!r} is not a git revision")
        proc = self._git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{asked}^{{commit}}"]
        )
        if proc.returncode != 0:
            raise UsageError(
                f"unknown revision {asked!r} in {self.repo} (use a branch, tag, commit or an "
                f"expression such as HEAD~1 that exists there)"
            )
        return proc.stdout.decode().strip()

    # -- files at a commit ----------------------------------------------------------------

    def read_files(self, commit: str, paths: Sequence[str]) -> dict[str, bytes]:
        """The committed bytes of those of ``paths`` that are files at ``commit``."""
        if not paths:
            return {}
        request = "".join(f"{commit}:{path}\n" for path in paths).encode()
        out = self._git_ok(["cat-file", "--batch"], stdin=request)
        found: dict[str, bytes] = {}
        pos = 0
        for path in paths:
            eol = out.index(b"\n", pos)
            header = out[pos:eol].split()
            pos = eol + 1
            if len(header) != 3:  # "<name> missing", or an ambiguous name
                continue
            size = int(header[2])
            if header[1] == b"blob":
                found[path] = out[pos : pos + size]
            pos += size + 1
        return found

    def list_files(self, commit: str) -> list[str]:
        """Every file path committed at ``commit``."""
        listing = self._git_ok(["ls-tree", "-r", "-z", "--name-only", commit])
        return [name.decode("utf-8", "surrogateescape") for name in listing.split(b"\0") if name]

    def kind(self, commit: str, path: str) -> str | None:
        """``blob``, ``tree`` or None: what git holds at ``path`` at ``commit``."""
        out = self._git_ok(["cat-file", "--batch-check"], stdin=f"{commit}:{path}\n".encode())
        parts = out.decode(errors="replace").split()
        return parts[1] if len(parts) == 3 else None

    def lock_texts(self, commit: str) -> dict[str, str]:
        """The lock files committed at ``commit``, by path."""
        if self.kind(commit, STAGES_DIR) != "tree":
            return {}
        listing = self._git_ok(["ls-tree", "-z", "--name-only", f"{commit}:{STAGES_DIR}"])
        names = [
            f"{STAGES_DIR}/{name.decode('utf-8', 'surrogateescape')}"
            for name in listing.split(b"\0")
            if name.endswith(b".lock")
        ]
        return {
            path: data.decode("utf-8", "surrogateescape")
            for path, data in self.read_files(commit, names).items()
        }

    # -- git ------------------------------------------------------------------------------

    def _git(
        self, args: Sequence[str], stdin: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[bytes]:
        return _run_git(self.git_dir, args, stdin=stdin, timeout=timeout)

    def _git_ok(self, args: Sequence[str], stdin: bytes | None = None) -> bytes:
        proc = self._git(args, stdin=stdin)
        if proc.returncode != 0:
            raise SourceRepoError(
                f"git {args[0]} failed in the mirror of {self.repo} ({self.git_dir}): "
                f"{_first(proc.stderr)}; delete that folder to fetch it afresh"
            )
        return proc.stdout


def parent_paths(path: str) -> list[str]:
    """``path`` and each folder above it, deepest first: where a manifest may track it."""
    pure = PurePosixPath(path)
    return [pure.as_posix(), *(p.as_posix() for p in pure.parents if p.as_posix() != ".")]


def _first(stderr: bytes) -> str:
    lines = [
        line.removeprefix("fatal: ").removeprefix("error: ").strip()
        for line in stderr.decode(errors="replace").splitlines()
        if line.strip()
    ]
    return lines[0] if lines else "no message"


def _run_git(
    cwd: Path, args: Sequence[str], *, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    git = shutil.which("git")
    if git is None:
        raise SourceRepoError("git is not installed or not on PATH; it is needed to import data")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=15")
    try:
        return subprocess.run(
            [
                git,
                "-c",
                "http.lowSpeedLimit=1000",
                "-c",
                "http.lowSpeedTime=30",
                *args,
            ],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            check=False,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise SourceRepoError(
            f"git {args[0]} gave no answer within {timeout:.0f} s; the source repository is "
            "unreachable or too slow"
        ) from None
