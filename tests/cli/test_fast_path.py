"""A no-op `run`/`status` answers from stats without importing pipeline.py, and every kind of
change sends it back to the full evaluation.

``pipeline.py`` appends a line to a file outside the project each time it is imported, so the
tests see whether a command imported it (no clocks involved).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import REPO, TempProject, make_project

PIPELINE = """\
from pathlib import Path
from typing import Annotated

import yaml

import pivot
from pivot import loaders
from pivot.stage_def import StageParams

import helpers

with open({marker!r}, "a") as marker:
    marker.write("imported\\n")

# Stages named in a YAML file read while importing: the fast path must see that file too.
EXTRA = yaml.safe_load(Path("extra.yaml").read_text()) or []

pipeline = pivot.Pipeline("fast")


class ScaleParams(StageParams):
    factor: int = 2


def scale(
    raw: Annotated[str, pivot.Dep("data/raw.txt", loaders.Text())],
    parts: Annotated[Path, pivot.Dep("data/parts")],
    params: ScaleParams,
) -> Annotated[str, pivot.Out("out/scaled.txt", loaders.Text())]:
    count = len(list(parts.iterdir()))
    return helpers.shout(raw) * params.factor + f"parts={{count}}\\n"


def summarize(
    scaled: Annotated[str, pivot.Dep("out/scaled.txt", loaders.Text())],
) -> Annotated[dict, pivot.Out("out/summary.json", loaders.JSON())]:
    return {{"chars": len(scaled)}}


pipeline.register(scale)
pipeline.register(summarize)
for name in EXTRA:

    def extra(
        scaled: Annotated[str, pivot.Dep("out/scaled.txt", loaders.Text())],
    ) -> Annotated[str, pivot.Out(f"out/{{name}}.txt", loaders.Text())]:
        return scaled

    pipeline.register(extra, name=name)
"""


def _imports(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


@pytest.fixture
def fast(tmp_path: Path) -> tuple[TempProject, Path]:
    marker = tmp_path / "imports.log"
    project = make_project(tmp_path / "proj")
    project.write("pipeline.py", PIPELINE.format(marker=str(marker)))
    project.write("helpers.py", "def shout(text):\n    return text.upper()\n")
    project.write("extra.yaml", "[]\n")
    project.write("params.yaml", "scale:\n  factor: 2\n")
    project.write("data/raw.txt", "abc\n")
    project.write("data/parts/p0.txt", "zero")
    assert project.statuses() == {"scale": "ran", "summarize": "ran"}
    return project, marker


def _finished(events: list[dict[str, object]]) -> dict[str, tuple[object, object]]:
    return {
        str(e["stage"]): (e["status"], e["reason"])
        for e in events
        if e["event"] == "stage_finished"
    }


def test_a_no_op_run_and_status_never_import_the_pipeline(
    fast: tuple[TempProject, Path],
) -> None:
    project, marker = fast
    slow_status = project.pivot("status", "--json").stdout  # evaluates, leaves the record
    imported = _imports(marker)

    events = project.run_events()
    fast_status = project.pivot("status", "--json").stdout
    text = project.pivot("--no-tui", "run").stdout

    assert _imports(marker) == imported
    assert _finished(events) == {
        "scale": ("skipped", "up to date"),
        "summarize": ("skipped", "up to date"),
    }
    assert [e["event"] for e in events] == [
        "run_started",
        "stage_finished",
        "stage_finished",
        "run_finished",
    ]
    assert events[0]["stages"] == ["scale", "summarize"] and events[-1]["exit_code"] == 0
    assert json.loads(fast_status) == json.loads(slow_status)
    assert "skipped   scale" in text and "2 skipped" in text
    # the no-op run is in the history like any other run
    assert "2 skipped" in project.pivot("history").stdout


def test_named_stages_and_their_upstream_are_answered_too(
    fast: tuple[TempProject, Path],
) -> None:
    project, marker = fast
    project.pivot("status")
    imported = _imports(marker)

    assert project.statuses("summarize") == {"scale": "skipped", "summarize": "skipped"}
    assert project.statuses("--single", "summarize") == {"summarize": "skipped"}
    assert set(project.status_json("scale")) == {"scale"}
    assert _imports(marker) == imported
    # a name the record does not know goes to the full evaluation, which explains
    proc = project.pivot("--no-tui", "run", "nope", check=2)
    assert "unknown stage 'nope'" in proc.stderr


def test_a_run_that_ran_stages_leaves_the_record(fast: tuple[TempProject, Path]) -> None:
    project, marker = fast
    project.write("data/raw.txt", "abcd\n")
    assert project.statuses() == {"scale": "ran", "summarize": "ran"}
    imported = _imports(marker)

    assert set(project.statuses().values()) == {"skipped"}
    assert _imports(marker) == imported


def _append(rel: str, text: str) -> Callable[[TempProject], None]:
    def edit(project: TempProject) -> None:
        with open(project.root / rel, "a") as handle:
            handle.write(text)

    return edit


def _delete(rel: str) -> Callable[[TempProject], None]:
    return lambda project: (project.root / rel).unlink()


def _write(rel: str, text: str) -> Callable[[TempProject], None]:
    return lambda project: project.write(rel, text) and None


def _touch_lock(project: TempProject) -> None:
    """Record another hash for summarize's output in its lock (as a bad merge might)."""
    lock = project.root / ".pivot" / "stages" / "summarize.lock"
    lock.write_text(
        re.sub(
            r"(path: out/summary.json\n\s+hash: )\w+", r"\g<1>abcdefabcdefabcd", lock.read_text()
        )
    )


CACHED = {"scale": "cached", "summarize": "cached"}
DOWNSTREAM = {"scale": "cached", "summarize": "stale"}
BOTH = {"scale": "stale", "summarize": "stale"}

# what changes -> (what `status` then says, what the next run does)
CHANGES: dict[str, tuple[Callable[[TempProject], None], dict[str, str], dict[str, str]]] = {
    "pipeline.py": (
        _append("pipeline.py", "\nscale.__doc__ = 'edited'\n"),
        CACHED,
        {"scale": "skipped", "summarize": "skipped"},
    ),
    "stage body": (
        lambda p: (
            p.write(
                "pipeline.py",
                p.read("pipeline.py").replace("* params.factor", "* params.factor * 1"),
            )
            and None
        ),
        BOTH,  # status assumes summarize's input will change; the run sees it did not
        {"scale": "ran", "summarize": "skipped"},
    ),
    "helper module": (
        _write("helpers.py", "def shout(text):\n    return text.upper() + '!'\n"),
        BOTH,
        {"scale": "ran", "summarize": "ran"},
    ),
    "params.yaml": (
        _write("params.yaml", "scale:\n  factor: 3\n"),
        BOTH,
        {"scale": "ran", "summarize": "ran"},
    ),
    "dep file": (_write("data/raw.txt", "xyz\n"), BOTH, {"scale": "ran", "summarize": "ran"}),
    "new file in a dep folder": (
        _write("data/parts/p1.txt", "one"),
        BOTH,
        {"scale": "ran", "summarize": "ran"},
    ),
    "deleted output": (
        _delete("out/summary.json"),
        CACHED,  # restorable from the cache
        {"scale": "skipped", "summarize": "restored"},
    ),
    "edited output": (
        _write("out/summary.json", '{"chars": 0}'),
        DOWNSTREAM,
        {"scale": "skipped", "summarize": "ran"},
    ),
    "lock": (_touch_lock, DOWNSTREAM, {"scale": "skipped", "summarize": "ran"}),
    "deleted lock": (
        _delete(".pivot/stages/summarize.lock"),
        CACHED,  # the run cache still has that run
        {"scale": "skipped", "summarize": "restored"},
    ),
    "file read at import": (
        _write("extra.yaml", "[copy]\n"),
        {**CACHED, "copy": "stale"},
        {"scale": "skipped", "summarize": "skipped", "copy": "ran"},
    ),
    "config file": (
        _write(".pivot/config.yaml", "cache:\n  link: copy\n"),
        CACHED,
        {"scale": "skipped", "summarize": "skipped"},
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_kind_of_change_goes_back_to_the_full_evaluation(
    fast: tuple[TempProject, Path], change: str
) -> None:
    project, marker = fast
    project.pivot("status")
    before = _imports(marker)
    assert set(project.statuses().values()) == {"skipped"}
    assert _imports(marker) == before  # answered from the record

    edit, status, outcome = CHANGES[change]
    edit(project)

    assert {name: row["status"] for name, row in project.status_json().items()} == status
    assert _imports(marker) == before + 1
    assert project.statuses() == outcome
    after = _imports(marker)
    assert set(project.statuses().values()) == {"skipped"}  # and the record is back
    assert _imports(marker) == after


def test_an_installed_package_changes_the_environment(tmp_path: Path) -> None:
    """Installing or upgrading a library moves its folder on sys.path: the stat of that
    folder is part of the record's environment."""
    marker = tmp_path / "imports.log"
    libs = tmp_path / "libs"
    libs.mkdir()
    project = make_project(tmp_path / "proj")
    project.write(
        "pipeline.py",
        f"""\
        import pivot
        from typing import Annotated
        from pivot import loaders

        import multiprocessing

        # Only the main process counts: workers may import it too, to be ready for stages.
        if multiprocessing.current_process().name == "MainProcess":
            with open({str(marker)!r}, "a") as marker:
                marker.write("imported\\n")

        pipeline = pivot.Pipeline("env")


        def one() -> Annotated[str, pivot.Out("one.txt", loaders.Text())]:
            return "1"


        pipeline.register(one)
        """,
    )
    # a folder on sys.path standing in for site-packages
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), str(libs)])}
    project.pivot("--no-tui", "run", extra_env=env)
    project.pivot("--no-tui", "run", extra_env=env)
    imported = _imports(marker)
    project.pivot("--no-tui", "run", extra_env=env)
    assert _imports(marker) == imported
    (libs / "somelib-1.0.dist-info").mkdir()  # what installing a package does to its folder
    project.pivot("--no-tui", "run", extra_env=env)
    assert _imports(marker) == imported + 1
