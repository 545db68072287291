"""Races: commands that write the project started at the same time, through the real CLI.

Whatever order the processes reach the run lock in (``.pivot/run.lock``), the loser either
waits (``--wait``, watch cycles) or stops with one line naming the holder, and the project
ends consistent: every lock parses, its blobs are in the cache with bytes matching their
names, the workspace outputs are what the locks say, no temp file is left behind, and the next
run skips everything. Each race is repeated with random small delays; the seed is printed so
a failing ordering can be replayed (``RACE_SEED=…``).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pivot.core.store.atomic import TMP_MARK
from pivot.core.store.cache import Cache
from pivot.core.store.hashing import FileEntry, hash_file, manifest_hash, walk_files
from pivot.core.store.lock import parse_lock
from tests.cli.test_watch import Watch as WatchProcess
from tests.helpers import TempProject, pivot_env

PIPELINE = """
import pathlib
import time
from typing import Annotated
import pivot
from pivot import loaders

def gen(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[dict, pivot.Out("data/gen.json", loaders.JSON())]:
    time.sleep(0.3)
    return {"words": raw.split()}

def fan(g: Annotated[dict, pivot.Dep("data/gen.json", loaders.JSON())]) -> Annotated[dict, pivot.DirectoryOut("data/parts", loaders.Text())]:
    time.sleep(0.2)
    return {f"w{i}.txt": w for i, w in enumerate(g["words"])}

def total(parts: Annotated[pathlib.Path, pivot.Dep("data/parts")]) -> Annotated[str, pivot.Out("data/total.txt", loaders.Text())]:
    return str(sum(len(p.read_text()) for p in sorted(parts.iterdir())))

def model(g: Annotated[dict, pivot.Dep("data/gen.json", loaders.JSON())]) -> Annotated[dict, pivot.Out("data/model.pkl", loaders.Pickle())]:
    time.sleep(0.2)
    return {"n": len(g["words"])}

p = pivot.Pipeline("races")
for stage in (gen, fan, total, model):
    p.register(stage)
"""

STAGES = ("gen", "fan", "total", "model")


@pytest.fixture(scope="module")
def rng() -> random.Random:
    seed = int(os.environ.get("RACE_SEED", time.time_ns() % 1_000_000))
    print(f"RACE_SEED={seed}")
    return random.Random(seed)


# -- helpers shared with tests/remote/test_races_remote.py -------------------------------------


def start(project: TempProject, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pivot", *args],
        cwd=project.root,
        env=pivot_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def race(
    project: TempProject, first: Iterable[str], second: Iterable[str], delay: float
) -> list[tuple[int, str, str]]:
    """Start ``first``, wait ``delay`` seconds, start ``second``; both results."""
    a = start(project, *first)
    time.sleep(delay)
    b = start(project, *second)
    return [finish(a), finish(b)]


def wait_for_file(folder: Path, timeout: float = 30) -> None:
    """Until a stage has written its "started" mark into ``folder``."""
    deadline = time.monotonic() + timeout
    while not any(folder.iterdir()):
        assert time.monotonic() < deadline, f"nothing appeared in {folder}"
        time.sleep(0.05)


def assert_refused(result: tuple[int, str, str], command: str, holder: str = "") -> None:
    """The loser of a race for the run lock: exit 1 and one line saying who holds it."""
    code, _out, err = result
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, result
    assert lines[0].startswith(f"error: another pivot {holder}"), result
    assert "is running in this project" in lines[0], result
    hint = "--wait" if command == "run" else f"`pivot {command}` again"
    assert hint in lines[0], result


def assert_consistent(root: Path, *, stages: Iterable[str], uncached: Iterable[str] = ()) -> None:
    """Locks parse; their cached blobs exist and match their names; the workspace holds exactly
    what the locks record; no temp file is left anywhere in the project."""
    cache = Cache(root / ".pivot" / "cache")
    locks = sorted((root / ".pivot" / "stages").glob("*.lock"))
    assert {path.stem for path in locks} == set(stages)
    skip = set(uncached)
    for path in locks:
        lock = parse_lock(path.read_text(), str(path))
        for out in lock.outs:
            if out.path not in skip:
                for digest in out.blob_hashes():
                    assert cache.verify(digest), f"{out.path}: blob {digest} missing or corrupt"
            full = root / out.path
            if out.files is None:
                assert hash_file(full) == out.hash, f"{out.path} differs from {path.name}"
            else:
                entries = [
                    FileEntry(name, hash_file(full / name), (full / name).stat().st_size)
                    for name in walk_files(full)
                ]
                assert manifest_hash(entries) == out.hash, f"{out.path} differs from {path.name}"
    leftovers = [p for p in root.rglob("*") if TMP_MARK in p.name]
    assert not leftovers, leftovers


def assert_all_skipped(project: TempProject, stages: Iterable[str]) -> None:
    assert project.statuses() == dict.fromkeys(stages, "skipped")


def _assert_outputs_follow(project: TempProject, raw: str) -> None:
    words = raw.split()
    assert json.loads(project.read("data/gen.json")) == {"words": words}
    assert project.read("data/total.txt") == str(sum(len(w) for w in words))
    with open(project.root / "data" / "model.pkl", "rb") as handle:
        assert pickle.load(handle) == {"n": len(words)}


@pytest.fixture
def races(project: TempProject) -> TempProject:
    project.write("pipeline.py", PIPELINE)
    project.write("raw.txt", "alpha beta gamma\n")
    assert project.statuses() == dict.fromkeys(STAGES, "ran")
    return project


def _words(rng: random.Random, round_: int) -> str:
    return " ".join(f"w{round_}x{rng.randrange(100)}" for _ in range(rng.randint(2, 5))) + "\n"


# -- run against run ---------------------------------------------------------------------------


def test_two_runs_at_once(races: TempProject, rng: random.Random) -> None:
    for round_ in range(4):
        raw = _words(rng, round_)
        races.write("raw.txt", raw)
        wait = ("--wait",) if round_ % 2 else ()
        run = ("--no-tui", "run", *wait)
        results = race(races, run, run, rng.uniform(0, 0.8))

        winners = [r for r in results if r[0] == 0]
        assert winners, results
        for result in results:
            if result[0] != 0:
                assert not wait, result
                assert_refused(result, "run", holder="run")
        if wait:
            assert all(r[0] == 0 for r in results), results
        assert_consistent(races.root, stages=STAGES)
        assert_all_skipped(races, STAGES)
        _assert_outputs_follow(races, raw)


# -- run against checkout and commit -----------------------------------------------------------


def test_run_and_checkout_at_once(races: TempProject, rng: random.Random) -> None:
    for round_ in range(3):
        raw = _words(rng, round_)
        races.write("raw.txt", raw)
        (races.root / "data" / "total.txt").unlink()  # work for checkout too
        wait = ("--wait",) if round_ == 1 else ()
        run = ("--no-tui", "run", *wait)
        checkout = ("checkout", "--force")
        first, second = (run, checkout) if rng.random() < 0.5 else (checkout, run)
        results = dict(
            zip((first, second), race(races, first, second, rng.uniform(0, 0.6)), strict=True)
        )

        run_result, checkout_result = results[run], results[checkout]
        if run_result[0] != 0:
            assert not wait
            assert_refused(run_result, "run", holder="checkout")
        if checkout_result[0] != 0:
            assert_refused(checkout_result, "checkout", holder="run")
        assert "missing-blob" not in checkout_result[1]
        if run_result[0] != 0:  # checkout restored the old total; now finish the job
            races.pivot("--no-tui", "run")
        assert_consistent(races.root, stages=STAGES)
        assert_all_skipped(races, STAGES)
        _assert_outputs_follow(races, raw)


def test_run_and_commit_at_once(races: TempProject, rng: random.Random) -> None:
    for round_ in range(3):
        races.write("raw.txt", _words(rng, round_))
        run = ("--no-tui", "run", "--wait")
        commit = ("commit",)
        first, second = (run, commit) if rng.random() < 0.5 else (commit, run)
        results = dict(
            zip((first, second), race(races, first, second, rng.uniform(0, 0.6)), strict=True)
        )

        assert results[run][0] == 0, results[run]
        if results[commit][0] != 0:
            assert_refused(results[commit], "commit", holder="run")
        # A commit that won recorded the outputs as they were: the run then had nothing to
        # do. Either way the locks and the workspace agree.
        assert_consistent(races.root, stages=STAGES)
        assert_all_skipped(races, STAGES)


SLOW = """
import os
import pathlib
import time
from typing import Annotated
import pivot
from pivot import loaders

def slow(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[str, pivot.Out("slow.txt", loaders.Text())]:
    pathlib.Path(os.environ["RACE_MARKS"], f"slow-{os.getpid()}").write_text("started")
    time.sleep(2)
    return raw[::-1]

p = pivot.Pipeline("slow")
p.register(slow)
"""


def test_writers_refuse_while_a_run_holds_the_lock(
    project: TempProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic: checkout and commit stop with one line while a run is inside a stage;
    read-only commands go ahead."""
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("RACE_MARKS", str(marks))
    project.write("pipeline.py", SLOW)
    project.write("raw.txt", "abc")
    running = start(project, "--no-tui", "run")
    wait_for_file(marks)

    assert_refused(finish(start(project, "checkout", "--force")), "checkout", holder="run")
    assert_refused(finish(start(project, "commit")), "commit", holder="run")
    assert finish(start(project, "status"))[0] == 0

    code, out, err = finish(running)
    assert code == 0, (out, err)
    assert project.read("slow.txt") == "cba"
    project.pivot("checkout", "--force")
    assert_consistent(project.root, stages=("slow",))
    assert_all_skipped(project, ("slow",))


# -- watch mode against a manual run -----------------------------------------------------------

WATCHED = """
import os
import pathlib
import time
from typing import Annotated
import pivot
from pivot import loaders

def upper(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[str, pivot.Out("upper.txt", loaders.Text())]:
    return raw.upper()

def slow(other: Annotated[str, pivot.Dep("other.txt", loaders.Text())]) -> Annotated[str, pivot.Out("slow.txt", loaders.Text())]:
    pathlib.Path(os.environ["RACE_MARKS"], f"slow-{os.getpid()}").write_text("started")
    time.sleep(2)
    return other[::-1]

p = pivot.Pipeline("watched")
p.register(upper)
p.register(slow)
"""


class Watch(WatchProcess):
    """A `pivot run --watch --json` process (see tests/cli/test_watch.py), read from any point."""

    def run_finished(self, timeout: float = 60) -> dict[str, str]:
        """{stage: status} of the next run that finishes."""
        statuses: dict[str, str] = {}

        def done(event: dict[str, Any]) -> bool:
            if event["event"] == "stage_finished":
                statuses[event["stage"]] = event["status"]
            return bool(event["event"] == "run_finished")

        self.wait_for(done, timeout)
        return statuses


@pytest.fixture
def watched(
    project: TempProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TempProject, Watch, Path]]:
    marks = tmp_path / "marks"  # outside the project: the watcher must not see them
    marks.mkdir()
    monkeypatch.setenv("RACE_MARKS", str(marks))
    project.write("pipeline.py", WATCHED)
    project.write("raw.txt", "hello")
    project.write("other.txt", "abc")
    watch = Watch(project)
    try:
        assert watch.run_finished() == {"upper": "ran", "slow": "ran"}
        yield project, watch, marks
    finally:
        if watch.proc.poll() is None:
            watch.stop()


def test_watch_cycle_waits_for_a_manual_run(
    watched: tuple[TempProject, Watch, Path], rng: random.Random
) -> None:
    """A change that arrives while a manual run holds the lock is run after it, not dropped."""
    project, watch, marks = watched
    for round_ in range(2):
        for mark in marks.iterdir():
            mark.unlink()
        manual = start(project, "--no-tui", "run", "-f", "slow")
        wait_for_file(marks)  # the manual run is inside `slow`, holding the lock
        time.sleep(rng.uniform(0, 0.8))
        project.write("raw.txt", f"edit {round_}")

        waiting = watch.wait_for(lambda e: e["event"] == "message" and "waiting" in e["text"])
        assert "another pivot run" in waiting["text"], waiting
        code, out, err = finish(manual)
        assert code == 0, (out, err)
        assert watch.run_finished()["upper"] == "ran"
        assert project.read("upper.txt") == f"EDIT {round_}"
    assert watch.stop() == 0
    assert_consistent(project.root, stages=("upper", "slow"))
    assert_all_skipped(project, ("upper", "slow"))


def test_manual_run_during_a_watch_cycle_refuses_or_waits(
    watched: tuple[TempProject, Watch, Path], rng: random.Random
) -> None:
    project, watch, _marks = watched
    project.write("other.txt", "xyz")
    watch.wait_for(lambda e: e["event"] == "stage_started" and e["stage"] == "slow")
    time.sleep(rng.uniform(0, 0.5))

    refused = finish(start(project, "--no-tui", "run"))
    assert_refused(refused, "run", holder="run")
    code, out, err = finish(start(project, "--no-tui", "run", "--wait"))
    assert code == 0, (out, err)
    assert "waiting" in out and "2 skipped" in out

    assert watch.run_finished()["slow"] == "ran"
    assert project.read("slow.txt") == "zyx"
    assert watch.stop() == 0
    assert_consistent(project.root, stages=("upper", "slow"))
    assert_all_skipped(project, ("upper", "slow"))
