"""Watch mode with real files and real timing: generous timeouts, no sleeps as assertions."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import TempProject, pivot_env

PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders
from helpers import shout, count

def upper(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())]) -> Annotated[str, pivot.Out("upper.txt", loaders.Text())]:
    return shout(raw)

def length(raw: Annotated[str, pivot.Dep("other.txt", loaders.Text())]) -> Annotated[dict, pivot.Out("length.json", loaders.JSON())]:
    return {"n": count(raw)}

p = pivot.Pipeline("p")
p.register(upper)
p.register(length)
"""

HELPERS = """
def shout(s):
    return s.upper()

def count(s):
    return len(s)
"""


class Watch:
    """A `pivot run --watch --json` process and the events it prints."""

    def __init__(self, project: TempProject) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pivot",
                "--no-tui",
                "run",
                "--watch",
                "--json",
                "--debounce",
                "200",
            ],
            cwd=project.root,
            env=pivot_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.events.put(json.loads(line))

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(event)
            if predicate(event):
                return event
        raise AssertionError(
            f"no matching event within {timeout}s; saw: {[e['event'] for e in self.seen][-30:]}"
        )

    def next_cycle(self, timeout: float = 60) -> dict[str, str]:
        """The {stage: status} of the next complete run."""
        statuses: dict[str, str] = {}
        self.wait_for(lambda e: e["event"] == "run_started", timeout)

        def done(event: dict[str, Any]) -> bool:
            if event["event"] == "stage_finished":
                statuses[event["stage"]] = event["status"]
            return bool(event["event"] == "run_finished")

        self.wait_for(done, timeout)
        return statuses

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def watched(project: TempProject) -> Iterator[tuple[TempProject, Watch]]:
    project.write("pipeline.py", PIPELINE)
    project.write("helpers.py", HELPERS)
    project.write("raw.txt", "hello")
    project.write("other.txt", "abc")
    watch = Watch(project)
    try:
        assert watch.next_cycle() == {"upper": "ran", "length": "ran"}
        yield project, watch
    finally:
        if watch.proc.poll() is None:
            watch.stop()


def test_data_edit_reruns_dependent_stage(watched: tuple[TempProject, Watch]) -> None:
    project, watch = watched
    project.write("raw.txt", "bye")
    change = watch.wait_for(lambda e: e["event"] == "files_changed")
    assert change["paths"] == ["raw.txt"]
    assert watch.next_cycle() == {"upper": "ran", "length": "skipped"}
    assert project.read("upper.txt") == "BYE"
    assert watch.stop() == 0


def test_helper_edit_reruns_only_its_users_with_new_code(
    watched: tuple[TempProject, Watch],
) -> None:
    project, watch = watched
    project.write("helpers.py", HELPERS.replace("return len(s)", "return len(s) * 100"))
    assert watch.next_cycle() == {"upper": "skipped", "length": "ran"}
    assert json.loads(project.read("length.json")) == {
        "n": 300
    }  # the new code's result was committed
    assert "length.json" in project.lock("length")
    project.write("helpers.py", HELPERS.replace("return len(s)", "return len(s) * 7"))
    assert watch.next_cycle() == {"upper": "skipped", "length": "ran"}
    assert json.loads(project.read("length.json")) == {"n": 21}


def test_editor_atomic_save_counts(watched: tuple[TempProject, Watch]) -> None:
    project, watch = watched
    tmp = project.root / ".raw.txt.swp-tmp"
    tmp.write_text("atomic")
    tmp.replace(project.root / "raw.txt")
    assert watch.next_cycle()["upper"] == "ran"
    assert project.read("upper.txt") == "ATOMIC"


def test_pivotignore_is_respected(watched: tuple[TempProject, Watch]) -> None:
    project, watch = watched
    (project.root / ".pivotignore").write_text("notes/\n*.log\n")
    project.write("notes/todo.md", "ignored")
    project.write("debug.log", "ignored")
    project.write("other.txt", "abcd")  # a real change after the ignored ones
    change = watch.wait_for(lambda e: e["event"] == "files_changed" and "other.txt" in e["paths"])
    assert not any(p.startswith("notes/") or p.endswith(".log") for p in change["paths"])
    assert watch.next_cycle() == {"upper": "skipped", "length": "ran"}


def test_burst_of_changes_is_one_cycle(watched: tuple[TempProject, Watch]) -> None:
    project, watch = watched
    for i in range(20):
        project.write("raw.txt", f"burst {i}")
        project.write("other.txt", "x" * i)
    assert watch.next_cycle() == {"upper": "ran", "length": "ran"}
    assert project.read("upper.txt") == "BURST 19"
    with pytest.raises(AssertionError):
        watch.wait_for(lambda e: e["event"] == "watch_cycle", timeout=2)


def test_syntax_error_then_fix_recovers(watched: tuple[TempProject, Watch]) -> None:
    project, watch = watched
    project.write("pipeline.py", PIPELINE + "\ndef broken(:\n")
    message = watch.wait_for(lambda e: e["event"] == "message" and e["level"] == "error")
    assert "syntax error" in message["text"] and "waiting for the next save" in message["text"]
    assert watch.proc.poll() is None
    project.write("pipeline.py", PIPELINE.replace("return shout(raw)", "return shout(raw) + '!'"))
    assert watch.next_cycle() == {"upper": "ran", "length": "skipped"}
    assert project.read("upper.txt") == "HELLO!"


def test_change_during_a_run_is_not_lost(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        PIPELINE.replace("return shout(raw)", "import time; time.sleep(3); return shout(raw)"),
    )
    project.write("helpers.py", HELPERS)
    project.write("raw.txt", "one")
    project.write("other.txt", "abc")
    watch = Watch(project)
    try:
        watch.wait_for(lambda e: e["event"] == "stage_finished" and e["stage"] == "length")
        project.write("other.txt", "abcdef")  # not a dep of the still-running `upper`: queued
        change = watch.wait_for(lambda e: e["event"] == "files_changed")
        assert change["restart"] is False
        finished = watch.wait_for(lambda e: e["event"] == "run_finished")
        assert finished["cancelled"] is None
        assert watch.next_cycle() == {"upper": "skipped", "length": "ran"}
        assert json.loads(project.read("length.json")) == {"n": 6}
    finally:
        watch.stop()


def test_change_to_a_running_stages_dep_restarts_it(project: TempProject) -> None:
    project.write(
        "pipeline.py",
        PIPELINE.replace("return shout(raw)", "import time; time.sleep(4); return shout(raw)"),
    )
    project.write("helpers.py", HELPERS)
    project.write("raw.txt", "one")
    project.write("other.txt", "abc")
    watch = Watch(project)
    try:
        watch.wait_for(lambda e: e["event"] == "stage_started" and e["stage"] == "upper")
        project.write("raw.txt", "two")
        change = watch.wait_for(lambda e: e["event"] == "files_changed")
        assert change["restart"] is True
        cancelled = watch.wait_for(
            lambda e: e["event"] == "stage_finished" and e["stage"] == "upper"
        )
        assert cancelled["status"] == "cancelled"
        statuses = watch.next_cycle()
        assert statuses["upper"] == "ran"
        assert project.read("upper.txt") == "TWO"
    finally:
        watch.stop()


PARAMS_PIPELINE = """
import os
from typing import Annotated
import pivot
from pivot import loaders
from pivot.stage_def import StageParams

class ScaleParams(StageParams):
    factor: int = 1

def scaled(raw: Annotated[str, pivot.Dep("raw.txt", loaders.Text())], params: ScaleParams) -> Annotated[dict, pivot.Out("scaled.json", loaders.JSON())]:
    print("worker", os.getpid(), flush=True)
    return {"n": len(raw) * params.factor}

pivot.Pipeline("p").register(scaled)
"""


def _descendants(pid: int) -> set[str]:
    """Pids of every process below ``pid`` (Linux /proc)."""
    found: set[str] = set()
    todo = [str(pid)]
    while todo:
        current = todo.pop()
        children: list[str] = []
        # Each thread's children are listed under that thread (loky spawns from its own).
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children += (task / "children").read_text().split()
            except OSError:
                continue
        found.update(children)
        todo.extend(children)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_params_edit_reruns_with_the_warm_workers(project: TempProject) -> None:
    """params.yaml is read by every plan: an edit re-runs the stage on a worker of the warm
    pool (no re-import, no restart); a code edit gets fresh workers."""
    project.write("pipeline.py", PARAMS_PIPELINE)
    project.write("raw.txt", "hello")
    watch = Watch(project)

    def last_worker() -> str:
        lines = [e["line"] for e in watch.seen if e["event"] == "stage_log"]
        return [line for line in lines if line.startswith("worker ")][-1].split()[1]

    try:
        assert watch.next_cycle() == {"scaled": "ran"}
        pool = _descendants(watch.proc.pid)
        assert last_worker() in pool
        project.write("params.yaml", "scaled:\n  factor: 3\n")
        assert watch.next_cycle() == {"scaled": "ran"}
        assert json.loads(project.read("scaled.json")) == {"n": 15}
        assert last_worker() in pool  # a worker that was already running
        project.write("pipeline.py", PARAMS_PIPELINE.replace("factor: int = 1", "factor: int = 2"))
        assert watch.next_cycle() == {"scaled": "ran"}
        assert last_worker() not in pool  # code changed: the pool was restarted
    finally:
        if watch.proc.poll() is None:
            watch.stop()
