"""`pivot` in a real pseudo-terminal: the CLI opens the app, runs stages, and quits cleanly."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import TempProject, pivot_env

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty"),
]

PIPELINE = """
from typing import Annotated
import pivot
from pivot import loaders
pipeline = pivot.Pipeline("p")
def first() -> Annotated[dict, pivot.Out("first.json", loaders.JSON())]:
    print("hello from first")
    return {"n": 1}
def second(f: Annotated[dict, pivot.Dep("first.json", loaders.JSON())]) -> Annotated[dict, pivot.Out("second.json", loaders.JSON())]:
    return {"n": f["n"] + 1}
pipeline.register(first)
pipeline.register(second)
"""


class Terminal:
    def __init__(self, root: Path, *args: str) -> None:
        self.master, slave = pty.openpty()
        os.set_blocking(self.master, False)
        env = pivot_env()
        env.pop("CI", None)
        env.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pivot", *args],
            cwd=root,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = b""

    def read(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536)
                except OSError:
                    return

    def wait_for(self, condition: object, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.read(0.1)
            if callable(condition) and condition():
                return
            if isinstance(condition, bytes) and condition in self.screen:
                return
        raise AssertionError(f"timed out; screen tail: {self.screen[-2000:]!r}")

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        try:
            # Keep draining the terminal: an app blocked on a full pty never exits.
            self.wait_for(lambda: self.proc.poll() is not None, timeout=20)
            code = self.proc.wait(timeout=1)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self.master)
        return code


def test_pivot_opens_the_app_runs_and_quits(project: TempProject) -> None:
    project.write("pipeline.py", PIPELINE)
    term = Terminal(project.root)
    try:
        term.wait_for(b"stale")  # the top bar, once planned
        term.send("R")
        locks = project.root / ".pivot" / "stages"
        term.wait_for(lambda: len(list(locks.glob("*.lock"))) == 2)
        term.wait_for(b"up to date")
        term.send("q")
        code = term.close()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert code == 0
    assert project.statuses() == {"first": "skipped", "second": "skipped"}


def test_pivot_reports_a_broken_pipeline_before_opening(project: TempProject) -> None:
    project.write("pipeline.py", "import nope\n")
    term = Terminal(project.root)
    term.wait_for(lambda: term.proc.poll() is not None)
    code = term.close()
    assert code == 2
    assert b"error:" in term.screen and b"nope" in term.screen
