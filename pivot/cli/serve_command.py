"""``pivot serve``: the engine on a control socket, until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pivot.cli._context import CliContext

if TYPE_CHECKING:
    from pivot.core.project import Project

pass_cli = click.make_pass_decorator(CliContext)


def socket_path(project: Project, given: str | None) -> Path:
    """``--socket`` as an absolute path, else ``.pivot/serve.sock``."""
    return Path(given).absolute() if given else project.paths.serve_socket


class StopSignals:
    """Turns SIGINT and SIGTERM into a call of ``on_stop`` (and remembers which came)."""

    def __init__(self, on_stop: Any) -> None:
        self.on_stop = on_stop
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signal.Signals(signum).name
        self.on_stop()

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@click.command()
@click.option(
    "--socket",
    "given_socket",
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Where to listen (default: .pivot/serve.sock in the project).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Stages to run at once (default: as `pivot run` decides).",
)
@pass_cli
def serve(cli: CliContext, given_socket: str | None, jobs: int | None) -> None:
    """Serve the engine on a Unix socket, for editors, notebooks and agents.

    Clients speak JSON-RPC 2.0, one message per line: run, cancel, status, explain, stage,
    params, data_diff, events (since a cursor) and subscribe (the events of `run --json`,
    pushed). One run at a time; queries are answered while it runs. The socket is mode 0600:
    only you can connect. Stop with Ctrl-C or SIGTERM (a run in progress is cancelled and
    the socket removed). Protocol: docs/events.md, "Control socket".

    \b
    Examples:
      pivot serve
      pivot serve --socket /tmp/pivot-me.sock
      pivot run --watch --serve       # watch mode that also serves
    """
    from pivot.core.run.engine import Engine
    from pivot.core.run.executors import make_executor
    from pivot.core.serve import ControlServer

    project = cli.project()
    path = socket_path(project, given_socket)
    engine = Engine(project, make_executor(project.root, None, None, jobs))
    server = ControlServer(path, engine)
    stop = threading.Event()
    with StopSignals(stop.set) as signals:
        try:
            server.start()
            click.echo(f"pivot serve: listening on {path} (Ctrl-C to stop)", err=True)
            while not stop.wait(0.5):
                pass
        finally:
            server.close(signals.received or "SIGTERM")
            engine.close()
    click.echo("pivot serve: stopped", err=True)


COMMANDS: list[click.Command] = [serve]
