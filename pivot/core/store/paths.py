"""Where the project is, what lives where in ``.pivot/``, and how user-written paths map
onto the project. Every module asks here rather than spelling a path out itself.

```
.pivot/
  stages/<stage>.lock     lock files (committed)
  cache/files/ab/cdef…    content-addressed blobs      (store.cache owns the blob layout)
  cache/code/             source texts behind code fingerprints, for explain diffs
  cache/bytecode/         checked-hash .pyc of project modules
  state.lmdb/             LMDB: hash cache, fingerprint cache, run history, remote index
  logs/<run>/<stage>.log  captured output of each stage
  tmp/                    scratch space of transfers
  run.lock                one writer at a time (flock)
  config.yaml, config.local.yaml
```
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from pathlib import Path, PurePosixPath

from pivot.exceptions import ProjectError

PIVOT_DIR = ".pivot"
PIPELINE_FILE = "pipeline.py"
PARAMS_FILE = "params.yaml"
STAGES_DIR = f"{PIVOT_DIR}/stages"
LOCK_SUFFIX = ".lock"

#: Folders whose files are never the project's own code, wherever they sit in the project:
#: virtualenvs and installed packages, tool environments, Pivot's and git's folders, bytecode.
#: Discovery, code fingerprints, watch mode and the remote transport's code bundle all use
#: this one list, so they agree on what "project code" is.
NON_PROJECT_DIRS = frozenset(
    {
        PIVOT_DIR,
        ".git",
        ".venv",
        "venv",
        "site-packages",
        "dist-packages",
        ".tox",
        ".nox",
        "__pypackages__",
        "__pycache__",
        "node_modules",
    }
)


@dataclasses.dataclass(frozen=True)
class PivotPaths:
    """The layout of one project's ``.pivot/`` folder."""

    root: Path

    @property
    def pivot_dir(self) -> Path:
        return self.root / PIVOT_DIR

    @property
    def stages(self) -> Path:
        return self.root / STAGES_DIR

    @property
    def cache(self) -> Path:
        return self.pivot_dir / "cache"

    @property
    def run_cache(self) -> Path:
        return self.cache / "runs"

    @property
    def code_sources(self) -> Path:
        return self.cache / "code"

    @property
    def bytecode(self) -> Path:
        return self.cache / "bytecode"

    @property
    def state(self) -> Path:
        return self.pivot_dir / "state.lmdb"

    @property
    def logs(self) -> Path:
        return self.pivot_dir / "logs"

    @property
    def tmp(self) -> Path:
        return self.pivot_dir / "tmp"

    @property
    def run_lock(self) -> Path:
        return self.pivot_dir / "run.lock"

    def lock_file(self, stage: str) -> Path:
        return self.stages / f"{stage}{LOCK_SUFFIX}"


_PIVOT_GITIGNORE = """\
# Local to this machine: never commit these.
/cache/
/state.lmdb/
/logs/
/tmp/
/run.lock
/config.local.yaml
# A lock file being written (left behind if the writer was killed).
/stages/*.pivot-tmp-*
"""

_PIVOTIGNORE = """\
# Paths watch mode ignores (gitignore syntax).
*.pyc
__pycache__/
.venv/
.ipynb_checkpoints/
"""


def find_project_root(start: Path | None = None) -> Path:
    """Return the nearest ancestor of ``start`` (default: cwd) that holds a ``.pivot/`` folder."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PIVOT_DIR).is_dir():
            return _utf8_root(folder)
    raise ProjectError(f"no Pivot project in {here} or any parent folder; run `pivot init` first")


def init_project(root: Path) -> list[Path]:
    """Create ``.pivot/`` and ``.pivotignore`` in ``root``; return the paths that were created."""
    created: list[Path] = []
    paths = PivotPaths(_utf8_root(root))
    pivot_dir = paths.pivot_dir
    for folder in (pivot_dir, paths.stages):
        if not folder.exists():
            folder.mkdir(parents=True)
            created.append(folder)
    for path, text in (
        (pivot_dir / ".gitignore", _PIVOT_GITIGNORE),
        (root / ".pivotignore", _PIVOTIGNORE),
    ):
        if not path.exists():
            path.write_text(text)
            created.append(path)
    return created


def _utf8_root(root: Path) -> Path:
    """``root``, unless its path is not valid UTF-8: paths are keys in the state database, in
    code fingerprints and in messages, all text, so such a project is refused up front."""
    try:
        str(root).encode("utf-8")
    except UnicodeEncodeError:
        raise ProjectError(
            f"the project folder {os.fsencode(root)!r} has a name that is not valid UTF-8; "
            "rename it (or move the project) to use Pivot there"
        ) from None
    return root


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_path(path: str | os.PathLike[str], root: Path) -> str:
    """Turn a user-written path into a posix path relative to ``root``.

    Raises ProjectError when the path leaves the project, or holds a control character (a
    newline or NUL cannot be part of a file name Pivot records in a lock or prints on a line).
    """
    text = os.fspath(path)
    if not text:
        raise ProjectError("empty path in the pipeline; give a path relative to the project root")
    if _CONTROL.search(text):
        raise ProjectError(
            f"path {text!r} holds a control character (newline, tab, NUL...); rename it"
        )
    if os.path.isabs(text):
        try:
            text = Path(text).relative_to(root).as_posix()
        except ValueError:
            raise ProjectError(
                f"path '{path}' is outside the project {root}; use a path inside it"
            ) from None
    normal = posixpath.normpath(text.replace(os.sep, "/"))
    if normal == ".." or normal.startswith("../") or normal == ".":
        raise ProjectError(f"path '{path}' is outside the project {root}; use a path inside it")
    if normal == PIVOT_DIR or normal.startswith(PIVOT_DIR + "/"):
        raise ProjectError(f"path '{path}' is inside .pivot/, which Pivot owns; use another path")
    return normal


def relative_posix_path(path: str) -> str:
    """A path already meant relative to the project root, in plain posix form: no leading
    ``./``, no trailing ``/``; ProjectError if it is absolute or climbs out with ``..``."""
    pure = PurePosixPath(path.replace("\\", "/"))
    parts = [p for p in pure.parts if p not in ("", ".")]
    if pure.is_absolute() or ".." in parts or not parts:
        raise ProjectError(f"{path!r} is not a path inside the project")
    return "/".join(parts)


def is_within(child: str, parent: str) -> bool:
    """True if the relative posix path ``child`` is ``parent`` or lies under it."""
    return child == parent or child.startswith(parent + "/")


def confined_path(root: Path, rel: str, *, folder: bool = False) -> Path:
    """``root / rel`` for a restore from the cache to write, after checking that no symlinked
    folder on the way leads out of the project (or into ``.pivot/``).

    ``rel`` is already a normalized relative path; this catches the other way out, a symlink
    committed to the repository or made by hand. For a file the folder holding it is checked
    (the file itself is replaced by a rename, which never follows a link); for a ``folder``
    output the folder itself, since files inside it are written and removed.
    """
    full = root / rel
    real_root = root.resolve()
    real = (full if folder else full.parent).resolve()
    if not real.is_relative_to(real_root) or real.is_relative_to(real_root / PIVOT_DIR):
        raise ProjectError(
            f"'{rel}' leads through a symlink to {real}, outside the project; Pivot does not "
            "restore through it: remove the symlink, or copy the file by hand"
        )
    return full
