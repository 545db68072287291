"""The executor contract.

An executor runs :func:`pivot.core.run.worker.execute_stage` for a :class:`StageTask` somewhere
else (a local process pool, a cluster) and hands back a future of the :class:`StageOutcome`.

- ``submit`` never blocks for long; the engine only submits when ``capacity`` allows.
- A future whose worker died resolves with :class:`WorkerLost` (or the pool's own
  ``BrokenExecutor``); the engine decides whether that stage is to blame.
- ``kill`` stops every running stage now (cancellation); the executor stays usable after.
- ``restart`` drops warm workers so no stale user code stays loaded.
"""

from __future__ import annotations

import abc
from concurrent.futures import Future
from pathlib import Path

from pivot.core.run.worker import StageOutcome, StageTask


class Executor(abc.ABC):
    #: A dead worker fails only the future it was running (Dask), rather than every future of
    #: the pool (loky), so the engine need not isolate the culprit.
    isolates_failures: bool = False
    #: Workers may see different code than the coordinator: have them check the code manifest.
    verifies_code: bool = False
    #: Workers do not see the workspace: the engine lists each task's inputs (``StageTask.inputs``)
    #: so the executor can ship them.
    ships_data: bool = False

    #: Why ``capacity`` is lower than the CPU count (memory), said at the start of a run.
    jobs_note: str | None = None

    def preload(self, root: Path) -> None:  # noqa: B027 - optional hook, no-op by default
        """Have the workers import ``root``'s pipeline now, while the engine plans (a hint:
        nothing waits for it, and a failure shows up where the stage runs)."""

    @property
    @abc.abstractmethod
    def capacity(self) -> int:
        """How many stages may run at once."""

    @abc.abstractmethod
    def submit(self, task: StageTask) -> Future[StageOutcome]: ...

    @abc.abstractmethod
    def kill(self) -> None: ...

    @abc.abstractmethod
    def restart(self) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release resources at the end of the process (workers may be kept warm until then)."""
