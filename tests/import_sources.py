"""Source and consumer repositories for the tests of `pivot import` and `pivot update`.

A source is a real Pivot project in its own git repository: a pipeline writes a file
(``out/clean.txt``) and a folder (``out/parts``) from ``data/raw.txt``, and ``data/extra.txt``
is tracked data. Each :meth:`Source.release` edits the raw data, runs, pushes and commits;
the first release is tagged ``v1``, so after two releases ``v1`` is ``HEAD~1`` and ``main``
is ``HEAD``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from tests.helpers import TempProject, make_project

SOURCE_PIPELINE = """
from typing import Annotated

import pivot
from pivot import loaders


def clean(raw: Annotated[str, pivot.Dep("data/raw.txt", loaders.Text())]) -> Annotated[
    str, pivot.Out("out/clean.txt", loaders.Text())
]:
    return raw.upper()


def split(clean: Annotated[str, pivot.Dep("out/clean.txt", loaders.Text())]) -> Annotated[
    dict, pivot.DirectoryOut("out/parts", loaders.Text())
]:
    return {f"line{i}.txt": line for i, line in enumerate(clean.splitlines())}


pipeline = pivot.Pipeline("source")
for stage in (clean, split):
    pipeline.register(stage)
"""

CONSUMER_PIPELINE = """
from typing import Annotated

import pivot
from pivot import loaders


def shout(clean: Annotated[str, pivot.Dep("clean.txt", loaders.Text())]) -> Annotated[
    str, pivot.Out("shout.txt", loaders.Text())
]:
    return clean.strip() + "!"


pipeline = pivot.Pipeline("consumer")
pipeline.register(shout)
"""


@dataclasses.dataclass
class Source:
    project: TempProject
    releases: list[str] = dataclasses.field(default_factory=list)  # raw data per release

    @property
    def root(self) -> Path:
        return self.project.root

    def release(self, raw: str, *, tag: str | None = None) -> str:
        """Edit the data, run, push, commit (and tag): returns the new commit id."""
        self.project.write("data/raw.txt", raw)
        self.project.write("data/extra.txt", f"extra for {raw}")
        self.project.pivot("track", "data/extra.txt")
        statuses = self.project.statuses()
        assert statuses and all(s in ("ran", "skipped") for s in statuses.values()), statuses
        self.project.pivot("push")
        self.project.commit_all(f"release {len(self.releases) + 1}")
        if tag is not None:
            self.project.git("tag", tag)
        self.releases.append(raw)
        return self.project.git("rev-parse", "HEAD").strip()

    def commit(self, rev: str = "HEAD") -> str:
        return self.project.git("rev-parse", f"{rev}^{{commit}}").strip()


def make_source(root: Path, configure_remote: Callable[[TempProject], None]) -> Source:
    """A source project with its remote configured (and committed), released twice: ``v1``
    (tag, ``HEAD~1``) holds "alpha/beta", ``main`` (``HEAD``) holds "gamma/delta/eps"."""
    project = make_project(root)
    project.git("checkout", "-q", "-b", "main")
    configure_remote(project)
    project.write(".gitignore", "/out/\n")
    project.write("pipeline.py", SOURCE_PIPELINE)
    source = Source(project)
    source.release("alpha\nbeta\n", tag="v1")
    source.release("gamma\ndelta\neps\n")
    return source


def make_consumer(root: Path, configure_remote: Callable[[TempProject], None]) -> TempProject:
    """A consumer project whose stage reads the import ``clean.txt``; its remote configured."""
    project = make_project(root)
    configure_remote(project)
    project.write("pipeline.py", CONSUMER_PIPELINE)
    project.write(".gitignore", "/shout.txt\n")
    return project
