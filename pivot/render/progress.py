"""The transfer progress bar that ``push``, ``fetch`` and ``pull`` draw on a terminal.

The transfer code reports :class:`~pivot.core.remote.TransferProgress` snapshots to a
callback and never prints; :class:`ConsoleProgress` is the callback the CLI hands it.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from pivot.core.remote import Phase, TransferProgress
from pivot.render.counts import plural

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["ConsoleProgress"]


class ConsoleProgress:
    """A rich progress bar (files and bytes) on stderr, for use as a callback::

        with ConsoleProgress("push") as progress:
            push(project, progress=progress)

    Only use it when stderr is a terminal; it draws nothing after the ``with`` block ends.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ConsoleProgress:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]}"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(f"{self.label}: checking remote", total=None, files="")
        return self

    def __call__(self, snapshot: TransferProgress) -> None:
        if self._progress is None or self._task is None:
            return
        if snapshot.phase is Phase.CHECKING:
            return
        self._progress.update(
            self._task,
            description=self.label,
            total=snapshot.bytes_total or None,  # 0: not known before the files arrive
            completed=snapshot.bytes_done,
            files=f"{snapshot.files_done}/{plural(snapshot.files_total, 'file')}",
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
