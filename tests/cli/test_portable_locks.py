"""Two clones of one project at different absolute paths write byte-identical locks, with
string constants holding paths inside, next to and outside the project (issue 20)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import TempProject, make_project, pivot_env

PIPELINE = """
from pathlib import Path
from typing import Annotated

import pivot
from pivot import loaders

INSIDE = str(Path(__file__).resolve().parent / "data" / "raw.txt")
NEXT_TO = {next_to!r}  # starts with the first clone's root, but is another folder
OUTSIDE = "/opt/shared/lookup.csv"

pipeline = pivot.Pipeline("paths")


def where() -> Annotated[str, pivot.Out("where.txt", loaders.Text())]:
    return "\\n".join([Path(INSIDE).name, NEXT_TO.rsplit("/", 1)[-1], OUTSIDE])


pipeline.register(where)
"""


def test_clones_at_two_paths_write_the_same_lock(tmp_path: Path) -> None:
    first = make_project(tmp_path / "proj")
    first.write("pipeline.py", PIPELINE.format(next_to=f"{first.root}-data/lookup.csv"))
    first.write("data/raw.txt", "x\n")
    first.commit_all("pipeline")
    second_root = tmp_path / "elsewhere" / "copy"
    second_root.parent.mkdir()
    subprocess.run(
        ["git", "clone", "-q", str(first.root), str(second_root)],
        check=True,
        env=pivot_env(),
    )
    second = TempProject(second_root)

    first.pivot("--no-tui", "run")
    second.pivot("--no-tui", "run")

    assert first.lock("where") == second.lock("where")
