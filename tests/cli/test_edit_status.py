"""`status` after an edit of stage function bodies answers without importing pipeline.py, with
the rows the full evaluation gives; every other kind of code edit goes back to the full one.

``pipeline.py`` imports ``probe``, a module outside the project that appends a line to a
file each time a process imports it, so the tests see whether a command loaded the pipeline
(the pipeline itself stays free of module-level calls, which would rule the shortcut out).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import REPO, TempProject, make_project

PIPELINE = """\
from typing import Annotated

import probe
import pivot
from pivot import loaders

import helpers

pipeline = pivot.Pipeline("edits")


def first(
    raw: Annotated[str, pivot.Dep("data/raw.txt", loaders.Text())],
) -> Annotated[str, pivot.Out("out/first.txt", loaders.Text())]:
    return raw.upper()


def second(
    text: Annotated[str, pivot.Dep("out/first.txt", loaders.Text())],
) -> Annotated[str, pivot.Out("out/second.txt", loaders.Text())]:
    return helpers.shout(text) + "!"


def third(
    text: Annotated[str, pivot.Dep("out/second.txt", loaders.Text())],
) -> Annotated[dict, pivot.Out("out/third.json", loaders.JSON())]:
    return {"chars": len(text)}


def other(
    raw: Annotated[str, pivot.Dep("data/raw.txt", loaders.Text())],
) -> Annotated[str, pivot.Out("out/other.txt", loaders.Text())]:
    return raw[::-1]


pipeline.register(first)
pipeline.register(second)
pipeline.register(third)
pipeline.register(other)
"""


class EditProject:
    def __init__(self, project: TempProject, marker: Path, lib: Path) -> None:
        self.project = project
        self.marker = marker
        self.env = {"PYTHONPATH": f"{REPO}{os.pathsep}{lib}"}

    def imports(self) -> int:
        return len(self.marker.read_text().splitlines()) if self.marker.exists() else 0

    def pivot(self, *args: str, check: int | None = 0) -> str:
        return self.project.pivot("--no-tui", *args, check=check, extra_env=self.env).stdout

    def status(self) -> tuple[str, dict[str, dict[str, object]], int]:
        """Text and JSON status, and how many of the two commands imported the pipeline."""
        before = self.imports()
        text = self.pivot("status")
        rows = json.loads(self.pivot("status", "--json"))["stages"]
        return text, {row["stage"]: row for row in rows}, self.imports() - before

    def full_status(self) -> tuple[str, dict[str, dict[str, object]]]:
        """The same from full evaluations: without the state database, nothing is recorded."""
        state = self.project.root / ".pivot" / "state.lmdb"
        before = self.imports()
        shutil.rmtree(state, ignore_errors=True)
        text = self.pivot("status")
        shutil.rmtree(state, ignore_errors=True)
        rows = json.loads(self.pivot("status", "--json"))["stages"]
        assert self.imports() - before == 2
        return text, {row["stage"]: row for row in rows}

    def run(self) -> dict[str, str]:
        events = [
            json.loads(line) for line in self.pivot("run", "--json").splitlines() if line.strip()
        ]
        return {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}

    def edit(self, old: str, new: str, rel: str = "pipeline.py") -> None:
        text = self.project.read(rel)
        assert text.count(old) == 1, old
        (self.project.root / rel).write_text(text.replace(old, new))


@pytest.fixture
def edits(tmp_path: Path) -> EditProject:
    lib = tmp_path / "lib"
    lib.mkdir()
    marker = tmp_path / "imports.log"
    (lib / "probe.py").write_text(
        f"with open({str(marker)!r}, 'a') as handle:\n    handle.write('imported\\n')\n"
    )
    project = make_project(tmp_path / "proj")
    project.write("pipeline.py", PIPELINE)
    project.write("helpers.py", "def shout(text):\n    return text + text\n")
    project.write("data/raw.txt", "abc\n")
    edited = EditProject(project, marker, lib)
    assert set(edited.run().values()) == {"ran"}
    text, _, _ = edited.status()  # leaves the record the shortcut starts from
    assert "4 stages, 0 stale" in text
    return edited


def test_a_body_edit_is_answered_without_importing_and_as_the_full_evaluation(
    edits: EditProject,
) -> None:
    edits.edit('return helpers.shout(text) + "!"', 'return helpers.shout(text) + "?"')
    text, rows, imported = edits.status()
    assert imported == 0
    assert rows["second"]["status"] == "stale"
    assert rows["second"]["reason"] == "code changed: self:second"
    [change] = rows["second"]["changes"]  # type: ignore[misc]
    assert change["kind"] == "code" and change["key"] == "self:second"
    assert change["old"] != change["new"]
    assert rows["third"]["reason"] == "upstream second will run"
    assert rows["first"]["reason"] == rows["other"]["reason"] == "up to date"
    assert "4 stages, 2 stale" in text
    # Asked again, still without importing: nothing recorded a new answer meanwhile.
    assert edits.status()[2] == 0

    full_text, full_rows = edits.full_status()
    assert (full_text, full_rows) == (text, rows)
    # The run that follows runs exactly that stage and what it changed.
    assert edits.run() == {
        "first": "skipped",
        "second": "ran",
        "third": "ran",
        "other": "skipped",
    }
    assert edits.project.read("out/second.txt") == "ABC\nABC\n?"


def test_a_comment_in_a_body_changes_nothing(edits: EditProject) -> None:
    edits.edit(
        "    return raw[::-1]\n", "    # reversed, as the report wants\n    return raw[::-1]\n"
    )
    text, rows, imported = edits.status()
    assert imported == 0
    assert {row["status"] for row in rows.values()} == {"cached"}
    assert (text, rows) == edits.full_status()


@pytest.mark.parametrize(
    ("rel", "old", "new", "stale"),
    [
        # A helper's body: the full walk finds which stages reach it.
        ("helpers.py", "return text + text", "return text * 2", {"second", "third"}),
        # The header of a stage function: registration reads it.
        (
            "pipeline.py",
            "Annotated[dict, pivot.Out",
            "Annotated[dict[str, int], pivot.Out",
            {"third"},
        ),
        # A body that reads a name it did not read before.
        ("pipeline.py", "return raw[::-1]", "return helpers.shout(raw)", {"other"}),
        # A new statement, and a removed one.
        (
            "pipeline.py",
            "pipeline.register(other)\n",
            "pipeline.register(other)\nLIMIT = 3\n",
            set(),
        ),
        ("pipeline.py", "pipeline.register(other)\n", "", set()),
        # A statement that is not a def.
        ("pipeline.py", 'Pipeline("edits")', 'Pipeline("edits2")', set()),
    ],
    ids=["helper", "header", "new-name", "added", "removed", "not-a-def"],
)
def test_other_code_edits_go_back_to_the_full_evaluation(
    edits: EditProject, rel: str, old: str, new: str, stale: set[str]
) -> None:
    edits.edit(old, new, rel)
    _, rows, imported = edits.status()
    # Both commands import; when the edit left everything up to date, the first one's
    # evaluation leaves a fresh record that the second answers from.
    assert imported == (2 if stale else 1)
    assert {name for name, row in rows.items() if row["status"] == "stale"} == stale
    assert ("other" in rows) is (new != "")


def test_a_function_another_stage_calls_goes_back_to_the_full_evaluation(
    edits: EditProject,
) -> None:
    edits.edit('return {"chars": len(text)}', 'return {"chars": len(other(text))}')
    edits.run()
    edits.status()  # the record now knows `third` reaches `other`
    edits.edit("return raw[::-1]", "return raw[::-2]")
    _, rows, imported = edits.status()
    assert imported == 2
    assert rows["other"]["reason"] == "code changed: self:other"
    assert rows["third"]["reason"] == "code changed: func:pipeline.other"


def test_a_module_level_call_rules_the_shortcut_out(edits: EditProject) -> None:
    edits.edit("import helpers\n", "import helpers\n\nhelpers.shout('warm up')\n")
    edits.run()
    edits.status()
    edits.edit("return raw[::-1]", "return raw[::-2]")
    assert edits.status()[2] == 2


def test_going_back_to_an_earlier_version_is_left_to_the_run_cache(edits: EditProject) -> None:
    edits.edit("return raw[::-1]", "return raw[::-2]")
    assert edits.run()["other"] == "ran"
    edits.status()
    edits.edit("return raw[::-2]", "return raw[::-1]")
    _, rows, imported = edits.status()
    assert imported == 2  # the full evaluation decides the restore
    assert rows["other"]["reason"] == "restored from an earlier run (code changed: self:other)"
