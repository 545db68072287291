"""Statuses that refresh by themselves: a thread that notices edits while the app is idle.

Outside watch mode nothing runs on its own, but the stage list must not lie: when code,
params or data the pipeline reads change, the app re-plans (re-importing ``pipeline.py``
only when Python code or ``pivot.yaml`` changed). The thread only reports changed paths;
the app decides whether to re-plan (never during a run: the run re-plans when it ends).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from pivot.core.run.watch import IgnoreRules

#: Edits closer together than this (ms) are one change.
DEBOUNCE_MS = 300


def needs_reload(paths: list[str]) -> bool:
    """True when ``pipeline.py`` must be imported again to plan these changes."""
    return any(p.endswith((".py", "pivot.yaml", "pivot.yml")) for p in paths)


class ChangeFeed:
    """Calls ``on_change`` (from its own thread) with project-relative paths that changed."""

    def __init__(self, root: Path, on_change: Callable[[list[str]], object]) -> None:
        self.root = root.resolve()
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="pivot-autorefresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        try:
            import watchfiles
        except ImportError:  # pragma: no cover - watchfiles is a dependency
            return
        ignore = IgnoreRules(self.root)
        try:
            for changes in watchfiles.watch(
                self.root,
                watch_filter=None,
                debounce=DEBOUNCE_MS,
                stop_event=self._stop,
                rust_timeout=500,
                yield_on_timeout=False,
                raise_interrupt=False,
            ):
                paths = sorted(
                    {rel for _, full in changes if (rel := self._relative(full)) is not None}
                )
                if any(p == ".pivotignore" for p in paths):
                    ignore = IgnoreRules(self.root)
                relevant = [p for p in paths if not ignore.ignored(p)]
                if relevant and not self._stop.is_set():
                    self.on_change(relevant)
        except OSError:  # the project folder went away, or too many watches: no auto refresh
            return

    def _relative(self, full: str) -> str | None:
        try:
            return Path(full).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None
