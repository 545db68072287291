"""Where the project is, and how user-written paths map onto it."""

from __future__ import annotations

import os
import posixpath
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
            return folder
    raise ProjectError(f"no Pivot project in {here} or any parent folder; run `pivot init` first")


def init_project(root: Path) -> list[Path]:
    """Create ``.pivot/`` and ``.pivotignore`` in ``root``; return the paths that were created."""
    created: list[Path] = []
    pivot_dir = root / PIVOT_DIR
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


def normalize_path(path: str | os.PathLike[str], root: Path) -> str:
    """Turn a user-written path into a posix path relative to ``root``.

    Raises ProjectError when the path leaves the project.
    """
    text = os.fspath(path)
    if not text:
        raise ProjectError("empty path in the pipeline; give a path relative to the project root")
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
