"""Stage logs: workers write them to ``.pivot/logs/<run>/<stage>.log``; the engine tails them."""

from __future__ import annotations

from pathlib import Path

#: A line longer than this is split, so one runaway line cannot exhaust memory.
MAX_LINE = 64 * 1024


class LogTail:
    """Reads complete lines appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read_lines(self, *, final: bool = False) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if (final and self._partial) or len(self._partial) > MAX_LINE:
            lines.append(self._partial)
            self._partial = b""
        return [line.rstrip(b"\r").decode("utf-8", errors="replace") for line in lines]
