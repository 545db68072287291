"""Where stages run. The engine talks to an :class:`Executor`; see ``base.py`` for the contract."""

from pivot.core.executors.base import Executor, WorkerLost
from pivot.core.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "WorkerLost"]
