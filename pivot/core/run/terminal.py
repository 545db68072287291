"""What a terminal would show for one line of a stage's output (UI-free: no rich here).

Stages draw progress bars as frames separated by ``\\r`` (tqdm), colour text with SGR escapes
and sometimes move the cursor or erase the line. :class:`TerminalLine` replays a line's text
the way a terminal would and gives back what is left on screen: the text with its SGR colour
codes kept (every consumer can show or strip them) and every other escape gone, so no cursor
movement reaches a log view. It also notices :data:`STDERR_MARK`, the invisible tag the worker
puts in front of what a stage writes to ``sys.stderr``.

Simplifications, on purpose: one code point is one cell (wide characters are rare in logs),
only cursor movement within the line is followed (``\\r``, backspace, tab, CSI ``C``/``D``/
``G``, erase ``K``); cursor up/down and screen erases are dropped.
"""

from __future__ import annotations

import itertools
import re

#: The worker writes this in front of each piece of text a stage writes to ``sys.stderr``.
#: An OSC sequence: terminals ignore it, so ``cat`` on a log file shows plain text.
STDERR_MARK = "\x1b]7501;pivot-stderr\x07"
_STDERR_PAYLOAD = "7501;pivot-stderr"

#: An SGR (colour/style) escape sequence.
SGR = re.compile(r"\x1b\[[0-9;:]*m")
_TOKEN = re.compile(
    r"(?P<text>[^\x00-\x1f\x7f]+)"
    r"|\x1b\[(?P<params>[0-?]*)[ -/]*(?P<final>[@-~])"
    r"|\x1b\](?P<osc>[^\x07\x1b]*)(?:\x07|\x1b\\)"
    r"|\x1b[@-Z\\-_]"
    r"|(?P<ctl>[\x00-\x1f\x7f])"
)
#: The start of an escape sequence cut off at the end of a chunk (the rest comes later).
_UNFINISHED = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?)?")
#: An unfinished escape longer than this is garbage, not a sequence still arriving.
_MAX_CARRY = 4096
_TAB = 8
#: SGR codes remembered for the current style; older ones are forgotten (a stage that
#: sets a colour on every frame without resetting must not grow the style forever).
_MAX_SGR = 8


def strip_sgr(text: str) -> str:
    """``text`` (as :class:`TerminalLine` renders it) without its colour codes."""
    if "\x1b" not in text:
        return text
    return SGR.sub("", text)


class TerminalLine:
    """One line of terminal output, built from chunks of text as they arrive."""

    __slots__ = ("_carry", "_cells", "_cursor", "_sgr", "_style", "_styles", "stderr")

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cells: list[str] = []
        self._styles: list[str] = []
        self._cursor = 0
        self._sgr: tuple[str, ...] = ()
        self._style = ""
        self._carry = ""
        self.stderr = False

    def __len__(self) -> int:
        return len(self._cells)

    @property
    def empty(self) -> bool:
        return not self._cells and not self._carry and not self.stderr

    def feed(self, chunk: str) -> None:
        """Apply ``chunk`` (no newline in it) to the line."""
        if self._carry:
            chunk, self._carry = self._carry + chunk, ""
        start = chunk.rfind("\x1b")
        if start != -1 and _UNFINISHED.fullmatch(chunk, start) and len(chunk) - start < _MAX_CARRY:
            chunk, self._carry = chunk[:start], chunk[start:]
        for match in _TOKEN.finditer(chunk):
            text = match.group("text")
            if text is not None:
                self._write(text)
                continue
            final = match.group("final")
            if final is not None:
                self._csi(match.group("params"), final, match.group(0))
                continue
            osc = match.group("osc")
            if osc is not None:
                if osc == _STDERR_PAYLOAD:
                    self.stderr = True
                continue
            ctl = match.group("ctl")
            if ctl == "\r":
                self._cursor = 0
            elif ctl == "\b":
                self._cursor = max(0, self._cursor - 1)
            elif ctl == "\t":
                self._move_to((self._cursor // _TAB + 1) * _TAB)
            # other controls and two-byte escapes: nothing on screen

    def finish(self) -> tuple[str, bool]:
        """The line as shown (SGR codes kept) and whether stderr wrote to it; then reset."""
        result = self.render()
        self._reset()
        return result

    def render(self) -> tuple[str, bool]:
        """The line as it is on screen now, and whether stderr wrote to it."""
        cells, styles = self._cells, self._styles
        end = len(cells)
        while end and cells[end - 1] == " " and not styles[end - 1]:
            end -= 1  # erased (or trailing blank) cells are not part of the text
        if not any(styles[:end]):
            return "".join(cells[:end]), self.stderr
        out: list[str] = []
        position = 0
        previous = ""
        for style, group in itertools.groupby(styles[:end]):
            count = sum(1 for _ in group)
            if style != previous:
                out.append(("\x1b[0m" if previous else "") + style)
                previous = style
            out.append("".join(cells[position : position + count]))
            position += count
        if previous:
            out.append("\x1b[0m")
        return "".join(out), self.stderr

    # -- the screen ----------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        cursor = self._cursor
        if cursor > len(self._cells):
            self._pad(cursor)
        end = cursor + len(text)
        self._cells[cursor:end] = text
        self._styles[cursor:end] = [self._style] * len(text)
        self._cursor = end

    def _pad(self, width: int) -> None:
        missing = width - len(self._cells)
        self._cells.extend(" " * missing)
        self._styles.extend([""] * missing)

    def _move_to(self, column: int) -> None:
        self._cursor = max(0, column)

    def _csi(self, params: str, final: str, sequence: str) -> None:
        if final == "m":
            first = params.split(";", 1)[0]
            if first in ("", "0"):
                self._sgr = (sequence,) if params not in ("", "0") else ()
            elif not self._sgr or self._sgr[-1] != sequence:
                self._sgr = (*self._sgr, sequence)[-_MAX_SGR:]
            self._style = "".join(self._sgr)
            return
        number = int(params) if params.isdigit() else 0
        if final == "K":  # erase in line: 0 cursor to end, 1 start to cursor, 2 all
            if number == 0:
                del self._cells[self._cursor :]
                del self._styles[self._cursor :]
            elif number == 1:
                upto = min(self._cursor + 1, len(self._cells))
                self._cells[:upto] = " " * upto
                self._styles[:upto] = [""] * upto
            elif number == 2:
                self._cells = [" "] * len(self._cells)
                self._styles = [""] * len(self._cells)
        elif final == "G":  # cursor to column (1-based)
            self._move_to(max(number, 1) - 1)
        elif final == "C":
            self._move_to(self._cursor + max(number, 1))
        elif final == "D":
            self._move_to(self._cursor - max(number, 1))
        # anything else (cursor up/down, screen erase, modes): dropped
