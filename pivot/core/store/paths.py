"""Where the project is, and how user-written paths map onto it."""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from pivot.exceptions import ProjectError

PIVOT_DIR = ".pivot"
PIPELINE_FILE = "pipeline.py"

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
    pivot_dir = _utf8_root(root) / PIVOT_DIR
    for folder in (pivot_dir, pivot_dir / "stages"):
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
    candidate = Path(text)
    if candidate.is_absolute():
        try:
            text = candidate.relative_to(root).as_posix()
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
