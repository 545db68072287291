"""A stage's stdout and stderr share one log file in the order the stage wrote them, stderr
tagged, even when stdout is buffered (loky workers run unbuffered; other hosts may not)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from pivot.core.run.capture import MarkedStderr, captured_output
from pivot.core.run.logs import read_log


def test_python_level_order_is_kept_with_buffered_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "stage.log"
    with open(log, "a", encoding="utf-8") as out, open(log, "a", encoding="utf-8") as err:
        monkeypatch.setattr(sys, "stdout", out)  # block-buffered text files, like a pipe
        monkeypatch.setattr(sys, "stderr", err)
        with captured_output(log):
            print("partial stdout ", end="")
            print("then stderr", file=sys.stderr)
            print("from print")
            logging.getLogger("capture-test").addHandler(handler := logging.StreamHandler())
            try:
                logging.getLogger("capture-test").warning("from logging")
            finally:
                logging.getLogger("capture-test").removeHandler(handler)
            print("last")
        assert sys.stderr is err  # given back after the stage
    assert read_log(log) == [
        ("partial stdout then stderr", True),
        ("from print", False),
        ("from logging", True),
        ("last", False),
    ]


def test_handler_kept_from_an_earlier_stage_still_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A logging handler made during one stage holds that stage's ``sys.stderr``; in the next
    stage of the same worker its lines are still tagged, and untagged outside a stage."""
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    with open(2, "w", encoding="utf-8", closefd=False) as fd2:  # what a worker's stderr is
        monkeypatch.setattr(sys, "stderr", fd2)
        with captured_output(first):
            stream = sys.stderr
            assert isinstance(stream, MarkedStderr)
        with captured_output(second):
            stream.write("late warning\n")
        stream.write("between stages\n")
        stream.flush()
    assert read_log(second) == [("late warning", True)]
    assert capfd.readouterr().err == "between stages\n"
