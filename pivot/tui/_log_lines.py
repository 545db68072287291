"""Log lines as the Logs tab keeps them (no Textual here: tested without a UI)."""

from __future__ import annotations

import time
from typing import NamedTuple

from rich.cells import cell_len

from pivot.core.project import Project
from pivot.core.run.events import StageLog, StageLogPending
from pivot.core.run.logs import read_log
from pivot.core.run.terminal import strip_sgr


class LogEntry(NamedTuple):
    """One line of a stage's output in the Logs tab (a tuple: tens of thousands are made
    a second while stages print, and a frozen dataclass costs ten times more to build)."""

    #: As a terminal shows it in the end, SGR colour codes kept (see core/run/terminal.py).
    text: str
    stderr: bool = False
    #: When the line reached Pivot (None: read back from a previous run's file).
    time: float | None = None
    #: The line the stage is still writing (a progress bar): the next line replaces it.
    partial: bool = False

    @property
    def plain(self) -> str:
        return strip_sgr(self.text)

    @property
    def width(self) -> int:
        """Cells the text takes (cheap for the usual ASCII line)."""
        text = self.plain
        if "\t" in text:
            text = text.expandtabs()
        return len(text) if text.isascii() else cell_len(text)


def entry_from_event(event: StageLog | StageLogPending) -> LogEntry:
    return LogEntry(
        event.line, event.stderr, event.time, partial=isinstance(event, StageLogPending)
    )


def format_time(seconds: float | None) -> str:
    """``HH:MM:SS.mmm`` local time; blanks when the time is not known."""
    if seconds is None:
        return " " * 12
    whole = time.localtime(seconds)
    return time.strftime("%H:%M:%S", whole) + f".{int(seconds % 1 * 1000):03d}"


def previous_log(project: Project, stage: str, *, limit: int = 200_000) -> list[LogEntry] | None:
    """The stage's log from the most recent run that has one, or None."""
    logs = project.logs_dir
    try:
        runs = sorted((p for p in logs.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    except OSError:
        return None
    for run in runs[:50]:
        path = run / f"{stage}.log"
        if path.is_file():
            try:
                lines = read_log(path, limit=limit)
            except OSError:
                return None
            return [LogEntry(text, stderr) for text, stderr in lines]
    return None
