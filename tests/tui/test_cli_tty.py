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


def test_keys_typed_while_the_app_starts_never_filter_the_stage_list(
    project: TempProject,
) -> None:
    """Keys typed before the first screen used to land in the hidden stage filter (Textual
    focuses the first focusable widget while composing): the list said "no stage matches"."""
    project.write("pipeline.py", PIPELINE)
    term = Terminal(project.root)
    try:
        deadline = time.monotonic() + 30
        while ALT_SCREEN not in term.screen or b"stale" not in term.screen:
            assert time.monotonic() < deadline, term.screen[-2000:]
            term.send("x")  # no binding: harmless on the stage list
            term.read(0.05)
        for _ in range(5):
            term.send("x")
            term.read(0.1)
        term.read(1.0)
        assert b"no stage matches" not in term.screen
        assert b"match 'x" not in term.screen
        term.send("q")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()


def test_pivot_reports_a_broken_pipeline_before_opening(project: TempProject) -> None:
    project.write("pipeline.py", "import nope\n")
    term = Terminal(project.root)
    term.wait_for(lambda: term.proc.poll() is not None)
    code = term.close()
    assert code == 2
    assert b"error:" in term.screen and b"nope" in term.screen


ALT_SCREEN = b"\x1b[?1049h"  # what Textual writes first when the app takes the terminal


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("missing.csv",), b"error: missing.csv exists neither in the workspace nor at HEAD"),
        (
            ("data.csv", "--key", "nope"),
            b"error: key column 'nope' missing from data.csv at HEAD (columns: id, v)",
        ),
    ],
    ids=["missing-file", "bad-key"],
)
def test_data_diff_that_cannot_compute_fails_before_opening(
    project: TempProject, args: tuple[str, ...], error: bytes
) -> None:
    """In a terminal as headless: one error line and exit 2, and no app (it used to open the
    app on the error and exit 0)."""
    project.write("data.csv", "id,v\n1,a\n")
    project.commit_all("data")
    headless = project.pivot("--no-tui", "data", "diff", *args, check=2)
    assert headless.stderr.encode().strip() == error

    term = Terminal(project.root, "data", "diff", *args)
    try:
        term.wait_for(lambda: term.proc.poll() is not None or ALT_SCREEN in term.screen)
        if term.proc.poll() is None:
            term.read(2)
            term.send("q")  # the app opened: close it to see how it exits
        code = term.close()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert ALT_SCREEN not in term.screen, "the app opened"
    assert code == 2
    lines = [line for line in term.screen.splitlines() if line.strip(b"\r\x1b[?25hl ")]
    assert any(line.strip().endswith(error) for line in lines), term.screen


def test_data_diff_opens_the_screen_and_q_quits(project: TempProject) -> None:
    project.write("data.csv", "id,v\n1,a\n2,b\n")
    project.commit_all("data")
    project.write("data.csv", "id,v\n1,a\n2,B\n3,c\n")
    term = Terminal(project.root, "data", "diff", "data.csv", "--key", "id")
    try:
        term.wait_for(b"Modified (1)")
        term.send("q")
        code = term.close()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert code == 0


def test_the_app_exits_when_its_terminal_hangs_up_without_a_signal(project: TempProject) -> None:
    """The pty is not the app's controlling terminal (its own session), so closing the other
    side sends no SIGHUP: the app used to spin on end-of-file forever."""
    project.write("pipeline.py", PIPELINE)
    term = Terminal(project.root)
    try:
        term.wait_for(b"stale")
        os.close(term.master)
        code = term.proc.wait(timeout=30)
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert code == 129


def test_keys_typed_right_after_slash_go_into_the_filter(project: TempProject) -> None:
    """`/` and the next keys arrive in one read (a fast typist, a paste): the box used to get
    focus only after them, so they were lost."""
    project.write("pipeline.py", PIPELINE)
    term = Terminal(project.root)
    try:
        term.wait_for(b"stale")
        term.send("/sec")
        term.wait_for(b"1/2 match 'sec'")
        term.send("\x1b")  # Esc clears the filter and leaves the box...
        term.read(0.5)
        term.send("q")  # ...so q quits instead of being typed
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
