"""Where stages run. The engine talks to an :class:`Executor`; see ``base.py`` for the contract."""

from __future__ import annotations

from pathlib import Path

from pivot.core.executors.base import Executor, WorkerLost
from pivot.core.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "WorkerLost", "make_executor"]


def make_executor(
    root: Path, kind: str | None = None, scheduler: str | None = None, jobs: int | None = None
) -> Executor:
    """The executor asked for on the command line, else the one in config (default: local)."""
    from pivot.core.config_files import any_config_file

    if (kind is None or (kind == "dask" and scheduler is None)) and any_config_file(root):
        from pivot.core.config import load_config

        config = load_config(root).executor
        kind = kind or config.kind
        scheduler = scheduler or config.scheduler
    if kind == "dask":
        from pivot.core.executors.dask import DaskExecutor

        return DaskExecutor(scheduler, jobs)
    return LocalExecutor(jobs)
