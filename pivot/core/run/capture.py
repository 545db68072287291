"""Send a stage's output to its log file, in the order it was written, stderr tagged.

Design (and its trade-off):

- File descriptors 1 and 2 both point at the one log file (``O_APPEND``). Everything the
  stage's process and its subprocesses write is captured, survives a worker crash (the
  bytes are on disk as soon as written, ``faulthandler`` output included) and needs no
  relay thread.
- ``sys.stderr`` is replaced by :class:`MarkedStderr` for the stage. It writes
  :data:`~pivot.core.run.terminal.STDERR_MARK` before each piece of text so readers can flag
  those lines, flushes ``sys.stdout`` first and itself right after, so Python-level writes
  (print, logging, warnings, tracebacks) reach the file in exactly the order the stage made
  them.
- The price: what subprocesses and C code write to descriptor 2 is captured but not tagged
  (it shows as ordinary output). Tagging it would need descriptor 2 on a pipe read by a relay
  thread: the order against stdout would then be a guess, and output written just before a
  crash would be lost with the thread.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from pivot.core.run.terminal import STDERR_MARK

_LINE_START = re.compile(r"^(?=[^\n])", re.MULTILINE)


class MarkedStderr(io.TextIOBase):
    """``sys.stderr`` during a stage: tags what it writes while :attr:`active`.

    One instance per process stays in place for the process's life (a logging handler
    created during one stage keeps its stream for the next); outside a stage it passes
    text through untagged.
    """

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self.active = False

    def write(self, text: str) -> int:
        if not self.active or not text:
            return self.target.write(text)
        stdout = sys.stdout
        if stdout is not None and stdout is not self:
            with contextlib.suppress(Exception):
                stdout.flush()
        tagged = _LINE_START.sub(STDERR_MARK, text) if "\n" in text else STDERR_MARK + text
        self.target.write(tagged)
        self.target.flush()
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def fileno(self) -> int:
        return self.target.fileno()

    def isatty(self) -> bool:
        return self.target.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.target.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.target.errors

    @property
    def buffer(self) -> Any:
        """The raw stream underneath: bytes written here are not tagged."""
        return self.target.buffer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


_marked: MarkedStderr | None = None


@contextlib.contextmanager
def captured_output(log_path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 at the stage's log file and tag ``sys.stderr``."""
    global _marked
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = (os.dup(1), os.dup(2))
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    previous = sys.stderr
    for stream in (sys.stdout, previous):
        with contextlib.suppress(Exception):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if previous is not None and previous is not _marked:
        if _marked is None or _marked.target is not previous:
            _marked = MarkedStderr(previous)
        sys.stderr = _marked
    if _marked is not None and sys.stderr is _marked:
        _marked.active = True
    try:
        yield
    finally:
        if _marked is not None:
            _marked.active = False
        sys.stderr = previous
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
