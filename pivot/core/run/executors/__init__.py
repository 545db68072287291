"""Where stages run. The engine talks to an :class:`Executor`; see ``base.py`` for the contract."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pivot.core.run.executors.base import Executor
from pivot.core.run.executors.local import LocalExecutor
from pivot.exceptions import WorkerLost

if TYPE_CHECKING:
    from pivot.core.remote import RemoteLocation

__all__ = ["Executor", "LocalExecutor", "WorkerLost", "make_executor"]


def make_executor(
    root: Path, kind: str | None = None, scheduler: str | None = None, jobs: int | None = None
) -> Executor:
    """The executor asked for on the command line, else the one in config (default: local)."""
    from pivot.core.config_files import any_config_file

    remote: tuple[Path, RemoteLocation] | None = None
    if kind != "local" and any_config_file(root):
        from pivot.core.config import load_config

        config = load_config(root)
        kind = kind or config.executor.kind
        scheduler = scheduler or config.executor.scheduler
        if kind == "dask" and config.executor.transport == "remote":
            from pivot.core.remote import resolve_remote

            remote = (root, resolve_remote(config, None, root=root))
    if kind == "dask":
        from pivot.core.run.executors.dask import DaskExecutor

        return DaskExecutor(scheduler, jobs, remote=remote)
    return LocalExecutor(jobs, root)
