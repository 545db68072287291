"""Tailing a stage's log file: lines as a terminal would finally show them, stderr flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from pivot.core.run.events import StageLog
from pivot.core.run.logs import MAX_LINE, LogTail, read_log
from pivot.core.run.terminal import STDERR_MARK, TerminalLine, strip_sgr


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def append(path: Path, data: bytes | str) -> None:
    with open(path, "ab") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


def frames(n: int) -> str:
    """What tqdm writes: a frame per update, each starting with \\r, no newline until done."""
    return "".join(f"\r{i * 100 // n:3d}%|{'#' * (i * 10 // n):<10}| {i}/{n}" for i in range(n + 1))


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "stage.log"


def test_carriage_return_frames_become_the_final_frame(log: Path) -> None:
    append(log, f"before\n{frames(50)}\nafter\n")
    assert read_log(log) == [
        ("before", False),
        ("100%|##########| 50/50", False),
        ("after", False),
    ]


def test_shorter_frame_overwrites_only_the_start_of_the_line() -> None:
    line = TerminalLine()
    line.feed("downloading 100 files\rdone")
    assert line.render() == ("doneloading 100 files", False)


def test_progress_line_is_reported_in_place_while_written(log: Path) -> None:
    clock = Clock()
    tail = LogTail(log, clock=clock)
    append(log, "\r  0%|     | 0/4")
    assert tail.read_lines() == []
    assert tail.pending() == ("  0%|     | 0/4", False)
    assert tail.pending() is None  # unchanged: nothing new to report
    append(log, "\r 25%|#    | 1/4")
    tail.read_lines()
    assert tail.pending() is None  # changed, but reported less than 0.1 s ago
    clock.now += 0.1
    assert tail.pending() == (" 25%|#    | 1/4", False)
    append(log, "\r 50%|##   | 2/4\r100%|#####| 4/4\n")
    assert tail.read_lines() == [("100%|#####| 4/4", False)]
    clock.now += 1
    assert tail.pending() is None  # the line is finished: no pending line left


def test_stderr_mark_flags_the_line_and_is_invisible(log: Path) -> None:
    append(log, f"out\n{STDERR_MARK}err 1\n{STDERR_MARK}err 2\nout {STDERR_MARK}and err\n")
    assert read_log(log) == [
        ("out", False),
        ("err 1", True),
        ("err 2", True),
        ("out and err", True),
    ]


def test_colour_codes_are_kept_and_other_escapes_dropped(log: Path) -> None:
    append(
        log,
        "\x1b[31mred\x1b[0m plain \x1b[1;32mbold green\x1b[0m\n"
        "\x1b[2J\x1b[Hcleared?\x1b[3A up\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x07\n",
    )
    (red, _), (moved, _) = read_log(log)
    assert red == "\x1b[31mred\x1b[0m plain \x1b[1;32mbold green\x1b[0m"
    assert strip_sgr(red) == "red plain bold green"
    assert moved == "cleared? uplink"


def test_colour_survives_carriage_return_overwrites() -> None:
    line = TerminalLine()
    line.feed("\x1b[33mwaiting....\x1b[0m\r\x1b[32mok\x1b[0m")
    text, _ = line.render()
    assert strip_sgr(text) == "okiting...."
    assert text == "\x1b[32mok\x1b[0m\x1b[33miting....\x1b[0m"


def test_erase_line_clears_what_was_there() -> None:
    line = TerminalLine()
    line.feed("a long progress message\r\x1b[2Kshort")
    assert line.render() == ("short", False)


def test_escape_and_utf8_split_across_reads(log: Path) -> None:
    tail = LogTail(log)
    append(log, b"\x1b[3")
    assert tail.read_lines() == []
    append(log, "1mr\u00e9".encode()[:-1])  # the é cut in half
    assert tail.read_lines() == []
    append(log, "1mr\u00e9".encode()[-1:] + b"d\x1b[0m\n")
    assert tail.read_lines() == [("\x1b[31mr\u00e9d\x1b[0m", False)]


def test_endless_progress_line_stays_one_line(log: Path) -> None:
    """Megabytes of frames without a newline: memory stays bounded, no garbage lines."""
    tail = LogTail(log)
    produced = []
    for _ in range(20):
        append(log, frames(2000))
        produced += tail.read_lines()
    assert produced == []
    assert tail.read_lines(final=True) == [("100%|##########| 2000/2000", False)]


def test_runaway_line_is_split(log: Path) -> None:
    append(log, "x" * (MAX_LINE * 2 + 5) + "\n")
    assert [len(text) for text, _ in read_log(log)] == [MAX_LINE, MAX_LINE, 5]


def test_last_line_without_newline_is_read_at_the_end(log: Path) -> None:
    append(log, "one\ntwo")
    tail = LogTail(log)
    assert tail.read_lines() == [("one", False)]
    assert tail.read_lines(final=True) == [("two", False)]


def test_json_form_of_a_log_event_has_no_escapes() -> None:
    event = StageLog(run_id="r", stage="s", line="\x1b[31mred\x1b[0m", stderr=True)
    data = event.to_dict()
    assert data["line"] == "red" and data["stderr"] is True
