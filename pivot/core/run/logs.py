"""Stage logs: workers write them to ``.pivot/logs/<run>/<stage>.log``; the engine tails them.

A log file holds what the stage wrote, as a terminal would have received it: text, ``\\r``
progress frames, colour codes, and the worker's :data:`~pivot.core.run.terminal.STDERR_MARK`
before what came from ``sys.stderr``. Reading it gives :data:`LogLine` s: each line as a
terminal would finally show it, with a flag for stderr.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Callable
from pathlib import Path

from pivot.core.run.terminal import SGR, TerminalLine

#: A line longer than this (in cells) is split, so one runaway line cannot exhaust memory.
MAX_LINE = 64 * 1024
#: A chunk of text without any control character but newlines needs no replay at all.
_PLAIN_CHUNK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: The line being written (a progress bar) is reported at most this often (seconds).
PENDING_INTERVAL = 0.1


#: One line of a stage's output: ``(text, stderr)``, the text with its SGR colour codes kept,
#: and whether the stage wrote (part of) it to stderr. A bare tuple: one is made per line a
#: stage prints, and a named tuple or dataclass costs several times more to build.
LogLine = tuple[str, bool]


class LogTail:
    """Reads the lines appended to a log file since the last call.

    Complete lines come from :meth:`read_lines`; the line still being written (no newline
    yet, e.g. a progress bar redrawn with ``\\r``) from :meth:`pending`, at most every
    :data:`PENDING_INTERVAL` and only when it changed.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._offset = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line = TerminalLine()
        self._clock = clock
        self._changed = False
        self._reported = float("-inf")

    def read_lines(self, *, final: bool = False) -> list[LogLine]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        lines = self.feed(self._decoder.decode(data, final=final))
        if final and not self._line.empty:
            lines.append(self._finish())
        return lines

    def feed(self, text: str) -> list[LogLine]:
        """The lines ``text`` completes (the rest waits for its newline)."""
        pieces = text.split("\n")
        last = pieces.pop()
        lines: list[LogLine] = []
        if (
            self._line.empty
            and _shows_as_is(text)
            and (len(text) <= MAX_LINE or max(map(len, pieces), default=0) <= MAX_LINE)
        ):
            lines = [(piece, False) for piece in pieces]  # the common case: no replay needed
            pieces = []
        for piece in pieces:
            if self._line.empty and len(piece) <= MAX_LINE and _shows_as_is(piece):
                lines.append((piece, False))
                continue
            self._feed(piece, lines)
            lines.append(self._finish())
        if last:
            self._feed(last, lines)
            self._changed = True
        return lines

    def pending(self) -> LogLine | None:
        """The line being written, if it changed since last reported and is due again."""
        if not self._changed or self._line.empty:
            return None
        now = self._clock()
        if now - self._reported < PENDING_INTERVAL:
            return None
        self._reported = now
        self._changed = False
        text, stderr = self._line.render()
        return (text, stderr) if text else None

    def _feed(self, text: str, lines: list[LogLine]) -> None:
        for start in range(0, len(text), MAX_LINE):
            self._line.feed(text[start : start + MAX_LINE])
            if len(self._line) >= MAX_LINE:
                lines.append(self._finish())

    def _finish(self) -> LogLine:
        self._changed = False
        return self._line.finish()


def _shows_as_is(text: str) -> bool:
    """True when ``text`` needs no replay: no control characters but newlines and SGR codes."""
    if _PLAIN_CHUNK.search(text) is None:
        return True
    return "\r" not in text and _PLAIN_CHUNK.search(SGR.sub("", text)) is None


def read_log(path: Path, *, limit: int | None = None) -> list[LogLine]:
    """The lines of a whole log file (the last ``limit`` of them)."""
    lines = LogTail(path).read_lines(final=True)
    return lines[-limit:] if limit else lines
