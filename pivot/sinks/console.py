"""Human output for runs: a line per finished stage, a summary, and in a terminal a live
panel of running stages with a progress bar for the whole run."""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

from pivot.core.run.events import (
    Event,
    FilesChanged,
    Message,
    RunFinished,
    RunStarted,
    StageFinished,
    StageLog,
    StageQueued,
    StageStarted,
    StageStatus,
    StageWaiting,
    WatchCycle,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.progress import Progress, TaskID

STYLE = {
    StageStatus.RAN: ("✓", "green", "ran"),
    StageStatus.SKIPPED: ("·", "dim", "skipped"),
    StageStatus.RESTORED: ("↺", "cyan", "restored"),
    StageStatus.FAILED: ("✗", "bold red", "failed"),
    StageStatus.BLOCKED: ("-", "yellow", "blocked"),
    StageStatus.CANCELLED: ("!", "yellow", "cancelled"),
}

#: A queued stage that waits for a resource (events.StageWaiting).
WAITING_STYLE = ("⧗", "blue", "waiting")

#: What a dry run says of each stage: (style, words), in the listing and in the summary.
DRY_STYLE = {
    StageStatus.RAN: ("bold", "would run"),
    StageStatus.SKIPPED: ("dim", "up to date"),
    StageStatus.RESTORED: ("dim", "would restore"),
    StageStatus.FAILED: ("bold red", "cannot run"),
    StageStatus.BLOCKED: ("yellow", "blocked"),
    StageStatus.CANCELLED: ("yellow", "cancelled"),
}
_DRY_WIDTH = max(len(words) for _, words in DRY_STYLE.values())


class ConsoleSink:
    """Rich console output; degrades to plain lines when not attached to a terminal.

    Without a ``console`` it writes plain lines to ``stream`` (default stdout) and imports
    rich only if an event needs it (a failure's error text, stage output, a watch rule): a
    no-op run for a script never pays for rich.
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        stream: IO[str] | None = None,
        show_output: bool = False,
        quiet: bool = False,
        live: bool | None = None,
    ) -> None:
        self._console = console
        self.stream: IO[str] = console.file if console is not None else (stream or sys.stdout)
        self.terminal = console.is_terminal if console is not None else False
        self.show_output = show_output
        self.quiet = quiet
        self.live_enabled = self.terminal if live is None else live
        self._live: Live | None = None
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._running: dict[str, TaskID] = {}
        self._width = 12
        self._dry = False

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.stream, highlight=False, soft_wrap=True, no_color=True
            )
        return self._console

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._start(event)
        elif isinstance(event, StageQueued):
            if self._dry:
                self._dry_line(StageStatus.RAN, event.stage, event.reason)
        elif isinstance(event, StageWaiting):
            self._waiting(event)
        elif isinstance(event, StageStarted):
            if self._progress is not None:
                task = self._running.get(event.stage)
                if task is None:
                    self._running[event.stage] = self._progress.add_task(
                        f"  [cyan]{event.stage}", total=None
                    )
                else:
                    self._progress.update(task, description=f"  [cyan]{event.stage}")
        elif isinstance(event, StageLog):
            if self.show_output:
                self._print_log(event)
        elif isinstance(event, StageFinished):
            self._finished(event)
        elif isinstance(event, Message):
            style = {"warning": "yellow", "error": "red"}.get(event.level, "dim")
            self.console.print(f"[{style}]{event.text}[/]", highlight=False)
        elif isinstance(event, RunFinished):
            self._stop()
            self._summary(event)
        elif isinstance(event, WatchCycle):
            import datetime

            now = datetime.datetime.fromtimestamp(event.time).strftime("%H:%M:%S")
            trigger = ", ".join(event.trigger[:5]) + (" …" if len(event.trigger) > 5 else "")
            self.console.rule(f"[bold]cycle {event.cycle}[/] · {now} · {trigger}", style="dim")
        elif isinstance(event, FilesChanged) and event.restart:
            self.console.print("[yellow]change touches a running stage: restarting the run[/]")

    def _print_log(self, event: StageLog) -> None:
        """``stage| line`` with the stage's colours (plain when not a terminal); stderr lines
        get ``stage!`` in red."""
        from rich.text import Text

        gutter = Text(f"{event.stage}! ", style="red") if event.stderr else None
        gutter = gutter or Text(f"{event.stage}| ", style="dim")
        line = Text.from_ansi(event.line) if "\x1b" in event.line else Text(event.line)
        self.console.print(gutter + line, highlight=False, soft_wrap=True)

    def _start(self, event: RunStarted) -> None:
        self._dry = event.dry_run
        self._width = max([12, *(len(s) for s in event.stages)])
        if self.live_enabled and not event.dry_run and event.stages:
            from rich.live import Live
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._task = self._progress.add_task("[bold]pipeline", total=len(event.stages))
            self._live = Live(
                self._progress, console=self.console, refresh_per_second=10, transient=True
            )
            self._live.start()

    def _finished(self, event: StageFinished) -> None:
        if self._progress is not None:
            task = self._running.pop(event.stage, None)
            if task is not None:
                self._progress.remove_task(task)
            assert self._task is not None
            self._progress.advance(self._task)
        if self._dry:
            # "would run" was said when the stage was queued.
            if event.status is not StageStatus.RAN and not (
                self.quiet and event.status is StageStatus.SKIPPED
            ):
                self._dry_line(event.status, event.stage, event.reason)
            return
        if self.quiet and event.status in (StageStatus.SKIPPED,):
            return
        symbol, style, word = STYLE[event.status]
        seconds = (
            f"{event.duration:6.2f}s"
            if event.status in (StageStatus.RAN, StageStatus.FAILED)
            else "       "
        )
        if self.terminal:
            line = f"[{style}]{symbol} {word:<9}[/] {event.stage:<{self._width}} {seconds}  [dim]{event.reason}[/]"
            self.console.print(line, highlight=False)
        else:
            # Piped (CI, logs): plain text straight to the stream; rich's renderer costs ~1 ms
            # a line, which is most of a no-op run over hundreds of stages.
            stream = self.stream
            stream.write(
                f"{symbol} {word:<9} {event.stage:<{self._width}} {seconds}  {event.reason}\n"
            )
            if event.status is not StageStatus.SKIPPED:
                stream.flush()
        if (
            event.status is StageStatus.FAILED
            and event.error
            and event.error.strip() != event.reason
        ):
            from rich.text import Text

            self.console.print(Text(event.error.rstrip(), style="red"))

    def _waiting(self, event: StageWaiting) -> None:
        """A live row (terminal) or a line saying what the stage waits for."""
        symbol, style, word = WAITING_STYLE
        if self._progress is not None:
            from rich.markup import escape

            text = f"  [{style}]{escape(event.stage)} · {escape(event.reason)}"
            task = self._running.get(event.stage)
            if task is None:
                self._running[event.stage] = self._progress.add_task(text, total=None)
            else:
                self._progress.update(task, description=text)
            return
        if self.quiet:
            return
        line = f"{symbol} {word:<9} {event.stage:<{self._width}} {'':7}  {event.reason}"
        if self.terminal:
            from rich.markup import escape

            self.console.print(f"[{style}]{escape(line)}[/]", highlight=False)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def _dry_line(self, status: StageStatus, stage: str, reason: str) -> None:
        from rich.markup import escape

        style, words = DRY_STYLE[status]
        why = "" if reason == words else f"  [dim]{escape(reason)}[/]"
        self.console.print(
            f"[{style}]{words:<{_DRY_WIDTH}}[/] {escape(stage):<{self._width}}{why}",
            highlight=False,
        )

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
            self._progress = None

    def _summary(self, event: RunFinished) -> None:
        counts = event.counts
        words = {s: DRY_STYLE[s][1] if self._dry else STYLE[s][2] for s in StageStatus}
        parts = [f"{counts[str(s)]} {words[s]}" for s in StageStatus if counts.get(str(s), 0)]
        text = ", ".join(parts) or "nothing to do"
        if event.cancelled:
            style, head = "yellow", f"Cancelled ({event.cancelled})"
        elif self._dry:
            style, head = ("bold red" if event.exit_code else "bold green"), "Dry run"
        elif event.exit_code:
            style, head = "bold red", "Failed"
        else:
            style, head = "bold green", "Done"
        if self.terminal:
            self.console.print(
                f"[{style}]{head}:[/] {text} in {event.duration:.2f}s", highlight=False
            )
        else:
            self.stream.write(f"{head}: {text} in {event.duration:.2f}s\n")
            self.stream.flush()
