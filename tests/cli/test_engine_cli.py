"""The engine through the CLI: parallel warm workers, logs, cancellation, concurrency, crashes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import TempProject, pivot_env

SLEEPERS = """
import os, pathlib, time
from typing import Annotated
import pivot
from pivot import loaders

def _sleep(name):
    pathlib.Path(f"started-{name}").write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("SLEEP", "2")))
    return name

def one() -> Annotated[str, pivot.Out("one.txt", loaders.Text())]:
    return _sleep("one")

def two() -> Annotated[str, pivot.Out("two.txt", loaders.Text())]:
    return _sleep("two")

p = pivot.Pipeline("p")
p.register(one)
p.register(two)
"""


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s")
        time.sleep(0.05)


def _start(project: TempProject, *args: str, sleep: str = "2") -> subprocess.Popen[str]:
    env = pivot_env()
    env["SLEEP"] = sleep
    return subprocess.Popen(
        [sys.executable, "-m", "pivot", *args],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_independent_stages_overlap(project: TempProject) -> None:
    project.write("pipeline.py", SLEEPERS)
    events = project.run_events("-j", "2")
    started = {e["stage"]: e["time"] for e in events if e["event"] == "stage_started"}
    finished = {e["stage"]: e["time"] for e in events if e["event"] == "stage_finished"}
    # Both started before either finished: they ran at the same time.
    assert max(started.values()) < min(finished.values())
    durations = [e["duration"] for e in events if e["event"] == "stage_finished"]
    total = events[-1]["duration"]
    assert total < sum(durations)  # loosely: two 2 s sleeps take well under 4 s together


def test_jobs_one_runs_serially(project: TempProject) -> None:
    project.write("pipeline.py", SLEEPERS)
    env_sleep = "0.5"
    proc = _start(project, "--no-tui", "run", "--json", "-j", "1", sleep=env_sleep)
    out, _ = proc.communicate(timeout=120)
    events = [json.loads(line) for line in out.splitlines()]
    order = [
        (e["event"], e.get("stage"))
        for e in events
        if e["event"] in ("stage_started", "stage_finished")
    ]
    assert order[0][0] == "stage_started" and order[1][0] == "stage_finished"
    assert order[2][0] == "stage_started" and order[3][0] == "stage_finished"


LOGGING = """
import logging, subprocess, sys
from typing import Annotated
import pivot

def chatty() -> Annotated[str, pivot.Out("chatty.txt", pivot.loaders.Text())]:
    print("from print")
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("x").warning("from logging")
    subprocess.run([sys.executable, "-c", "print('from a subprocess')"], check=True)
    subprocess.run(["sh", "-c", "echo from-stderr >&2"], check=True)
    return "done"

pivot.Pipeline("p").register(chatty)
"""


def test_logs_are_streamed_as_events_and_kept(project: TempProject) -> None:
    project.write("pipeline.py", LOGGING)
    events = project.run_events()
    lines = [e["line"] for e in events if e["event"] == "stage_log"]
    assert "from print" in lines
    assert any("from logging" in line for line in lines)
    assert "from a subprocess" in lines
    assert "from-stderr" in lines
    run_id = events[0]["run_id"]
    kept = (project.root / ".pivot" / "logs" / run_id / "chatty.log").read_text()
    assert "from print" in kept and "from a subprocess" in kept
    shown = project.pivot("--no-tui", "run", "-f", "--show-output").stdout
    assert "chatty| from print" in shown


def test_event_order(project: TempProject) -> None:
    project.write("pipeline.py", LOGGING)
    events = project.run_events()
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert (
        kinds.index("stage_queued")
        < kinds.index("stage_started")
        < kinds.index("stage_log")
        < kinds.index("stage_finished")
    )
    finished = events[kinds.index("stage_finished")]
    assert (
        finished["status"] == "ran"
        and finished["reason"] == "never run"
        and finished["duration"] > 0
    )
    assert events[-1]["counts"]["ran"] == 1 and events[-1]["exit_code"] == 0


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_cancels_the_run(project: TempProject, sig: signal.Signals, code: int) -> None:
    project.write(
        "pipeline.py",
        SLEEPERS
        + """
def quick() -> Annotated[str, pivot.Out("quick.txt", loaders.Text())]:
    return "quick"

def slow(q: Annotated[str, pivot.Dep("quick.txt", loaders.Text())]) -> Annotated[str, pivot.Out("slow.txt", loaders.Text())]:
    return _sleep("slow")

p.register(quick)
p.register(slow)
""",
    )
    proc = _start(project, "--no-tui", "run", "--json", "quick", "slow", sleep="60")
    _wait_for(project.root / "started-slow")
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == code
    events = [json.loads(line) for line in out.splitlines()]
    statuses = {e["stage"]: e["status"] for e in events if e["event"] == "stage_finished"}
    assert statuses == {"quick": "ran", "slow": "cancelled"}
    assert (project.root / ".pivot/stages/quick.lock").exists()
    assert not (project.root / ".pivot/stages/slow.lock").exists()
    assert not (project.root / "slow.txt").exists()
    # The killed worker is gone: no process still holds the sleep.
    pid = int((project.root / "started-slow").read_text())
    time.sleep(0.5)
    assert (
        not Path(f"/proc/{pid}").exists()
        or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    )
    # Next run picks up where it stopped.
    assert project.statuses("quick") == {"quick": "skipped"}


def test_second_concurrent_run_stops_with_a_clear_message(project: TempProject) -> None:
    project.write("pipeline.py", SLEEPERS)
    first = _start(project, "run", sleep="5")
    _wait_for(project.root / "started-one")
    second = project.pivot("--no-tui", "run", check=1)
    assert "another pivot run" in second.stderr and "--wait" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    waiting = _start(project, "--no-tui", "run", "--wait", sleep="5")
    first.communicate(timeout=120)
    out, _ = waiting.communicate(timeout=120)
    assert first.returncode == 0 and waiting.returncode == 0
    assert "waiting" in out and "2 skipped" in out


CRASH = """
import os, time
from typing import Annotated
import pivot
from pivot import loaders

def crash() -> Annotated[str, pivot.Out("crash.txt", loaders.Text())]:
    time.sleep(0.3)
    os._exit(7)

def segv() -> Annotated[str, pivot.Out("segv.txt", loaders.Text())]:
    import ctypes
    ctypes.string_at(0)

def fine() -> Annotated[str, pivot.Out("fine.txt", loaders.Text())]:
    time.sleep(1)
    return "fine"

def after(x: Annotated[str, pivot.Dep("fine.txt", loaders.Text())]) -> Annotated[str, pivot.Out("after.txt", loaders.Text())]:
    return x + "!"

p = pivot.Pipeline("p")
for f in (crash, segv, fine, after):
    p.register(f)
"""


def test_dying_worker_fails_only_its_stage(project: TempProject) -> None:
    project.write("pipeline.py", CRASH)
    events = project.run_events("-k", "-j", "2", check=1)
    finished = {e["stage"]: e for e in events if e["event"] == "stage_finished"}
    assert (
        finished["crash"]["status"] == "failed"
        and "worker process died" in finished["crash"]["reason"]
    )
    assert (
        finished["segv"]["status"] == "failed"
        and "worker process died" in finished["segv"]["reason"]
    )
    assert finished["fine"]["status"] == "ran" and finished["after"]["status"] == "ran"
    assert project.read("after.txt") == "fine!"


def test_history_and_show(project: TempProject) -> None:
    project.write("pipeline.py", SLEEPERS)
    env_run = _start(project, "run", sleep="0")
    env_run.communicate(timeout=120)
    project.pivot("run")
    runs = json.loads(project.pivot("history", "--json").stdout)["runs"]
    assert len(runs) == 2
    newest, oldest = runs
    assert oldest["counts"]["ran"] == 2 and newest["counts"]["skipped"] == 2
    assert {s["stage"] for s in oldest["stages"]} == {"one", "two"}
    assert oldest["ended"] >= oldest["started"]
    shown = json.loads(project.pivot("show", oldest["run_id"][:-1], "--json").stdout)
    assert shown["run_id"] == oldest["run_id"]
    text = project.pivot("--no-tui", "show").stdout
    assert newest["run_id"] in text and "skipped" in text
    assert newest["run_id"] in project.pivot("--no-tui", "history").stdout
